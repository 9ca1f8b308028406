import { MappingError, parseMapping } from "../../src/mapping";

const valid = {
  version: 1,
  tenants: { mode: "create" },
  collections: [
    { source: "orgs", target: "tenants/{tenantId}", tenant: { field: "_id" } },
    {
      source: "orders",
      target: "tenants/{tenantId}/orders/{_id}",
      tenant: { field: "orgId" },
      drop: ["__v"],
      types: { decimal128: "number" },
    },
    {
      source: "users",
      target: "tenants/{tenantId}/members/{uid}",
      tenant: { value: "acme" },
      membership: { roles: { field: "role" } },
    },
  ],
};

function issuesOf(json: unknown): string[] {
  try {
    parseMapping(json, "m.json");
  } catch (error) {
    expect(error).toBeInstanceOf(MappingError);
    return (error as MappingError).issues;
  }
  throw new Error("expected a MappingError");
}

describe("mapping file", () => {
  it("accepts a mapping with tenant documents, tenant-scoped collections and memberships", () => {
    const m = parseMapping(valid);
    expect(m.collections.map((c) => c.isTenantDoc)).toEqual([true, false, false]);
    expect(m.collections[1].policies).toEqual({ decimal128: "number", int64: "auto" });
    expect(m.collections[2].membership?.status).toEqual({ value: "active" });
    expect(m.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("names each schema problem with its location", () => {
    const issues = issuesOf({ version: 2, collections: [{ source: "", target: "x", tenant: {}, extra: 1 }] });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^version: /),
        expect.stringMatching(/^collections\.0\.source: /),
        expect.stringMatching(/^collections\.0: Unrecognized key/),
      ]),
    );
  });

  it("rejects targets outside the tenant, collection paths and placeholders in collection segments", () => {
    const issues = issuesOf({
      version: 1,
      collections: [
        { source: "a", target: "orders/{_id}", tenant: { value: "t1" } },
        { source: "b", target: "tenants/{tenantId}/orders", tenant: { value: "t1" } },
        { source: "c", target: "tenants/{tenantId}/{kind}/{_id}", tenant: { value: "t1" } },
        { source: "d", target: "tenants/{tenantId}/orders/x{_id}", tenant: { value: "t1" } },
      ],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        'collections.0 (a).target: must start with "tenants/{tenantId}" (every document belongs to a tenant)',
        'collections.1 (b).target: "tenants/{tenantId}/orders" has 3 segments; a document path has an even number',
        'collections.2 (c).target: collection segment 3 ("{kind}") must be a literal collection id',
        'collections.3 (d).target: segment "x{_id}" must be either a literal or one whole {placeholder}',
      ]),
    );
  });

  it("requires roles and status for membership targets, {value} in references, and one mapping per source", () => {
    const issues = issuesOf({
      version: 1,
      collections: [
        { source: "users", target: "tenants/{tenantId}/members/{_id}", tenant: { value: "t1" } },
        {
          source: "users",
          target: "tenants/{tenantId}/x/{_id}",
          tenant: { value: "t1" },
          references: { owner: "tenants/{tenantId}/members/{_id}" },
        },
      ],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        "collections.0 (users).membership: required for a target under members/ (roles and status)",
        'collections.1 (users): source collection "users" is mapped twice',
        'collections.1 (users).references.owner: "tenants/{tenantId}/members/{_id}" must contain {value}',
      ]),
    );
  });

  it("rejects a constant tenant id the app would not accept and renames to reserved names", () => {
    const issues = issuesOf({
      version: 1,
      collections: [
        {
          source: "a",
          target: "tenants/{tenantId}/a/{_id}",
          tenant: { value: "no/slash" },
          rename: { x: "__proto__" },
        },
      ],
    });
    expect(issues.join("\n")).toMatch(/collections\.0\.tenant/);
    const issues2 = issuesOf({
      version: 1,
      collections: [
        { source: "a", target: "tenants/{tenantId}/a/{_id}", tenant: { value: "t" }, rename: { x: "__proto__" } },
      ],
    });
    expect(issues2).toEqual(['collections.0 (a).rename.x: "__proto__" is a reserved Firestore field name']);
  });

  it("refuses __proto__ keys instead of silently dropping them", () => {
    const json = JSON.parse(
      '{"version":1,"collections":[{"source":"a","target":"tenants/{tenantId}/a/{_id}","tenant":{"value":"t"},"rename":{"__proto__":"x"}}]}',
    );
    expect(issuesOf(json)).toEqual(['collections.0.rename.__proto__: "__proto__" cannot be used as a key']);
  });
});
