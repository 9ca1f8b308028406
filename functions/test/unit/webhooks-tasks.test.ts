import { attemptOf, taskId } from "../../src/webhooks/tasks";
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
