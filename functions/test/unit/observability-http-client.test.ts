/**
 * Outgoing HTTP calls get OpenTelemetry client spans (http and undici instrumentations, loaded
 * with tracing), children of the invocation's span, redacted to method, status and error type.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { installTracing } from "../../src/observability/tracing";
import type { FunctionSpec } from "../../src/platform/spec";
import { setTracingBackend, traceInvocation } from "../../src/platform/tracing-port";

const exporter = new InMemorySpanExporter();
const spec: FunctionSpec = { kind: "callable", name: "httpProbe", description: "test", auth: "none", tenant: false };
let server: Server;
let url: string;

beforeAll(async () => {
  await installTracing({ exporter, samplePercent: 100, simple: true });
  server = createServer((_req, res) => res.writeHead(204).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/secret-path?token=abc`;
});

afterAll(async () => {
  setTracingBackend(undefined);
  await new Promise((r) => server.close(r));
});

beforeEach(() => exporter.reset());

const viaHttp = () =>
  new Promise<number>((resolve, reject) => {
    const req = request(url, { method: "POST" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end("{}");
  });

const clientSpans = () => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);

describe("outgoing HTTP client spans", () => {
  it.each([
    ["node:http", viaHttp, "@opentelemetry/instrumentation-http"],
    [
      "fetch",
      async () => (await fetch(url, { method: "POST", body: "{}" })).status,
      "@opentelemetry/instrumentation-undici",
    ],
  ])("records a %s call inside an invocation as a child span with method and status only", async (_, call, scope) => {
    expect(await traceInvocation(spec, {}, call)).toBe(204);
    const server = exporter.getFinishedSpans().find((s) => s.name === "httpProbe")!;
    const [client, ...more] = clientSpans();
    expect(more).toEqual([]);
    expect(client.instrumentationScope.name).toBe(scope);
    expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    const { attributes } = client;
    expect(attributes["http.response.status_code"] ?? attributes["http.status_code"]).toBe(204);
    expect(attributes["http.request.method"] ?? attributes["http.method"]).toBe("POST");
    const exported = JSON.stringify({ name: client.name, attributes, events: client.events, status: client.status });
    for (const leak of ["127.0.0.1", "secret-path", "token=abc", String(new URL(url).port)]) {
      expect(exported).not.toContain(leak);
    }
  });

  it("records nothing for calls outside any invocation", async () => {
    expect(await viaHttp()).toBe(204);
    expect((await fetch(url)).status).toBe(204);
    expect(clientSpans()).toEqual([]);
  });
});
