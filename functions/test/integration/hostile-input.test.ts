/**
 * Hostile input against every exported callable and HTTPS function, enumerated from the
 * codebase's exports so new functions are covered without editing this test.
 *
 * Each function gets generated junk (wrong types, huge strings, deep nesting, prototype-pollution
 * keys, missing and extra fields around its real schema) from a signed-in owner who is also a
 * platform admin, so calls get past admission and reach validation. Every answer must be a
 * client error or a success — never `internal`/5xx — and a rejected call must write nothing
 * (checked through the Firestore emulator's operation log).
 */
import fc from "fast-check";
import { HttpsError } from "firebase-functions/v2/https";
import { adminAuth } from "../../src/platform/admin";
import { exportedFunctions, inputKeys } from "../support/exports";
import {
  callAs,
  callHttps,
  countOps,
  createTestUser,
  refreshUser,
  seedTenant,
  type OperationLog,
  type TestUser,
} from "../support/firebase";

jest.setTimeout(600_000);

const RUNS_PER_FUNCTION = Number(process.env.HOSTILE_RUNS ?? 20);

const functions = exportedFunctions();

function deepNesting(depth: number): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) value = { a: [value] };
  return value;
}

const pollution = (): unknown =>
  JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "tenantId": "x"}');

/** Junk shaped around `keys`: wrong types, huge values, missing and extra fields. */
function junk(keys: string[]): fc.Arbitrary<unknown> {
  const value = fc.oneof(
    fc.anything({ maxDepth: 3, withBigInt: false, withDate: false, withTypedArray: false }),
    fc.string({ minLength: 0, maxLength: 50 }),
    fc.constant("x".repeat(200_000)),
    fc.constantFrom("../other", "..", "__name__", "tenants/other/payments/p1", "%2e%2e%2f", "\u0000", "a/b"),
    fc.constantFrom(-1, 0, 1e308, Number.MAX_SAFE_INTEGER + 2, 0.5),
    fc.constant(deepNesting(300)),
    fc.constant(null),
  );
  const shaped =
    keys.length > 0
      ? fc
          .record(Object.fromEntries(keys.map((k) => [k, value])), { requiredKeys: [] })
          .chain((rec) =>
            fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 3 }).map((extra) => ({ ...extra, ...rec })),
          )
      : fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 4 });
  return fc.oneof(
    shaped,
    value,
    fc.constant(pollution()),
    fc.constant(deepNesting(2000)),
    fc.array(value, { maxLength: 5 }),
  );
}

/**
 * Writes and deletes a call caused, leaving out platform bookkeeping that is flushed in the
 * background (metric counters, the health probe document): those are not effects of the input.
 */
function effects(ops: OperationLog): { writes: number; deletes: number } {
  const own = ops.log.filter((e) => !e.path.startsWith("_metrics/") && !e.path.startsWith("_health/"));
  return {
    writes: own.filter((e) => e.kind === "write").length,
    deletes: own.filter((e) => e.kind === "delete").length,
  };
}

function isClientOutcome(error: unknown): boolean {
  if (!(error instanceof HttpsError)) return false;
  return !["internal", "unknown", "unavailable", "deadline-exceeded", "data-loss"].includes(error.code);
}

describe("hostile input against every exported function", () => {
  let owner: TestUser;

  beforeAll(async () => {
    owner = await createTestUser();
    const tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
    await adminAuth().setCustomUserClaims(owner.uid, { tid, roles: ["owner"], platformAdmin: true });
    await refreshUser(owner);
  });

  afterAll(() => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("finds the exported functions to test", () => {
    expect(functions.map((f) => f.name)).toEqual(expect.arrayContaining(["health", "whoami"]));
    for (const f of functions) expect(f.spec.name).toBe(f.name);
  });

  it.each(functions.map((f) => [f.name, f] as const))(
    "%s answers junk with a client error or a success, and writes nothing when it rejects",
    async (_name, { fn, spec }) => {
      const keys = inputKeys(spec);
      await fc.assert(
        fc.asyncProperty(junk(keys), fc.boolean(), async (input, signedIn) => {
          // A successful revokeAllSessions (sign out everywhere) revokes the owner's tokens: sign in again.
          if (signedIn)
            await adminAuth()
              .verifyIdToken(owner.idToken, true)
              .catch(() => refreshUser(owner));
          const user = signedIn ? owner : null;
          if (spec.kind === "callable") {
            const { result, ops } = await countOps(async () => {
              try {
                await callAs(fn as never, user, input);
                return { rejected: false, error: undefined as unknown };
              } catch (error) {
                return { rejected: true, error };
              }
            });
            if (result.rejected) {
              expect(isClientOutcome(result.error)).toBe(true);
              expect(effects(ops)).toEqual({ writes: 0, deletes: 0 });
            }
          } else {
            const method = spec.methods?.[0] ?? "POST";
            const headers: Record<string, string> = user ? { authorization: `Bearer ${user.idToken}` } : {};
            const { result, ops } = await countOps(() =>
              callHttps(fn as never, {
                method,
                headers,
                ...(method === "GET" || method === "DELETE"
                  ? { query: (typeof input === "object" && input !== null ? input : { q: String(input) }) as never }
                  : { body: input }),
              }),
            );
            expect(result.status).toBeLessThan(500);
            if (result.status >= 400) {
              expect(effects(ops)).toEqual({ writes: 0, deletes: 0 });
            }
          }
        }),
        { numRuns: RUNS_PER_FUNCTION, seed: 20261121 },
      );
    },
  );
});
