/**
 * `example.steps`: the example job type (like payments is the example domain), registered only
 * under the emulator. It shows how a handler reports progress and honours cancellation, and its
 * `failAttempts` makes the first attempts fail on purpose, which the end-to-end tests use to
 * drive retries, dead letters and replay.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineJob } from "../../platform/jobs";

export const exampleSteps = defineJob({
  type: "example.steps",
  description: "Example (emulator only): counts `steps` steps of `stepMs` each, reporting progress.",
  input: z.strictObject({
    steps: z.number().int().min(1).max(100),
    stepMs: z.number().int().min(0).max(5000).default(0),
    /** Attempts up to this number fail with an error (retried, then dead-lettered). */
    failAttempts: z.number().int().min(0).max(20).default(0),
  }),
  access: { permission: "jobs:manage" },
  retry: { maxAttempts: 3 },
  timeoutSeconds: 300,
  handler: async ({ input, attempt, progress, signal }) => {
    if (attempt <= input.failAttempts) throw new Error(`example failure on attempt ${attempt}`);
    for (let step = 1; step <= input.steps; step++) {
      await sleep(input.stepMs, undefined, { signal });
      await progress({ done: step, total: input.steps, message: `step ${step} of ${input.steps}` });
    }
    return { steps: input.steps };
  },
});
