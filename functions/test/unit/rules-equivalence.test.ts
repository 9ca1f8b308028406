/**
 * storage.rules cannot be exercised here (no Storage emulator in the local stack), so this test
 * proves the next best thing: its membership, session and MFA conditions are exactly those of
 * firestore.rules, which test/rules/sessions-rules.test.ts does exercise. The two
 * `membership:begin/end` blocks must be identical once `firestore.get`/`firestore.exists`
 * (Storage's cross-service calls) are read as `get`/`exists` and comments are dropped; every
 * tenant path in storage.rules must go through `hasRole`, and nothing may read the token's roles.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "../../..");
const firestoreRules = readFileSync(join(ROOT, "firestore.rules"), "utf8");
const storageRules = readFileSync(join(ROOT, "storage.rules"), "utf8");

function membershipBlock(text: string): string {
  const block = /membership:begin([\s\S]*?)membership:end/.exec(text)?.[1];
  if (!block) throw new Error("no membership:begin/end block");
  return block
    .split("\n")
    .filter((line) => !line.trim().startsWith("//"))
    .join("\n")
    .replace(/firestore\.(get|exists)\(/g, "$1(")
    .replace(/\s+/g, " ")
    .trim();
}

/** The body of `function name(...)`, whitespace-normalised. */
function fnBody(text: string, name: string): string {
  const body = new RegExp(`function\\s+${name}\\s*\\(([^)]*)\\)\\s*\\{([^}]*)\\}`).exec(text);
  if (!body) throw new Error(`no function ${name}`);
  return body[2].replace(/\s+/g, " ").trim();
}

describe("storage.rules applies the same membership, session and MFA checks as firestore.rules", () => {
  it("has identical membership blocks, modulo cross-service call names", () => {
    expect(membershipBlock(storageRules)).toBe(membershipBlock(firestoreRules));
  });

  it("defines each helper with conditions on membership, tenant status, session and MFA", () => {
    const block = membershipBlock(storageRules);
    for (const condition of [
      "get(memberPath(tid)).data.status == 'active'",
      "get(tenantPath(tid)).data.status == 'active'",
      "get(sessionPath()).data.status == 'active'",
      "request.time < get(sessionPath()).data.idleExpiresAt",
      "get(mfaPath()).data.get('status', null) == 'enabled'",
      "get(tenantPath(tid)).data.get('mfaPolicyRoles', [])",
      "sessionOk() && mfaOk(tid)",
    ]) {
      expect(block).toContain(condition);
    }
  });

  it("points the path helpers at the same documents", () => {
    for (const name of ["memberPath", "tenantPath", "sessionPath", "mfaPath"]) {
      const fs = fnBody(firestoreRules, name).replace("/databases/$(database)/documents", "ROOT");
      const st = fnBody(storageRules, name).replace("/databases/(default)/documents", "ROOT");
      expect({ name, path: st }).toEqual({ name, path: fs });
    }
  });

  it("gates every tenant object on hasRole and never reads roles from the token", () => {
    const tenantBlock = /match \/tenants\/\{tid\}\/\{allPaths=\*\*\} \{([\s\S]*?)\n {4}\}/.exec(storageRules)?.[1];
    expect(tenantBlock).toBeDefined();
    const allows = [...(tenantBlock as string).matchAll(/allow ([a-z, ]+): if ([^;]+);/g)];
    expect(allows.map((a) => a[1].trim())).toEqual(["read", "create, update", "delete"]);
    for (const [, , condition] of allows) expect(condition).toMatch(/^hasRole\(tid, '(viewer|member|admin)'\)/);
    expect(storageRules).not.toMatch(/token\.roles/);
    expect(firestoreRules).not.toMatch(/token\.roles/);
  });

  it("is a real comparison (a dropped condition would be caught)", () => {
    const tampered = storageRules.replace("\n        && sessionOk()", "");
    expect(membershipBlock(tampered)).not.toBe(membershipBlock(firestoreRules));
  });
});
