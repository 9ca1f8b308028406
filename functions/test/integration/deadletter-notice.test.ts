/**
 * Dead-letter notices reach the official Pub/Sub emulator's topic, as operators' alerting would
 * receive them in production: published with the real client, pulled through a subscription.
 */
import { randomUUID } from "node:crypto";
import { applyParamDefaults, params } from "../../src/platform/config";
import { notifyDeadLetter } from "../../src/webhooks/deadletters";
import { projectId } from "../support/firebase";

const pubsub = () => `http://${process.env.PUBSUB_EMULATOR_HOST}/v1/projects/${projectId()}`;

async function rest<T>(path: string, method: string, body?: unknown): Promise<T> {
  const res = await fetch(`${pubsub()}/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`pubsub ${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

beforeAll(() => applyParamDefaults());

describe("dead-letter notices", () => {
  it("are published on the dead-letter topic with the source as an attribute and no payload", async () => {
    const subscription = `dl-test-${randomUUID().slice(0, 8)}`;
    await rest(`subscriptions/${subscription}`, "PUT", {
      topic: `projects/${projectId()}/topics/${params.deadLetterTopic.value()}`,
    });
    const notice = {
      deadLetterId: `dl_${randomUUID().slice(0, 8)}`,
      tenantId: "t-notice",
      source: "payments.inbound" as const,
      reference: "evt_1",
      attempts: 8,
      lastError: "injected fault",
    };
    expect(await notifyDeadLetter(notice)).toBe(true);
    const pulled = await rest<{
      receivedMessages?: { message: { data: string; attributes: Record<string, string> } }[];
    }>(`subscriptions/${subscription}:pull`, "POST", { maxMessages: 10 });
    const messages = (pulled.receivedMessages ?? []).map((m) => ({
      body: JSON.parse(Buffer.from(m.message.data, "base64").toString("utf8")),
      attributes: m.message.attributes,
    }));
    expect(messages).toEqual([{ body: notice, attributes: { source: "payments.inbound" } }]);
    await rest(`subscriptions/${subscription}`, "DELETE");
  });

  it("report failure, without throwing, when the topic does not exist", async () => {
    const saved = process.env.DEAD_LETTER_TOPIC;
    process.env.DEAD_LETTER_TOPIC = `missing-${randomUUID().slice(0, 8)}`;
    try {
      const published = await notifyDeadLetter({
        deadLetterId: "dl_missing",
        tenantId: null,
        source: "payments.inbound",
        reference: "evt_2",
        attempts: 1,
        lastError: "x",
      });
      expect(published).toBe(false);
    } finally {
      process.env.DEAD_LETTER_TOPIC = saved;
    }
  });
});
