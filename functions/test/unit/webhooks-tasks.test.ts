import { withInvocation } from "../../src/platform/context";
import { setTracingBackend, traceInvocation } from "../../src/platform/tracing-port";
import { attemptOf, cloudTasksEnqueue, setTaskTransport, taskId, type TaskTransport } from "../../src/webhooks/tasks";
import { inboundTaskId } from "../../src/payments/inbound";
import { deliveryTaskId } from "../../src/webhooks/outbound";

describe("task ids", () => {
  it("are deterministic, valid Cloud Tasks ids and differ per input", () => {
    const a = inboundTaskId("stripe", "evt_1");
    expect(inboundTaskId("stripe", "evt_1")).toBe(a);
    expect(inboundTaskId("stripe", "evt_2")).not.toBe(a);
    expect(inboundTaskId("other", "evt_1")).not.toBe(a);
    for (const id of [a, taskId("x", "../../weird id/with spaces"), deliveryTaskId("msg_1_ep", 3)]) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{1,500}$/);
    }
  });

  it("give every delivery attempt its own id", () => {
    expect(deliveryTaskId("msg_1_ep", 1)).not.toBe(deliveryTaskId("msg_1_ep", 2));
    expect(deliveryTaskId("msg_1_ep", 2)).toBe(deliveryTaskId("msg_1_ep", 2));
  });
});

describe("attempt number of a dispatch", () => {
  it("is 1 on the first dispatch and counts 5xx retries too (retryCount)", () => {
    expect(attemptOf({})).toBe(1);
    expect(attemptOf({ retryCount: 0, executionCount: 0 })).toBe(1);
    // executionCount leaves out attempts that failed with 5xx; retryCount does not.
    expect(attemptOf({ retryCount: 7, executionCount: 0 })).toBe(8);
    expect(attemptOf({ retryCount: 2, executionCount: 3 })).toBe(4);
  });
});

describe("cloudTasksEnqueue (tracing off)", () => {
  const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const SPEC = { kind: "https" as const, name: "t", description: "t", auth: "none" as const, tenant: false };
  const sent: Parameters<TaskTransport>[] = [];
  let fail: unknown;

  beforeAll(() => {
    setTracingBackend(null);
    setTaskTransport(async (...args) => {
      if (fail) throw fail;
      sent.push(args);
    });
  });
  afterAll(() => {
    setTaskTransport(undefined);
    setTracingBackend(undefined);
  });
  beforeEach(() => {
    sent.length = 0;
    fail = undefined;
  });

  it("forwards the incoming trace in the payload and the headers, so both hops' logs correlate", async () => {
    const outcome = await withInvocation({ fn: "t" }, () =>
      traceInvocation(SPEC, { traceparent: TRACEPARENT }, () =>
        cloudTasksEnqueue("q", { a: 1 }, { id: "x", delaySeconds: 1.2 }),
      ),
    );
    expect(outcome).toBe("enqueued");
    expect(sent).toEqual([
      [
        "q",
        { a: 1, trace: { traceparent: TRACEPARENT } },
        { id: "x", headers: { traceparent: TRACEPARENT }, scheduleDelaySeconds: 2 },
      ],
    ]);
  });

  it("drops a stale trace (a replayed dead letter's) when there is no current one", async () => {
    await cloudTasksEnqueue("q", { a: 1, trace: { traceparent: TRACEPARENT } }, { id: "y" });
    expect(sent).toEqual([["q", { a: 1 }, { id: "y", headers: {} }]]);
  });

  it("answers exists for a duplicate task id and rethrows anything else", async () => {
    fail = Object.assign(new Error("dup"), { code: "functions/task-already-exists" });
    await expect(cloudTasksEnqueue("q", {}, { id: "z" })).resolves.toBe("exists");
    fail = Object.assign(new Error("down"), { code: "functions/unavailable" });
    await expect(cloudTasksEnqueue("q", {}, { id: "z" })).rejects.toThrow("down");
  });
});
