/**
 * The request deadline (platform/deadline.ts): a call answers by it, retryable, while the work goes
 * on; a call that settles in time is untouched.
 */
import { answerByDeadline, deadlineSeconds } from "../../src/platform/deadline";
import { AppError } from "../../src/platform/errors";
import { log } from "../../src/platform/logger";

const spec = { name: "slow", timeoutSeconds: undefined as number | undefined };
const configured = process.env.REQUEST_DEADLINE_SECONDS;

describe("the request deadline", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    process.env.REQUEST_DEADLINE_SECONDS = configured;
  });

  it("is REQUEST_DEADLINE_SECONDS, or a declared timeout less 10 s", () => {
    expect(deadlineSeconds(spec)).toBe(50);
    process.env.REQUEST_DEADLINE_SECONDS = "7";
    expect(deadlineSeconds(spec)).toBe(7);
    expect(deadlineSeconds({ timeoutSeconds: 300 })).toBe(290);
    expect(deadlineSeconds({ timeoutSeconds: 5 })).toBe(1);
  });

  it("answers unavailable with Retry-After at the deadline, and logs how the work ended later", async () => {
    process.env.REQUEST_DEADLINE_SECONDS = "3";
    const warn = jest.spyOn(log, "warn").mockImplementation(() => undefined);
    const info = jest.spyOn(log, "info").mockImplementation(() => undefined);
    let finish: (value: string) => void = () => undefined;
    const answer = answerByDeadline(spec, () => new Promise<string>((resolve) => (finish = resolve)));
    const settled = answer.catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(2_999);
    expect(await Promise.race([settled, Promise.resolve("pending")])).toBe("pending");
    await jest.advanceTimersByTimeAsync(1);
    const error = (await settled) as AppError;
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe("unavailable");
    expect(error.details).toEqual({ reason: "request-deadline", retryAfterSeconds: 5 });
    expect(warn).toHaveBeenCalledWith("answered at the request deadline; the work goes on", {
      fn: "slow",
      deadlineSeconds: 3,
    });
    finish("done");
    await Promise.resolve();
    await Promise.resolve();
    expect(info).toHaveBeenCalledWith("work past the request deadline finished", { fn: "slow" });
  });

  it("leaves a call that settles in time as it is, result or error, with no timer left behind", async () => {
    await expect(answerByDeadline(spec, async () => "ok")).resolves.toBe("ok");
    const refused = new AppError("invalid-argument", "no");
    await expect(answerByDeadline(spec, () => Promise.reject(refused))).rejects.toBe(refused);
    expect(jest.getTimerCount()).toBe(0);
  });
});
