/**
 * Every callable and HTTPS request answers by its deadline. A dependency that stops answering
 * (an unreachable Firestore: its client retries for ten minutes) would otherwise hold the call
 * until the platform's timeout ends it with no answer of ours. At the deadline the caller gets a
 * retryable `unavailable` with Retry-After instead (HTTPS: 503). The work is not cancelled,
 * nothing could cancel it: idempotency keys and event de-duplication keep the caller's retry from
 * doing it twice.
 */
import { intValue, params } from "./config";
import { AppError } from "./errors";
import { describeError, log } from "./logger";
import type { FunctionSpec } from "./spec";

/** How long before a declared timeout a function answers, so the answer is ours, not the platform's. */
const TIMEOUT_MARGIN_SECONDS = 10;
/** When a caller may retry after a deadline answer. */
const RETRY_AFTER_SECONDS = 5;

/** The function's deadline in seconds: its own timeout less the margin, else REQUEST_DEADLINE_SECONDS. */
export function deadlineSeconds(spec: Pick<FunctionSpec, "timeoutSeconds">): number {
  return spec.timeoutSeconds !== undefined
    ? Math.max(1, spec.timeoutSeconds - TIMEOUT_MARGIN_SECONDS)
    : intValue(params.requestDeadlineSeconds);
}

/** Runs `work`; if it has not settled within the spec's deadline, rejects retryable while it goes on. */
export async function answerByDeadline<T>(
  spec: Pick<FunctionSpec, "name" | "timeoutSeconds">,
  work: () => Promise<T>,
): Promise<T> {
  const seconds = deadlineSeconds(spec);
  let timer: NodeJS.Timeout | undefined;
  // The error is built when the deadline passes, not on every call that finishes in time.
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(
        new AppError("unavailable", "The request did not finish in time. Retry later.", {
          reason: "request-deadline",
          retryAfterSeconds: RETRY_AFTER_SECONDS,
        }),
      );
    }, seconds * 1000);
  });
  const running = work();
  try {
    return await Promise.race([running, deadline]);
  } catch (error) {
    if (late) {
      log.warn("answered at the request deadline; the work goes on", { fn: spec.name, deadlineSeconds: seconds });
      running.then(
        () => log.info("work past the request deadline finished", { fn: spec.name }),
        (failure: unknown) =>
          log.warn("work past the request deadline failed", { fn: spec.name, ...describeError(failure) }),
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
