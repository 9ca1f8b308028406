/**
 * Hostile input against every exported callable and HTTPS function, enumerated from the
 * codebase's exports so new functions are covered without editing this test.
 *
 * Each function gets generated junk (wrong types, huge strings, deep nesting, prototype-pollution
 * keys, missing and extra fields around its real schema) from a signed-in owner who is also a
 * platform admin, so calls get past admission and reach validation. Callables are called through
 * firebase-functions' own protocol handler with the body a client sends, because its decoder
 * turns a `__proto__` key into a prototype that an in-process call never sees. Every answer must
 * be a client error or a success — never `internal`/5xx —, input carrying a `__proto__`,
 * `constructor` or `prototype` key at any depth must be refused, and a rejected call must write
 * nothing (checked through the Firestore emulator's operation log).
 */
import fc from "fast-check";
import { HttpsError } from "firebase-functions/v2/https";
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import { acceptsNoArguments } from "../../src/platform/validation";
import { exportedFunction, exportedFunctions, inputKeys } from "../support/exports";
import {
  callAs,
  callHttps,
  callOverWire,
  countOps,
  createTestUser,
  refreshUser,
  seedTenant,
  type OperationLog,
  type TestUser,
  type WireAnswer,
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

const PROTOTYPE_KEYS = ["__proto__", "constructor", "prototype"] as const;

/** A copy of `value` with own property `key` (defineProperty: even `__proto__` stays a plain key). */
function withOwnKey(value: Record<string, unknown>, key: string, inner: unknown): Record<string, unknown> {
  const copy = { ...value };
  Object.defineProperty(copy, key, { value: inner, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** True when `value` has a prototype key at any depth (what the function must refuse). */
function hasPrototypeKey(value: unknown): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== "object" || current === null) continue;
    for (const [key, child] of Object.entries(current)) {
      if ((PROTOTYPE_KEYS as readonly string[]).includes(key)) return true;
      stack.push(child);
    }
  }
  return false;
}

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
  // The function's own fields, smuggled inside a prototype key at the top or one level down.
  const smuggled = fc
    .tuple(
      fc.record(Object.fromEntries(keys.map((k) => [k, value])), { requiredKeys: [] }),
      fc.record(Object.fromEntries(keys.map((k) => [k, value])), { requiredKeys: [] }),
      fc.constantFrom(...PROTOTYPE_KEYS),
      fc.boolean(),
    )
    .map(([outer, inner, key, nested]) =>
      nested ? { ...outer, wrapper: withOwnKey({}, key, inner) } : withOwnKey(outer, key, inner),
    );
  return fc.oneof(
    shaped,
    value,
    smuggled,
    fc.constant(pollution()),
    fc.constant(deepNesting(2000)),
    fc.array(value, { maxLength: 5 }),
  );
}

/** Nesting depth of a JSON value. */
function depthOf(value: unknown): number {
  let depth = 0;
  let level: unknown[] = [value];
  while (level.length > 0) {
    level = level.flatMap((v) => (typeof v === "object" && v !== null ? Object.values(v) : []));
    depth += 1;
  }
  return depth;
}

/**
 * Calls a callable with `input` as a client would (the web SDK sends `null` for no arguments).
 * Over the wire, except for input nested deeper than firebase-functions' recursive decoder can
 * take (it overflows the stack before our code runs): that goes in-process.
 */
async function callCallable(fn: unknown, user: TestUser | null, input: unknown): Promise<WireAnswer> {
  if (depthOf(input) <= 500)
    return callOverWire(fn, user, JSON.stringify({ data: input === undefined ? null : input }));
  try {
    return { status: 200, body: { result: await callAs(fn as never, user, input) } };
  } catch (error) {
    if (!(error instanceof HttpsError)) throw error;
    return { status: error.httpErrorCode.status, body: {} };
  }
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

/** The owner of a fresh tenant who is also the platform admin, so every function admits them. */
async function platformAdminOwner(): Promise<TestUser> {
  const owner = await createTestUser();
  const tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
  await adminAuth().setCustomUserClaims(owner.uid, { tid, roles: ["owner"], platformAdmin: true });
  await refreshUser(owner);
  return owner;
}

describe("hostile input against every exported function", () => {
  let owner: TestUser;

  beforeAll(async () => {
    owner = await platformAdminOwner();
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
            const { result, ops } = await countOps(() => callCallable(fn, user, input));
            expect(result.status).toBeLessThan(500);
            if (hasPrototypeKey(input)) expect(result.status).toBeGreaterThanOrEqual(400);
            if (result.status >= 400) {
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
            if (hasPrototypeKey(input)) expect(result.status).toBeGreaterThanOrEqual(400);
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

describe("prototype keys over the callable protocol", () => {
  let owner: TestUser;
  let tid: string;

  beforeAll(async () => {
    owner = await createTestUser();
    tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
  });

  it("refuses inviteMember with roles smuggled in __proto__ and writes no member", async () => {
    const email = `smuggled-${Date.now()}@example.test`;
    const body = `{"data": {"email": "${email}", "__proto__": {"roles": ["owner"]}}}`;
    const { result, ops } = await countOps(() => callOverWire(exportedFunction("inviteMember"), owner, body));
    expect(result.status).toBe(400);
    expect(result.body.error?.status).toBe("INVALID_ARGUMENT");
    expect(result.body.error?.details?.fields).toEqual({ "": ['key "__proto__" is not allowed'] });
    expect(effects(ops)).toEqual({ writes: 0, deletes: 0 });
    const members = await rootFirestore().collection(`tenants/${tid}/members`).get();
    expect(members.docs.map((d) => d.id)).toEqual([owner.uid]);
  });

  it.each([
    ['{"data": {"__proto__": {"x": 1}}}', "__proto__"],
    ['{"data": {"pageSize": 5, "constructor": {"prototype": {"x": 1}}}}', "constructor"],
    ['{"data": {"pageSize": 5, "prototype": 1}}', "prototype"],
    ['{"data": {"__proto__": 5}}', "__proto__"],
  ])("refuses %s naming the key", async (body, key) => {
    const result = await callOverWire(exportedFunction("listMembers"), owner, body);
    expect(result.status).toBe(400);
    expect(result.body.error?.details?.fields?.[""]).toContain(`key "${key}" is not allowed`);
  });
});

describe("calls without arguments", () => {
  let owner: TestUser;

  beforeAll(async () => {
    owner = await platformAdminOwner();
  });

  const noArgument = functions.filter(
    (f) => f.spec.kind === "callable" && f.spec.input && acceptsNoArguments(f.spec.input),
  );

  it("covers every callable whose input is all-optional", () => {
    expect(noArgument.map((f) => f.name)).toEqual(
      expect.arrayContaining(["listPayments", "listMembers", "listWebhookEndpoints", "listDeadLetters", "listRoles"]),
    );
  });

  it.each(noArgument.map((f) => [f.name, f] as const))(
    "%s takes data: null as the web SDK sends it for httpsCallable(fns, name)()",
    async (name, { fn }) => {
      // A successful revokeAllSessions revokes the owner's tokens: sign in again.
      await adminAuth()
        .verifyIdToken(owner.idToken, true)
        .catch(() => refreshUser(owner));
      const answer = await callOverWire(fn, owner, '{"data": null}');
      expect(answer.body.error?.status).not.toBe("INVALID_ARGUMENT");
      expect(answer.status).toBeLessThan(500);
      // listMyInvitations answers only a verified address; this caller's is not.
      if (name.startsWith("list") && name !== "listMyInvitations") expect(answer.status).toBe(200);
    },
  );
});
