/**
 * ListDocuments (collection.listDocuments(), which asks for showMissing) and
 * ListCollectionIds (db.listCollections(), doc.listCollections()).
 */
import { setupConformance } from "./helpers";

const ctx = setupConformance(__filename);

describe("ListDocuments", () => {
  it("lists the documents of a collection, including missing parents that only have subcollections", async () => {
    await ctx.db.doc("col/a").set({ v: 1 });
    await ctx.db.doc("col/c").set({ v: 3 });
    await ctx.db.doc("col/b/sub/x").set({ v: 2 }); // col/b itself does not exist
    await ctx.db.doc("other/z").set({ v: 9 });
    const refs = await ctx.db.collection("col").listDocuments();
    expect(refs.map((r) => r.id).sort()).toEqual(["a", "b", "c"]);
    expect((await ctx.db.doc("col/b").get()).exists).toBe(false);
  });

  it("lists documents of a nested collection only (not deeper descendants)", async () => {
    await ctx.db.doc("p/1/kids/k1").set({});
    await ctx.db.doc("p/1/kids/k2/kids/deep").set({});
    await ctx.db.doc("p/2/kids/k3").set({});
    const refs = await ctx.db.collection("p/1/kids").listDocuments();
    expect(refs.map((r) => r.path).sort()).toEqual(["p/1/kids/k1", "p/1/kids/k2"]);
  });

  it("returns an empty list for an empty collection", async () => {
    expect(await ctx.db.collection("nothing").listDocuments()).toEqual([]);
  });

  it("pages through a large collection (raw ListDocuments with pageSize)", async () => {
    const b = ctx.db.batch();
    for (let i = 0; i < 25; i++) b.set(ctx.db.doc(`paged/d${String(i).padStart(2, "0")}`), { i });
    await b.commit();
    const names: string[] = [];
    let request: any = { parent: ctx.docsRoot, collectionId: "paged", pageSize: 10 };
    let pages = 0;
    while (request && pages < 10) {
      const [docs, next] = await ctx.raw.listDocuments(request, { ...ctx.callOpts, autoPaginate: false });
      names.push(...docs.map((d: { name: string }) => d.name.split("/").pop()));
      request = next;
      pages++;
    }
    expect(names).toEqual(Array.from({ length: 25 }, (_, i) => `d${String(i).padStart(2, "0")}`));
    expect(pages).toBe(3);
  });
});

describe("ListCollectionIds", () => {
  it("lists root collections, including one whose only documents are nested under a missing document", async () => {
    await ctx.db.doc("users/u1").set({});
    await ctx.db.doc("tenants/t1").set({});
    await ctx.db.doc("ghost/g/deeper/d").set({});
    const cols = await ctx.db.listCollections();
    expect(cols.map((c) => c.id).sort()).toEqual(["ghost", "tenants", "users"]);
  });

  it("lists the subcollections of a document (existing or missing), not deeper ones", async () => {
    await ctx.db.doc("tenants/t1").set({});
    await ctx.db.doc("tenants/t1/members/m1").set({});
    await ctx.db.doc("tenants/t1/invites/i1").set({});
    await ctx.db.doc("tenants/t1/members/m1/sessions/s1").set({});
    await ctx.db.doc("tenants/t2/audit/a1").set({}); // tenants/t2 missing
    const t1 = await ctx.db.doc("tenants/t1").listCollections();
    expect(t1.map((c) => c.id).sort()).toEqual(["invites", "members"]);
    const t2 = await ctx.db.doc("tenants/t2").listCollections();
    expect(t2.map((c) => c.id)).toEqual(["audit"]);
    expect(await ctx.db.doc("tenants/none").listCollections()).toEqual([]);
  });

  it("no longer lists a collection once all its documents are deleted", async () => {
    await ctx.db.doc("tmp/x").set({});
    await ctx.db.doc("keep/y").set({});
    await ctx.db.doc("tmp/x").delete();
    expect((await ctx.db.listCollections()).map((c) => c.id)).toEqual(["keep"]);
  });
});
