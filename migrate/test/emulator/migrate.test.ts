import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DocumentReference, Timestamp } from "firebase-admin/firestore";
import type { DocumentError } from "../../src/migrate";
import type { VerifyReport } from "../../src/verify";
import { allDocuments, closeAll, firestoreFor, newProject, runCli, writeMapping } from "../support/cli";
import { badOrders, BSON, oid, tmp, typedOrder, writeDump, writeExport } from "../support/fixtures";

jest.setTimeout(120_000);
afterAll(closeAll);

const ordersMapping = {
  version: 1,
  tenants: { mode: "create" },
  collections: [
    {
      source: "orders",
      target: "tenants/{tenantId}/orders/{_id}",
      tenant: { field: "orgId" },
      drop: ["__v", "orgId"],
      rename: { number: "orderNumber" },
      references: { customerId: "tenants/{tenantId}/customers/{value}" },
    },
  ],
};

const orders = (n: number) => Array.from({ length: n }, (_, i) => typedOrder(i, i % 2 ? "acme" : "globex"));
const readJson = <T>(file: string) => JSON.parse(readFileSync(file, "utf8")) as T;
const readErrors = (dir: string) =>
  readFileSync(join(dir, ".migrate/errors.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DocumentError);

describe("migrate CLI against the Firestore emulator", () => {
  it("migrates a mongodump with every type, records per-document errors and verifies counts and checksums", async () => {
    const dir = tmp();
    writeDump(dir, "shop", { orders: [...orders(40), ...badOrders("acme")] });
    const project = newProject();
    const res = await runCli(
      project,
      ["--source", dir, "--mapping", writeMapping(dir, ordersMapping), "--verify", "--no-ramp-up"],
      dir,
    );
    // Exit 1: five documents could not be migrated; everything else was written and verified.
    expect(res.stderr).not.toMatch(/Error:/);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain("orders → tenants/{tenantId}/orders/{_id}: 40 written, 5 failed");
    expect(res.stdout).toContain("tenants: 2 created, 0 matched, 0 missing");

    const db = firestoreFor(project);
    const snap = await db.doc(`tenants/acme/orders/${oid(7).toHexString()}`).get();
    const d = snap.data()!;
    expect(d.orderNumber).toBe(7);
    expect(d.orgId).toBeUndefined();
    expect(d.placedAt).toBeInstanceOf(Timestamp);
    expect((d.placedAt as Timestamp).toMillis()).toBe(Date.UTC(2024, 0, 1) + 7000);
    expect(d.total).toBe("7.10");
    expect(d.views).toBe("9007199254740993");
    expect(d.small).toBe(7);
    expect(d.weight).toBe(7.5);
    expect(Buffer.from(d.receipt)).toEqual(Buffer.from([7, 1, 2, 3]));
    expect(d.customerId).toBeInstanceOf(DocumentReference);
    expect((d.customerId as DocumentReference).path).toBe(`tenants/acme/customers/${oid(1_000_007).toHexString()}`);
    expect(d.lines[0]).toEqual({ sku: "sku-7", qty: 2, price: "4.05" });
    expect((await db.doc("tenants/acme").get()).data()).toMatchObject({
      name: "acme",
      status: "active",
      configVersion: 1,
    });
    expect((await db.collection("tenants/acme/orders").count().get()).data().count).toBe(20);
    expect((await db.collection("tenants/globex/orders").count().get()).data().count).toBe(20);

    const errors = readErrors(dir);
    expect(errors.map((e) => [e.index, e.id, e.errors[0].field])).toEqual([
      [40, oid(9001).toHexString(), "matrix[0]"],
      [41, oid(9002).toHexString(), "meta.__secret__"],
      [42, oid(9003).toHexString(), ""],
      [43, oid(9004).toHexString(), "pattern"],
      [44, oid(9005).toHexString(), "orgId"],
    ]);
    expect(errors[2].errors[0].message).toMatch(/over Firestore's 1048576-byte limit/);
    expect(await db.doc(`tenants/acme/orders/${oid(9003).toHexString()}`).get()).toHaveProperty("exists", false);

    const report = readJson<VerifyReport>(join(dir, ".migrate/verify-report.json"));
    expect(report.ok).toBe(true);
    expect(report.collections[0]).toMatchObject({
      sourceDocuments: 45,
      expected: 40,
      conversionErrors: 5,
      matched: 40,
      missing: 0,
      mismatched: 0,
      targetDocuments: 40,
    });
  });

  it("migrates mongoexport lines and arrays to the same documents as the dump, and a re-run writes the same documents", async () => {
    const dir = tmp();
    const docs = orders(30);
    writeDump(dir, "shop", { orders: docs });
    writeExport(join(dir, "orders.json"), docs);
    writeExport(join(dir, "orders.ndjson"), docs, { array: true });
    const mapping = writeMapping(dir, ordersMapping);
    const checksums: string[][] = [];
    for (const source of [
      join(dir, "shop"),
      join(dir, "orders.json"),
      join(dir, "orders.ndjson"),
      join(dir, "orders.json"),
    ]) {
      const project = newProject();
      const res = await runCli(project, ["--source", source, "--mapping", mapping, "--verify", "--no-ramp-up"], dir);
      expect(res.code).toBe(0);
      const db = firestoreFor(project);
      const paths = await allDocuments(db);
      expect(paths).toHaveLength(32); // 30 orders + 2 tenants
      checksums.push(paths);
    }
    expect(new Set(checksums.map((c) => c.join()))).toEqual(new Set([checksums[0].join()]));

    // Same project twice: deterministic ids, so the second run overwrites and adds nothing.
    const project = newProject();
    for (let i = 0; i < 2; i++)
      expect(
        (await runCli(project, ["--source", join(dir, "shop"), "--mapping", mapping, "--verify", "--no-ramp-up"], dir))
          .code,
      ).toBe(0);
    expect(await allDocuments(firestoreFor(project))).toHaveLength(32);
  });

  it("--dry-run prints the plan, conversions and errors and writes nothing", async () => {
    const dir = tmp();
    writeDump(dir, "shop", { orders: [...orders(10), ...badOrders("acme")] });
    const project = newProject();
    const report = join(dir, "plan.json");
    const res = await runCli(
      project,
      ["--source", dir, "--mapping", writeMapping(dir, ordersMapping), "--dry-run", "--report", report],
      dir,
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(
      "orders → tenants/{tenantId}/orders/{_id}: 15 documents, 10 to write, 5 with errors; conversions:",
    );
    expect(res.stdout).toMatch(/Decimal128→string 30, Int64→string 10, Int64→number 10, Binary→Bytes 10/);
    expect(res.stdout).toContain("tenants: 2 to create, 0 existing, 0 missing");
    expect(res.stdout).toContain("matrix[0]: nested array");
    expect(readJson<{ errors: unknown[] }>(report).errors).toHaveLength(5);
    expect(await allDocuments(firestoreFor(project))).toEqual([]);
  });

  it("creates or matches tenants and memberships as the mapping says", async () => {
    const dir = tmp();
    writeDump(dir, "crm", {
      orgs: [{ _id: "acme", title: "Acme" }],
      users: [
        { _id: oid(1), org: "acme", uid: "u1", role: ["admin", "member"], status: "active" },
        { _id: oid(2), org: "acme", uid: "u2", role: "member", status: "suspended" },
        { _id: oid(3), org: "initech", uid: "u3", role: "member", status: "active" },
        { _id: oid(4), org: "acme", uid: "u4", role: "member", status: "banned" },
      ],
    });
    const project = newProject();
    const db = firestoreFor(project);
    await db.doc("tenants/initech").set({ name: "Initech", status: "active", configVersion: 3 });
    const mapping = writeMapping(dir, {
      version: 1,
      tenants: { mode: "match" },
      collections: [
        { source: "orgs", target: "tenants/{tenantId}", tenant: { field: "_id" }, rename: { title: "name" } },
        {
          source: "users",
          target: "tenants/{tenantId}/members/{uid}",
          tenant: { field: "org" },
          drop: ["org", "uid", "role", "status"],
          membership: { roles: { field: "role" }, status: { field: "status" } },
        },
      ],
    });
    const res = await runCli(project, ["--source", dir, "--mapping", mapping, "--verify", "--no-ramp-up"], dir);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain("tenants: 0 created, 2 matched, 0 missing");
    expect((await db.doc("tenants/acme").get()).data()).toEqual({ name: "Acme", status: "active", configVersion: 1 });
    expect((await db.doc("tenants/initech").get()).data()).toEqual({
      name: "Initech",
      status: "active",
      configVersion: 3,
    });
    expect((await db.doc("tenants/acme/members/u1").get()).data()).toEqual({
      roles: ["admin", "member"],
      status: "active",
    });
    expect((await db.doc("tenants/acme/members/u2").get()).data()).toEqual({ roles: ["member"], status: "suspended" });
    expect((await db.doc("tenants/initech/members/u3").get()).data()).toEqual({ roles: ["member"], status: "active" });
    expect(readErrors(dir).map((e) => [e.collection, e.index, e.errors[0].field])).toEqual([["users", 3, "status"]]);

    // "match" never invents a tenant: members of an unknown tenant are errors, nothing is created.
    const other = newProject();
    writeDump(dir, "crm2", { users: [{ _id: oid(5), org: "nowhere", uid: "u5", role: "member", status: "active" }] });
    const res2 = await runCli(
      other,
      [
        "--source",
        join(dir, "crm2"),
        "--mapping",
        writeMapping(
          dir,
          {
            version: 1,
            tenants: { mode: "match" },
            collections: [JSON.parse(readFileSync(mapping, "utf8")).collections[1]],
          },
          "m2.json",
        ),
      ],
      dir,
    );
    expect(res2.code).toBe(1);
    expect(readErrors(dir)[0].errors[0].message).toBe('tenant nowhere does not exist (tenants.mode is "match")');
    expect(await allDocuments(firestoreFor(other))).toEqual([]);
  });

  it("--verify finds documents that were changed or deleted after the migration", async () => {
    const dir = tmp();
    writeDump(dir, "shop", { orders: orders(12) });
    const project = newProject();
    const mapping = writeMapping(dir, ordersMapping);
    expect((await runCli(project, ["--source", dir, "--mapping", mapping, "--no-ramp-up"], dir)).code).toBe(0);
    const db = firestoreFor(project);
    await db.doc(`tenants/acme/orders/${oid(1).toHexString()}`).update({ total: "1.11" });
    await db.doc(`tenants/globex/orders/${oid(2).toHexString()}`).delete();
    await db.doc("tenants/globex/orders/stray").set({ x: 1 });
    const res = await runCli(project, ["--source", dir, "--mapping", mapping, "--resume", "--verify"], dir);
    expect(res.code).toBe(1);
    const report = readJson<VerifyReport>(join(dir, ".migrate/verify-report.json"));
    expect(report.ok).toBe(false);
    expect(report.collections[0]).toMatchObject({
      expected: 12,
      matched: 10,
      missing: 1,
      mismatched: 1,
      targetDocuments: 12,
    });
    expect(report.collections[0].problems).toEqual([
      { index: 1, path: `tenants/acme/orders/${oid(1).toHexString()}`, problem: "checksum mismatch" },
      { index: 2, path: `tenants/globex/orders/${oid(2).toHexString()}`, problem: "missing" },
    ]);
  });

  describe("bad input is refused before any write", () => {
    const cases: [string, (dir: string) => string[], RegExp][] = [
      [
        "a mapping that fails validation",
        (dir) => [
          "--source",
          writeDump(dir, "shop", { orders: orders(3) }),
          "--mapping",
          writeMapping(dir, {
            version: 1,
            collections: [{ source: "orders", target: "orders/{_id}", tenant: { field: "orgId" } }],
          }),
        ],
        /invalid mapping .*mapping\.json:\n {2}- collections\.0 \(orders\)\.target: must start with "tenants\/\{tenantId\}"/,
      ],
      [
        "a mapping that is not JSON",
        (dir) => {
          writeFileSync(join(dir, "m.json"), "{ version: 1");
          return ["--source", writeDump(dir, "shop", { orders: orders(3) }), "--mapping", join(dir, "m.json")];
        },
        /invalid mapping .*m\.json:\n {2}- not valid JSON/,
      ],
      [
        "a dump whose last document is truncated",
        (dir) => {
          writeDump(dir, "shop", { orders: orders(50) });
          writeFileSync(join(dir, "shop/orders.bson"), BSON.serialize(typedOrder(99, "acme")).subarray(0, 30), {
            flag: "a",
          });
          return ["--source", dir, "--mapping", writeMapping(dir, ordersMapping)];
        },
        /orders\.bson: truncated BSON document at byte \d+/,
      ],
      [
        "an export with an invalid line",
        (dir) => {
          writeExport(join(dir, "orders.json"), orders(20));
          writeFileSync(join(dir, "orders.json"), '{"_id": {"$oid": "not-hex"}}\n', { flag: "a" });
          return ["--source", join(dir, "orders.json"), "--mapping", writeMapping(dir, ordersMapping)];
        },
        /orders\.json: line 21 is not valid Extended JSON/,
      ],
      [
        "a mapped collection the source does not have",
        (dir) => [
          "--source",
          writeDump(dir, "shop", { customers: orders(3) }),
          "--mapping",
          writeMapping(dir, ordersMapping),
        ],
        /no orders\.bson \(collections here: customers\)/,
      ],
    ];
    it.each(cases)("%s", async (_name, args, message) => {
      const dir = tmp();
      const project = newProject();
      const res = await runCli(project, args(dir), dir);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).toContain("nothing was written.");
      expect(await allDocuments(firestoreFor(project))).toEqual([]);
    });

    it("refuses unusable arguments with the usage", async () => {
      const dir = tmp();
      const project = newProject();
      const source = writeDump(dir, "shop", { orders: orders(2) });
      const mapping = writeMapping(dir, ordersMapping);
      for (const [args, message] of [
        [["--source", source], /--source and --mapping are required/],
        [
          ["--source", source, "--mapping", mapping, "--dry-run", "--verify"],
          /--dry-run writes nothing, so there is nothing to --verify/,
        ],
        [["--source", source, "--mapping", mapping, "--resume"], /--resume: no checkpoint at .*checkpoint\.json/],
        [["--source", source, "--mapping", mapping, "--bogus"], /Unknown option '--bogus'/],
      ] as const) {
        const res = await runCli(project, [...args], dir);
        expect(res.code).toBe(2);
        expect(res.stderr).toMatch(message);
      }
      expect(await allDocuments(firestoreFor(project))).toEqual([]);
    });

    it("--resume refuses a checkpoint written with another mapping", async () => {
      const dir = tmp();
      writeDump(dir, "shop", { orders: orders(4) });
      const project = newProject();
      expect(
        (await runCli(project, ["--source", dir, "--mapping", writeMapping(dir, ordersMapping), "--no-ramp-up"], dir))
          .code,
      ).toBe(0);
      const changed = writeMapping(dir, { ...ordersMapping, types: { int64: "string" } }, "changed.json");
      const res = await runCli(project, ["--source", dir, "--mapping", changed, "--resume"], dir);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/--resume: the mapping changed since .*checkpoint\.json was written/);
    });
  });
});
