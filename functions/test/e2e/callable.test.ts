/**
 * The stack for real: a user signed in through the Auth emulator calls a callable in the
 * functions emulator over HTTP with its ID token.
 */
import { createTestUser, type TestUser } from "../support/firebase";
import { callCallable, functionUrl } from "../support/http";

describe("callable protocol over HTTP", () => {
  let user: TestUser;

  beforeAll(async () => {
    user = await createTestUser();
  });

  it("returns the caller's uid to a signed-in user", async () => {
    const res = await callCallable<{ uid: string }>("whoami", {}, user.idToken);
    expect(res.status).toBe(200);
    expect(res.result?.uid).toBe(user.uid);
  });

  it("answers unauthenticated without an ID token", async () => {
    const res = await callCallable("whoami", {});
    expect(res.status).toBe(401);
    expect(res.error?.status).toBe("UNAUTHENTICATED");
  });

  it("answers invalid-argument with field errors to input that fails the schema", async () => {
    const res = await callCallable("whoami", { unexpected: true }, user.idToken);
    expect(res.status).toBe(400);
    expect(res.error?.status).toBe("INVALID_ARGUMENT");
    expect(res.error?.details?.fields).toBeDefined();
  });

  it("answers invalid-argument to a body that is not a callable request", async () => {
    const res = await callCallable("whoami", undefined, user.idToken, { rawBody: JSON.stringify({ nodata: 1 }) });
    expect(res.status).toBe(400);
    expect(res.error?.status).toBe("INVALID_ARGUMENT");
  });

  it("answers a client error, not a server error, to a body that is not JSON", async () => {
    const res = await callCallable("whoami", undefined, user.idToken, { rawBody: '{"data": ' });
    expect(res.status).toBe(400);
  });

  it("serves the health endpoint with per-dependency status", async () => {
    const res = await fetch(functionUrl("health"));
    const body = (await res.json()) as { status: string; checks?: { name: string; status: string }[] };
    expect(res.status).toBe(200);
    expect(body.status).toBe("ok");
  });
});
