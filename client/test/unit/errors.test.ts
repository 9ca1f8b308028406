import assert from "node:assert/strict";
import { test } from "node:test";
import { FunctionsError } from "firebase/functions";
import { appError, fieldErrors, hasCode, isAppError } from "../../src/errors.js";

const err = (code: string, details?: unknown) => new FunctionsError(code as never, "message", details);

test("isAppError narrows by reason, and only a server error matches", () => {
  const error: unknown = err("failed-precondition", { reason: "mfa-required" });
  assert.ok(isAppError(error));
  assert.ok(isAppError(error, "mfa-required"));
  assert.ok(!isAppError(error, "no-active-tenant"));
  assert.ok(!isAppError(new Error("mfa-required"), "mfa-required"));
  assert.ok(
    !isAppError({ code: "functions/failed-precondition", details: { reason: "mfa-required" } }, "mfa-required"),
  );
});

test("details are typed per reason", () => {
  const error: unknown = err("failed-precondition", { reason: "role-in-use", members: 2, inheritedBy: ["auditor"] });
  if (!isAppError(error, "role-in-use")) throw new Error("expected role-in-use");
  // Compile-time: members is a number and inheritedBy a string array on this reason.
  const members: number | undefined = error.details.members;
  const inheritedBy: string[] | undefined = error.details.inheritedBy;
  assert.equal(members, 2);
  assert.deepEqual(inheritedBy, ["auditor"]);
});

test("appError strips the functions/ prefix and keeps details", () => {
  const parsed = appError(err("resource-exhausted", { reason: "mfa-locked-out", retryAfterSeconds: 60 }));
  assert.equal(parsed?.code, "resource-exhausted");
  assert.equal(parsed?.reason, "mfa-locked-out");
  assert.equal(parsed?.details.retryAfterSeconds, 60);
  assert.ok(hasCode(err("not-found"), "not-found"));
  assert.equal(appError(new TypeError("x")), undefined);
});

test("fieldErrors reads invalid-argument field errors only", () => {
  assert.deepEqual(fieldErrors(err("invalid-argument", { fields: { email: ["Invalid email"] } })), {
    email: ["Invalid email"],
  });
  assert.deepEqual(fieldErrors(err("failed-precondition", { fields: { email: ["x"] } })), {});
  assert.deepEqual(fieldErrors(err("invalid-argument")), {});
});
