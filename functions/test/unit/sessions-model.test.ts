import { randomBytes } from "node:crypto";
import {
  decideRefresh,
  deriveRefreshToken,
  hashToken,
  inactiveReason,
  newSession,
  parseRefreshToken,
  revoke,
  rotate,
  type SessionState,
} from "../../src/sessions/model";

const MIN = 60_000;
const DAY = 86_400_000;
const policy = { absoluteTtlMs: 30 * DAY, idleTtlMs: 7 * DAY, graceMs: 10_000 };
const key = randomBytes(32);
const familyId = randomBytes(16).toString("hex");
const seed = randomBytes(32).toString("base64url");
const tokenOf = (g: number) => deriveRefreshToken(key, familyId, g, seed);

function present(token: string) {
  const parsed = parseRefreshToken(token);
  if (!parsed) throw new Error("unparseable");
  return {
    generation: parsed.generation,
    hash: hashToken(token),
    isGenuine: () => tokenOf(parsed.generation) === token,
  };
}

function start(now = 0): SessionState {
  return newSession({
    uid: "u1",
    tid: "t1",
    mfa: false,
    label: "test",
    seed,
    keyId: "1",
    firstTokenHash: hashToken(tokenOf(0)),
    authTime: now,
    now,
    policy,
  });
}

/** Refreshes with the current token `n` times, starting at `t0`, one minute apart. */
function advance(session: SessionState, n: number, t0: number): SessionState {
  let s = session;
  for (let i = 0; i < n; i++) {
    const d = decideRefresh(s, present(tokenOf(s.generation)), t0 + i * MIN, policy);
    expect(d).toEqual({ kind: "rotate", generation: s.generation + 1 });
    s = rotate(s, hashToken(tokenOf(s.generation + 1)), t0 + i * MIN, policy);
  }
  return s;
}

describe("refresh tokens", () => {
  it("are 256-bit MACs bound to family and generation", () => {
    const t = tokenOf(3);
    expect(parseRefreshToken(t)).toEqual({ familyId, generation: 3 });
    expect(Buffer.from(t.split(".")[2], "base64url")).toHaveLength(32);
    expect(tokenOf(3)).toBe(t);
    expect(tokenOf(4)).not.toBe(t);
    expect(deriveRefreshToken(randomBytes(32), familyId, 3, seed)).not.toBe(t);
  });

  it("refuses malformed tokens", () => {
    for (const bad of [
      "",
      "x",
      `${familyId}.1`,
      `${familyId}.01.${"a".repeat(43)}`,
      `${familyId}.1.${"a".repeat(42)}`,
    ]) {
      expect(parseRefreshToken(bad)).toBeNull();
    }
  });
});

describe("refresh token rotation", () => {
  it("rotates the current token, keeps the previous hash and slides the idle expiry", () => {
    const s0 = start(0);
    expect(s0.idleExpiresAt).toBe(7 * DAY);
    const s1 = advance(s0, 1, 5 * MIN);
    expect(s1.generation).toBe(1);
    expect(s1.tokenHash).toBe(hashToken(tokenOf(1)));
    expect(s1.prevTokenHash).toBe(hashToken(tokenOf(0)));
    expect(s1.rotatedAt).toBe(5 * MIN);
    expect(s1.idleExpiresAt).toBe(5 * MIN + 7 * DAY);
    expect(s1.expiresAt).toBe(30 * DAY);
  });

  it("answers the previous token inside the grace interval with the existing successor", () => {
    const s1 = advance(start(0), 1, 1000);
    expect(decideRefresh(s1, present(tokenOf(0)), 1000 + 10_000, policy)).toEqual({ kind: "grace", generation: 1 });
  });

  it("treats the previous token after the grace interval as reuse", () => {
    const s1 = advance(start(0), 1, 1000);
    expect(decideRefresh(s1, present(tokenOf(0)), 1000 + 10_001, policy)).toEqual({
      kind: "reuse",
      reason: "previous-after-grace",
      presentedGeneration: 0,
    });
  });

  it("treats any older genuine token as reuse, even inside the grace interval", () => {
    const s3 = advance(start(0), 3, 0);
    expect(decideRefresh(s3, present(tokenOf(1)), 2 * MIN + 1, policy)).toEqual({
      kind: "reuse",
      reason: "older-token",
      presentedGeneration: 1,
    });
  });

  it("refuses forged tokens without calling it reuse", () => {
    const s3 = advance(start(0), 3, 0);
    const forged = deriveRefreshToken(randomBytes(32), familyId, 1, seed);
    expect(decideRefresh(s3, present(forged), MIN, policy)).toEqual({
      kind: "reject",
      reason: "invalid-refresh-token",
    });
    const forgedCurrent = deriveRefreshToken(randomBytes(32), familyId, 3, seed);
    expect(decideRefresh(s3, present(forgedCurrent), MIN, policy).kind).toBe("reject");
    const future = tokenOf(7);
    expect(decideRefresh(s3, present(future), MIN, policy)).toEqual({
      kind: "reject",
      reason: "invalid-refresh-token",
    });
  });

  it("expires at the absolute limit even when used constantly", () => {
    let s = start(0);
    for (let day = 1; day < 30; day++) {
      s = rotate(s, hashToken(tokenOf(s.generation + 1)), day * DAY, policy);
      expect(inactiveReason(s, day * DAY + 1)).toBeNull();
    }
    expect(s.idleExpiresAt).toBe(30 * DAY);
    expect(decideRefresh(s, present(tokenOf(s.generation)), 30 * DAY, policy)).toEqual({
      kind: "reject",
      reason: "session-expired",
    });
  });

  it("expires after the idle interval without use", () => {
    const s = start(0);
    expect(decideRefresh(s, present(tokenOf(0)), 7 * DAY - 1, policy).kind).toBe("rotate");
    expect(decideRefresh(s, present(tokenOf(0)), 7 * DAY, policy)).toEqual({
      kind: "reject",
      reason: "session-idle-expired",
    });
  });

  it("refuses every token of a revoked family, and keeps the first revocation", () => {
    const s = revoke(advance(start(0), 2, 0), "reuse", 5);
    expect(revoke(s, "user", 9)).toMatchObject({ revokedReason: "reuse", revokedAt: 5 });
    for (const g of [0, 1, 2]) {
      expect(decideRefresh(s, present(tokenOf(g)), 6, policy)).toEqual({ kind: "reject", reason: "session-revoked" });
    }
  });
});
