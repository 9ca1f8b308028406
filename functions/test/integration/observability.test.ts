/**
 * Observability through the real pipeline (Auth and Firestore emulators): a tenant callable's
 * span carries the tenant id (and nothing else about the tenant or user), its log lines carry
 * tenant, uid, function and the trace field, and the counters of this and other modules reach
 * the Prometheus `metrics` endpoint.
 */
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { z } from "zod";
// The health module is what loads the counters' HELP texts in every instance (see catalogue.ts).
import "../../src/health";
import { metrics as metricsEndpoint } from "../../src/observability/metrics";
import { installTracing } from "../../src/observability/tracing";
import { tenantCallable } from "../../src/platform/callable";
import { log } from "../../src/platform/logger";
import { setTracingBackend } from "../../src/platform/tracing-port";
import { getUploadUrl } from "../../src/storage";
import { setBucketFactory } from "../../src/storage/signer";
import { useThrowawaySigner } from "../support/storage";
import { callAs, callHttps, createTestUser, decode, seedTenant, type TestUser } from "../support/firebase";
import { captureLogs } from "../support/observability-logs";

jest.setTimeout(30_000);

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const exporter = new InMemorySpanExporter();
const lines = captureLogs();
let user: TestUser;
let tid: string;

/** A tenant callable with a transaction, standing in for any module's write. */
const touch = tenantCallable(
  {
    name: "obsTouch",
    description: "test only",
    input: z.strictObject({ note: z.string() }),
    permission: "tenant:read",
  },
  async ({ runTransaction, db, data }) => {
    log.info("touching", { noteLength: data.note.length });
    await runTransaction(async (tx) => {
      tx.set(db.doc("obs/touch"), { at: Date.now() });
    });
    return { ok: true };
  },
);

beforeAll(async () => {
  useThrowawaySigner();
  await installTracing({ exporter, samplePercent: 100, simple: true });
  user = await createTestUser();
  tid = await seedTenant({ owner: { user, roles: ["owner"] } }, { name: "Secret Corp Name" });
});

afterAll(() => {
  setTracingBackend(undefined);
  setBucketFactory(undefined);
});

beforeEach(() => {
  exporter.reset();
  lines.length = 0;
});

describe("spans of tenant functions", () => {
  it("carry the tenant id, function, outcome and duration, with a Firestore transaction child", async () => {
    await callAs(touch, user, { note: "hello" });
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === "obsTouch")!;
    const tx = spans.find((s) => s.name === "firestore.transaction")!;
    expect(server.attributes).toMatchObject({
      "saas.tenant_id": tid,
      "faas.name": "obsTouch",
      "saas.outcome": "ok",
    });
    expect(server.attributes["saas.duration_ms"]).toEqual(expect.any(Number));
    expect(tx.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(tx.spanContext().traceId).toBe(server.spanContext().traceId);
    // Only ids: no tenant name, uid, email or input on any span.
    const everything = JSON.stringify(spans.map((s) => s.attributes));
    for (const leak of ["Secret Corp Name", user.uid, user.email, "hello"]) expect(everything).not.toContain(leak);
  });

  it("record a refused call's error code as its outcome", async () => {
    const stranger = await createTestUser();
    await expect(callAs(touch, stranger, { note: "x" })).rejects.toThrow();
    const server = exporter.getFinishedSpans().find((s) => s.name === "obsTouch")!;
    expect(server.attributes["saas.outcome"]).toBe("failed-precondition"); // no active tenant
    expect(server.status.code).toBe(0); // a client error is not a server fault
  });

  it("continue the caller's trace for a callable and sign storage URLs in a child span", async () => {
    // The request a browser would send through a proxy that adds a W3C trace header.
    const token = await decode(user.idToken);
    await getUploadUrl.run({
      data: { contentType: "image/png", size: 10 },
      auth: { uid: token.uid, token, rawToken: user.idToken },
      rawRequest: {
        headers: { authorization: `Bearer ${user.idToken}`, traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` },
      },
      acceptsStreaming: false,
    } as unknown as Parameters<typeof getUploadUrl.run>[0]);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === "getUploadUrl")!;
    expect(server.spanContext().traceId).toBe(TRACE_ID);
    expect(server.attributes["saas.tenant_id"]).toBe(tid);
    expect(spans.find((s) => s.name === "storage.sign")!.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
  });
});

describe("log lines", () => {
  it("carry function, tenant, uid and the trace field of the invocation", async () => {
    await callAs(touch, user, { note: "hello" });
    const server = exporter.getFinishedSpans().find((s) => s.name === "obsTouch")!;
    const line = lines.find((l) => l.message === "touching")!;
    expect(line).toMatchObject({
      fn: "obsTouch",
      tenantId: tid,
      uid: user.uid,
      "logging.googleapis.com/trace": `projects/${process.env.GCLOUD_PROJECT}/traces/${server.spanContext().traceId}`,
      "logging.googleapis.com/spanId": server.spanContext().spanId,
    });
    expect(JSON.stringify(line)).not.toContain(user.idToken);
  });
});

describe("metrics endpoint", () => {
  it("exposes the tenant cache and storage counters summed across instances, with their HELP text", async () => {
    await callAs(touch, user, { note: "a" });
    await callAs(getUploadUrl, user, { contentType: "image/png", size: 10 });
    const res = await callHttps(metricsEndpoint, {
      method: "GET",
      headers: { authorization: `Bearer ${process.env.OPERATOR_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const text = res.text ?? "";
    expect(text).toMatch(/^tenant_cache_lookups_total\{outcome="(hit|miss)"\} [1-9]\d*$/m);
    expect(text).toMatch(/^storage_signed_urls_total\{action="upload",outcome="ok"\} [1-9]\d*$/m);
    expect(text).toContain("# HELP storage_signed_urls_total Signed storage URL requests");
    expect(text).toContain("# HELP tenant_cache_lookups_total Tenant/membership cache lookups");
  });
});
