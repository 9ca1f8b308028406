/**
 * `health`: liveness (`?probe=live`, no dependency touched) and readiness (default, every
 * dependency). Anyone gets the overall status (200 or 503); the per-dependency detail is shown
 * only to a caller presenting the operator token.
 */
import { z } from "zod";
import "../observability/catalogue";
import { bearerMatches } from "../observability/metrics-auth";
import { secrets } from "../platform/config";
import type { HttpResult } from "../platform/https";
import { httpsEndpoint } from "../platform/https";
import { defaultChecks } from "./defaults";
import { createHealthProbe, type HealthProbe } from "./probe";

export const HealthInput = z.object({
  probe: z.enum(["live", "ready"]).optional().describe("live: the process answers; ready (default): every dependency"),
});

function operatorToken(): string {
  try {
    return secrets.operatorToken.value();
  } catch {
    return "";
  }
}

/** Answers one health request from `probe`. */
export async function answerHealth(
  probe: HealthProbe,
  kind: "live" | "ready",
  authorization: unknown,
  token: () => string = operatorToken,
): Promise<HttpResult> {
  const headers = { "Cache-Control": "no-store" };
  if (kind === "live") return { status: 200, headers, body: probe.live() };
  const report = await probe.ready();
  const status = report.status === "ok" ? 200 : 503;
  const body = bearerMatches(authorization, token()) ? report : { status: report.status };
  return { status, headers, body };
}

let sharedProbe: HealthProbe | undefined;

/** The instance's probe over the deployment's checks. */
export function healthProbe(): HealthProbe {
  sharedProbe ??= createHealthProbe({ checks: defaultChecks });
  return sharedProbe;
}

/** Replaces the instance's probe (tests inject checks and a clock). */
export function setHealthProbe(probe: HealthProbe | undefined): void {
  sharedProbe = probe;
}

export const health = httpsEndpoint(
  {
    name: "health",
    description:
      "Liveness (?probe=live) and readiness (default) of every dependency: Firestore round trip, Auth, each Cloud Tasks queue, the dead-letter topic, the Storage bucket and secrets. Status only; per-dependency detail with the operator token.",
    methods: ["GET"],
    input: HealthInput,
    auth: "none",
    // Bound so the secrets check can see them; their values never leave this function.
    options: { secrets: [secrets.dataEncryptionKey, secrets.paymentWebhookSecret, secrets.operatorToken] },
  },
  async ({ data, req }) => answerHealth(healthProbe(), data.probe ?? "ready", req.headers.authorization),
);
