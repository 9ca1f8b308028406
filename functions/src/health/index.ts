/**
 * `health`: reports each dependency with status and latency; 503 when any fails.
 */
import { z } from "zod";
import { httpsEndpoint } from "../platform/https";
import { authReachable, firestoreRoundTrip, runCheck } from "./checks";

export const health = httpsEndpoint(
  {
    name: "health",
    description: "Checks every dependency (Firestore round trip, Auth) and reports status and latency.",
    methods: ["GET"],
    input: z.object({}).loose(),
    auth: "none",
  },
  async () => {
    const checks = await Promise.all([runCheck("firestore", firestoreRoundTrip), runCheck("auth", authReachable)]);
    const ok = checks.every((c) => c.status === "ok");
    return {
      status: ok ? 200 : 503,
      headers: { "Cache-Control": "no-store" },
      body: { status: ok ? "ok" : "fail", checks },
    };
  },
);
