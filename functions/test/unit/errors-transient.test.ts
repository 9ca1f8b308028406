/**
 * Transient Firestore failures reach clients as retryable codes, never `internal`: the errors
 * are built the way the Admin SDK's Firestore client builds them (google-gax `GoogleError` from
 * a gRPC status, with `grpc-status-details-bin` metadata decoded into `statusDetails`).
 */
import { GoogleError, grpc, Status } from "google-gax";
import * as protobuf from "protobufjs";
import { AppError, toHttpsError, transientDependencyError } from "../../src/platform/errors";
import { problem } from "../../src/platform/https";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const statusRoot = protobuf.Root.fromJSON(require("google-gax/build/protos/status.json"));

/** A gRPC error as grpc-js hands it to google-gax, optionally with a RetryInfo detail. */
function grpcError(code: Status, message: string, retryDelaySeconds?: number): GoogleError {
  const metadata = new grpc.Metadata();
  if (retryDelaySeconds !== undefined) {
    const RetryInfo = statusRoot.lookupType("google.rpc.RetryInfo");
    const StatusType = statusRoot.lookupType("google.rpc.Status");
    const detail = {
      type_url: "type.googleapis.com/google.rpc.RetryInfo",
      value: RetryInfo.encode(RetryInfo.create({ retryDelay: { seconds: retryDelaySeconds, nanos: 0 } })).finish(),
    };
    const status = StatusType.encode(StatusType.fromObject({ code, message, details: [detail] })).finish();
    metadata.set("grpc-status-details-bin", Buffer.from(status));
  }
  const error = new GoogleError(`${code} ${Status[code]}: ${message}`);
  error.code = code;
  error.metadata = metadata as unknown as GoogleError["metadata"];
  // grpc-js puts the status message in `details`.
  return GoogleError.parseGRPCStatusDetails(Object.assign(error, { details: message }));
}

describe("transient Firestore errors at the edge", () => {
  const cases: [Status, string, string, number][] = [
    [Status.ABORTED, "Too much contention on these documents.", "aborted", 1],
    [Status.DEADLINE_EXCEEDED, "Deadline exceeded after 60.0s", "unavailable", 5],
    [Status.UNAVAILABLE, "No connection established", "unavailable", 5],
    [Status.RESOURCE_EXHAUSTED, "Quota exceeded.", "unavailable", 30],
  ];

  it.each(cases)("gRPC %s becomes callable %s with retryAfterSeconds", (grpc, message, code, wait) => {
    const mapped = toHttpsError(grpcError(grpc, message));
    expect(mapped.code).toBe(code);
    expect(mapped.details).toMatchObject({ retryAfterSeconds: wait });
    // The driver's message never reaches the client.
    expect(mapped.message).not.toContain(message);
  });

  it.each(cases)("gRPC %s becomes HTTPS 503 with Retry-After", (grpc, message, code, wait) => {
    const result = problem(grpcError(grpc, message));
    expect(result.status).toBe(503);
    expect(result.headers).toMatchObject({ "Retry-After": String(wait) });
    expect(result.body).toMatchObject({ code, status: 503, retryAfterSeconds: wait });
    expect(JSON.stringify(result.body)).not.toContain(message);
  });

  it("uses the server's RetryInfo delay when the status carries one", () => {
    const error = grpcError(Status.RESOURCE_EXHAUSTED, "Quota exceeded.", 42);
    expect(Array.isArray(error.statusDetails)).toBe(true);
    expect(toHttpsError(error).details).toMatchObject({ retryAfterSeconds: 42 });
    expect(problem(error).headers).toMatchObject({ "Retry-After": "42" });
  });

  it("leaves other gRPC codes, plain errors and domain errors alone", () => {
    expect(toHttpsError(grpcError(Status.INTERNAL, "boom")).code).toBe("internal");
    expect(toHttpsError(grpcError(Status.PERMISSION_DENIED, "rules")).code).toBe("internal");
    expect(toHttpsError(Object.assign(new Error("socket"), { code: "ECONNRESET" })).code).toBe("internal");
    expect(transientDependencyError(new AppError("aborted", "in flight", { retryAfterSeconds: 3 }))).toBeUndefined();
    expect(problem(grpcError(Status.INTERNAL, "boom")).status).toBe(500);
  });
});
