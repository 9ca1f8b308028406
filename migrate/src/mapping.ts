/**
 * The mapping file: which source collections go where in the tenant-scoped data model, where each
 * document's tenant comes from, field renames and drops, references and type policies. Parsed with
 * zod and checked as a whole before anything is read or written.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";

/** Tenant ids as the functions codebase accepts them (platform/validation.ts, `TenantId`). */
export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const COLLECTION_ID = /^[A-Za-z0-9_-]{1,128}$/;
const FIELD_PATH = /^[^.]+(\.[^.]+)*$/;

const FieldPath = z.string().regex(FIELD_PATH, "must be a field path such as `total` or `customer.name`");
const FromField = z.strictObject({ field: FieldPath });

/** How values without an exact Firestore equivalent are written. */
export const TypePolicies = z.strictObject({
  /** Decimal128: "string" keeps every digit; "number" is allowed only where the double is exact. */
  decimal128: z.enum(["string", "number"]).default("string"),
  /** Int64: "auto" writes a number when |v| ≤ 2^53 − 1 and a string beyond; "string" always a string. */
  int64: z.enum(["auto", "string"]).default("auto"),
});
export type TypePolicies = z.infer<typeof TypePolicies>;

const Template = z.string().min(1);

const CollectionMapping = z.strictObject({
  /** Source collection name (mongodump/mongoexport file stem or live collection). */
  source: z.string().min(1),
  /** Firestore document path template, e.g. `tenants/{tenantId}/orders/{_id}`. */
  target: Template,
  /** Where the tenant id comes from: a field of the document or one constant tenant. */
  tenant: z.union([
    FromField,
    z.strictObject({ value: z.string().regex(TENANT_ID, "must be 1-128 letters, digits, '-' or '_'") }),
  ]),
  /** Source field path → target field path, applied before conversion (so it can fix invalid names). */
  rename: z.record(FieldPath, FieldPath).default({}),
  /** Source field paths left out of the target. `_id` is always left out (it is the document id) unless renamed. */
  drop: z.array(FieldPath).default([]),
  /** Target field path → document path template with `{value}`: ids there become DocumentReferences. */
  references: z.record(FieldPath, Template).default({}),
  types: TypePolicies.partial().default({}),
  /** For targets under `members/`: the roles and status every membership document needs. */
  membership: z
    .strictObject({
      roles: z.union([FromField, z.strictObject({ value: z.array(z.string().regex(TENANT_ID)).min(1) })]),
      status: z
        .union([FromField, z.strictObject({ value: z.enum(["active", "suspended"]) })])
        .default({ value: "active" }),
    })
    .optional(),
});

export const MappingSchema = z.strictObject({
  version: z.literal(1),
  /** Database to read in a mongodump directory holding several, or on a live server. */
  database: z.string().min(1).optional(),
  /** Tenants the documents belong to: created when missing, or required to exist already. */
  tenants: z
    .strictObject({ mode: z.enum(["create", "match"]), status: z.enum(["active", "suspended"]).default("active") })
    .default({ mode: "match" }),
  types: TypePolicies.default({}),
  collections: z.array(CollectionMapping).min(1),
});

export type CollectionMapping = z.infer<typeof CollectionMapping> & {
  /** The target template split into segments. */
  segments: Segment[];
  /** Effective type policies (collection over file-wide). */
  policies: TypePolicies;
  /** True when the target is the tenant document itself (`tenants/{tenantId}`). */
  isTenantDoc: boolean;
};
export type Mapping = Omit<z.infer<typeof MappingSchema>, "collections"> & {
  collections: CollectionMapping[];
  hash: string;
};

/** A path segment: a literal id or a `{placeholder}` (`tenantId`, `_id` or a field path). */
export type Segment = { literal: string } | { field: string };

/** A mapping file that cannot be used; `issues` lists each problem with its location. */
export class MappingError extends Error {
  constructor(
    readonly file: string,
    readonly issues: string[],
  ) {
    super(`invalid mapping ${file}:\n${issues.map((i) => `  - ${i}`).join("\n")}`);
    this.name = "MappingError";
  }
}

function parseTemplate(template: string, where: string, issues: string[], extra: string[] = []): Segment[] {
  const parts = template.split("/");
  return parts.map((part, i) => {
    const m = /^\{([^{}]+)\}$/.exec(part);
    if (m) {
      if (i % 2 === 0) issues.push(`${where}: collection segment ${i + 1} ("${part}") must be a literal collection id`);
      if (!FIELD_PATH.test(m[1]) && !extra.includes(m[1]))
        issues.push(`${where}: placeholder "${part}" is not a field path`);
      return { field: m[1] };
    }
    if (part.includes("{") || part.includes("}"))
      issues.push(`${where}: segment "${part}" must be either a literal or one whole {placeholder}`);
    else if (!COLLECTION_ID.test(part) && i % 2 === 0) issues.push(`${where}: "${part}" is not a valid collection id`);
    else if (part === "" || part === "." || part === ".." || /^__.*__$/.test(part))
      issues.push(`${where}: "${part}" is not a valid document id`);
    return { literal: part };
  });
}

/** Locations of `__proto__` keys, which zod would silently drop from records (renames, references). */
function protoKeys(value: unknown, at: string[] = []): string[] {
  if (typeof value !== "object" || value === null) return [];
  return Object.keys(value).flatMap((k) =>
    k === "__proto__" ? [[...at, k].join(".")] : protoKeys((value as Record<string, unknown>)[k], [...at, k]),
  );
}

/** Parses and checks mapping JSON; throws `MappingError` listing every problem. */
export function parseMapping(json: unknown, file = "<mapping>"): Mapping {
  const proto = protoKeys(json);
  if (proto.length > 0)
    throw new MappingError(
      file,
      proto.map((p) => `${p}: "__proto__" cannot be used as a key`),
    );
  const parsed = MappingSchema.safeParse(json);
  if (!parsed.success) {
    throw new MappingError(
      file,
      parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`),
    );
  }
  const issues: string[] = [];
  const seen = new Set<string>();
  const collections = parsed.data.collections.map((c, n) => {
    const where = `collections.${n} (${c.source})`;
    if (seen.has(c.source)) issues.push(`${where}: source collection "${c.source}" is mapped twice`);
    seen.add(c.source);
    const segments = parseTemplate(c.target, `${where}.target`, issues);
    if (segments.length % 2 !== 0)
      issues.push(`${where}.target: "${c.target}" has ${segments.length} segments; a document path has an even number`);
    const [first, second] = segments;
    // Tenant isolation: every target lives under the document's own tenant.
    if (!(
      first &&
      "literal" in first &&
      first.literal === "tenants" &&
      second &&
      "field" in second &&
      second.field === "tenantId"
    )) {
      issues.push(`${where}.target: must start with "tenants/{tenantId}" (every document belongs to a tenant)`);
    }
    const isTenantDoc = segments.length === 2;
    const membersTarget = segments.length === 4 && "literal" in segments[2] && segments[2].literal === "members";
    if (membersTarget && !c.membership)
      issues.push(`${where}.membership: required for a target under members/ (roles and status)`);
    if (!membersTarget && c.membership)
      issues.push(`${where}.membership: only allowed for targets "tenants/{tenantId}/members/{uid}"`);
    for (const [from, to] of Object.entries(c.rename)) {
      if (c.drop.includes(from)) issues.push(`${where}.rename.${from}: the field is also dropped`);
      if (to.split(".").some((p) => /^__.*__$/.test(p)))
        issues.push(`${where}.rename.${from}: "${to}" is a reserved Firestore field name`);
    }
    for (const [field, template] of Object.entries(c.references)) {
      const refSegments = parseTemplate(template, `${where}.references.${field}`, issues, ["value"]);
      if (refSegments.length % 2 !== 0)
        issues.push(`${where}.references.${field}: "${template}" is not a document path`);
      if (!refSegments.some((s) => "field" in s && s.field === "value"))
        issues.push(`${where}.references.${field}: "${template}" must contain {value}`);
    }
    return { ...c, segments, isTenantDoc, policies: { ...parsed.data.types, ...c.types } };
  });
  if (issues.length > 0) throw new MappingError(file, issues);
  const hash = createHash("sha256").update(JSON.stringify(parsed.data)).digest("hex");
  return { ...parsed.data, collections, hash };
}

/** Reads and parses a mapping file (JSON). */
export function loadMapping(file: string): Mapping {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new MappingError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MappingError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseMapping(json, file);
}
