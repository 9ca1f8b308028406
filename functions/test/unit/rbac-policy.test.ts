import { AppError } from "../../src/platform/errors";
import type { Permission, RoleDefinition } from "../../src/rbac/permissions";
import {
  assertOwnerRemains,
  isReservedRoleId,
  MAX_CUSTOM_ROLES,
  ownerRoleIds,
  planAssignment,
  planRoleDelete,
  planRoleUpsert,
} from "../../src/rbac/policy";
import { closure, type CustomRoles } from "../../src/rbac/resolve";

const role = (permissions: Permission[], inherits: string[] = []): RoleDefinition => ({ permissions, inherits });

/** Runs `fn` and returns the AppError it throws (fails the test if it does not throw one). */
function rejection(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected an AppError, but nothing was thrown");
}

const admin = closure(["admin"]);
const owner = closure(["owner"]);

describe("creating and updating custom roles", () => {
  it("accepts a role within the caller's permissions and returns the new graph", () => {
    const next = planRoleUpsert(
      {},
      "billing",
      { permissions: ["webhooks:read"], inherits: ["member"] },
      admin,
      "create",
    );
    expect(next.billing).toEqual({ permissions: ["webhooks:read"], inherits: ["member"] });
  });

  it("refuses a role granting a permission the caller lacks, and names it", () => {
    const error = rejection(() =>
      planRoleUpsert({}, "boss", { permissions: ["tenant:manage"], inherits: [] }, admin, "create"),
    );
    expect(error.code).toBe("permission-denied");
    expect(error.details).toMatchObject({ reason: "escalation", permissions: ["tenant:manage"] });
  });

  it("refuses escalation through inheritance of a higher built-in role", () => {
    const error = rejection(() =>
      planRoleUpsert({}, "sneaky", { permissions: [], inherits: ["owner"] }, admin, "create"),
    );
    expect(error.details.reason).toBe("escalation");
  });

  it("refuses escalation through inheritance of a custom role that already exists", () => {
    const current: CustomRoles = { crown: role(["tenant:manage"]) };
    const error = rejection(() =>
      planRoleUpsert(current, "sneaky", { permissions: [], inherits: ["crown"] }, admin, "create"),
    );
    expect(error.details.reason).toBe("escalation");
  });

  it("refuses an update that adds a permission the caller lacks", () => {
    const current: CustomRoles = { ops: role(["webhooks:read"]) };
    const error = rejection(() =>
      planRoleUpsert(
        current,
        "ops",
        { permissions: ["webhooks:read", "tenant:manage"], inherits: [] },
        admin,
        "update",
      ),
    );
    expect(error.details).toMatchObject({ reason: "escalation", permissions: ["tenant:manage"] });
  });

  it("refuses to let a caller edit a role that outranks them, even to shrink it", () => {
    const current: CustomRoles = { crown: role(["tenant:manage"], ["admin"]) };
    const error = rejection(() => planRoleUpsert(current, "crown", { permissions: [], inherits: [] }, admin, "update"));
    expect(error.code).toBe("permission-denied");
    expect(error.details.reason).toBe("outranked");
  });

  it("lets an owner create a role inheriting owner", () => {
    expect(planRoleUpsert({}, "co-owner", { permissions: [], inherits: ["owner"] }, owner, "create")).toHaveProperty(
      "co-owner",
    );
  });

  it("refuses a cycle created by an update", () => {
    const current: CustomRoles = { a: role([], ["b"]), b: role([], []) };
    const error = rejection(() => planRoleUpsert(current, "b", { permissions: [], inherits: ["a"] }, owner, "update"));
    expect(error.code).toBe("invalid-argument");
    expect(error.details.reason).toBe("cycle");
    expect(error.details.fields).toHaveProperty("inherits");
  });

  it("refuses a role that inherits itself", () => {
    const error = rejection(() => planRoleUpsert({}, "loop", { permissions: [], inherits: ["loop"] }, owner, "create"));
    expect(error.details.reason).toBe("cycle");
  });

  it("refuses an unknown parent", () => {
    const error = rejection(() => planRoleUpsert({}, "x", { permissions: [], inherits: ["ghost"] }, owner, "create"));
    expect(error).toMatchObject({ code: "invalid-argument", details: { reason: "unknown-parent" } });
  });

  it.each(["constructor", "toString", "hasOwnProperty", "valueOf"])(
    "refuses %s as a parent: Object's own names are no roles",
    (parent) => {
      const error = rejection(() => planRoleUpsert({}, "x", { permissions: [], inherits: [parent] }, owner, "create"));
      expect(error).toMatchObject({ code: "invalid-argument", details: { reason: "unknown-parent" } });
      expect(closure([parent])).toEqual(new Set());
    },
  );

  it("refuses unknown permissions with a field error per entry", () => {
    const error = rejection(() =>
      planRoleUpsert(
        {},
        "x",
        { permissions: ["payments:read", "payments:delete", "root"], inherits: [] },
        owner,
        "create",
      ),
    );
    expect(error.code).toBe("invalid-argument");
    expect(error.details.reason).toBe("unknown-permission");
    expect(Object.keys(error.details.fields ?? {}).sort()).toEqual(["permissions.1", "permissions.2"]);
    expect(error.message).toContain("payments:delete");
  });

  it.each(["owner", "admin", "member", "viewer", "Owner", "ADMIN"])("refuses to shadow built-in role %s", (id) => {
    expect(isReservedRoleId(id)).toBe(true);
    const error = rejection(() => planRoleUpsert({}, id, { permissions: [], inherits: [] }, owner, "create"));
    expect(error.details.reason).toBe("reserved-role-id");
  });

  it("refuses to create a role that exists and to update one that does not", () => {
    expect(
      rejection(() => planRoleUpsert({ a: role([]) }, "a", { permissions: [], inherits: [] }, owner, "create")).code,
    ).toBe("already-exists");
    expect(rejection(() => planRoleUpsert({}, "a", { permissions: [], inherits: [] }, owner, "update")).code).toBe(
      "not-found",
    );
  });

  it("caps the number of custom roles per tenant", () => {
    const current: Record<string, RoleDefinition> = {};
    for (let i = 0; i < MAX_CUSTOM_ROLES; i++) current[`r${i}`] = role([]);
    const error = rejection(() =>
      planRoleUpsert(current, "one-more", { permissions: [], inherits: [] }, owner, "create"),
    );
    expect(error).toMatchObject({ code: "resource-exhausted", details: { reason: "too-many-roles" } });
  });

  it("de-duplicates permissions and parents", () => {
    const next = planRoleUpsert(
      {},
      "dup",
      { permissions: ["webhooks:manage", "webhooks:manage"], inherits: ["viewer", "viewer"] },
      owner,
      "create",
    );
    expect(next.dup).toEqual({ permissions: ["webhooks:manage"], inherits: ["viewer"] });
  });
});

describe("deleting custom roles", () => {
  it("refuses to delete a role another role inherits", () => {
    const current: CustomRoles = { base: role(["webhooks:manage"]), child: role([], ["base"]) };
    const error = rejection(() => planRoleDelete(current, "base", owner));
    expect(error).toMatchObject({
      code: "failed-precondition",
      details: { reason: "role-in-use", inheritedBy: ["child"] },
    });
  });

  it("refuses to delete a built-in role or one that does not exist", () => {
    expect(rejection(() => planRoleDelete({}, "owner", owner)).details.reason).toBe("reserved-role-id");
    expect(rejection(() => planRoleDelete({}, "ghost", owner)).code).toBe("not-found");
  });

  it("refuses to let a caller delete a role that outranks them", () => {
    const error = rejection(() => planRoleDelete({ crown: role(["tenant:manage"]) }, "crown", admin));
    expect(error.details.reason).toBe("outranked");
  });

  it("returns the graph without the role", () => {
    expect(planRoleDelete({ a: role([]), b: role([]) }, "a", admin)).toEqual({ b: role([]) });
  });
});

describe("assigning roles", () => {
  it("lets an admin make a viewer a member", () => {
    expect(planAssignment({}, ["viewer"], ["member"], admin)).toEqual(["member"]);
  });

  it("refuses an admin making anyone an owner", () => {
    const error = rejection(() => planAssignment({}, ["viewer"], ["owner"], admin));
    expect(error).toMatchObject({
      code: "permission-denied",
      details: { reason: "escalation", permissions: ["tenant:manage"] },
    });
  });

  it("refuses an admin assigning a custom role that grants more than they have", () => {
    const error = rejection(() => planAssignment({ crown: role(["tenant:manage"]) }, ["viewer"], ["crown"], admin));
    expect(error.details.reason).toBe("escalation");
  });

  it("refuses an admin demoting an owner", () => {
    const error = rejection(() => planAssignment({}, ["owner"], ["viewer"], admin));
    expect(error.details.reason).toBe("outranked");
  });

  it("refuses a member assigning themselves admin (caller permissions are what counts)", () => {
    expect(rejection(() => planAssignment({}, ["member"], ["admin"], closure(["member"]))).details.reason).toBe(
      "escalation",
    );
  });

  it("refuses unknown roles with a field error", () => {
    const error = rejection(() => planAssignment({}, ["viewer"], ["viewer", "ghost"], owner));
    expect(error).toMatchObject({ code: "invalid-argument", details: { reason: "unknown-role" } });
    expect(error.details.fields).toHaveProperty(["roles.1"]);
  });
});

describe("last-owner protection", () => {
  const custom: CustomRoles = { "co-owner": role([], ["owner"]), ops: role(["webhooks:manage"]) };

  it("treats custom roles inheriting owner as owner roles", () => {
    expect(ownerRoleIds(custom)).toEqual(["co-owner", "owner"]);
  });

  it("refuses demoting the only owner", () => {
    const error = rejection(() =>
      assertOwnerRemains([{ uid: "u1", roles: ["owner"] }], {}, { uid: "u1", roles: ["admin"] }),
    );
    expect(error).toMatchObject({ code: "failed-precondition", details: { reason: "last-owner" } });
  });

  it("allows demoting one of two owners", () => {
    expect(() =>
      assertOwnerRemains(
        [
          { uid: "u1", roles: ["owner"] },
          { uid: "u2", roles: ["co-owner"] },
        ],
        custom,
        { uid: "u1", roles: ["admin"] },
      ),
    ).not.toThrow();
  });

  it("allows the only owner to swap owner for a custom role that inherits owner", () => {
    expect(() =>
      assertOwnerRemains([{ uid: "u1", roles: ["owner"] }], custom, { uid: "u1", roles: ["co-owner"] }),
    ).not.toThrow();
  });

  it("refuses a role update that removes owner from the ancestry of the only owner's role", () => {
    const after: CustomRoles = { ...custom, "co-owner": role([], ["admin"]) };
    const error = rejection(() => assertOwnerRemains([{ uid: "u1", roles: ["co-owner"] }], after));
    expect(error.details.reason).toBe("last-owner");
  });

  it("counts a member promoted by the change itself", () => {
    expect(() =>
      assertOwnerRemains([{ uid: "u1", roles: ["owner"] }], {}, { uid: "u1", roles: ["owner"] }),
    ).not.toThrow();
    expect(() => assertOwnerRemains([], {}, { uid: "u2", roles: ["viewer"] })).not.toThrow();
  });
});
