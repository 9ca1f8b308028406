/**
 * The tenant-scoped data layer: a Firestore facade bound to one tenant that can only address
 * documents under `tenants/{tenantId}`.
 *
 * Every path a handler passes is relative to the tenant root and is checked segment by segment
 * before any Firestore call is made: absolute paths, "." and "..", empty segments, reserved
 * `__x__` ids and control characters throw. Collection-group queries are bounded to the
 * tenant's subtree with a `__name__` range, so they can never match another tenant's documents.
 *
 * It returns real SDK references (transactions and batches need them); module code must not
 * navigate out of them with `.parent` or `.firestore` — the lint config forbids both outside
 * platform code.
 */
import type {
  CollectionReference,
  DocumentData,
  DocumentReference,
  Firestore,
  Query,
  Transaction,
  WriteBatch,
} from "firebase-admin/firestore";
import { FieldPath } from "../platform/firestore-sdk";
import { AppError } from "../platform/errors";

/**
 * A path that would leave the tenant, or is not a legal Firestore path. It is an `AppError`
 * (`invalid-argument`, reason `illegal-path`): when an unvalidated client id reaches the data
 * layer, the caller gets a client error, not `internal`, and nothing was touched.
 */
export class TenantPathError extends AppError {
  constructor(message: string) {
    super("invalid-argument", message, { reason: "illegal-path" });
    this.name = "TenantPathError";
  }
}

// Firestore ids may not be "." or "..", may not match __.*__, and may not contain "/".
// Control characters and whitespace-only ids are refused as well: nothing legitimate uses them.
const RESERVED = /^__.*__$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_SEGMENT_BYTES = 1500;

/** Throws unless `segment` is a safe single Firestore path segment. */
export function assertSafeSegment(segment: string): void {
  if (
    typeof segment !== "string" ||
    segment.length === 0 ||
    segment === "." ||
    segment === ".." ||
    RESERVED.test(segment) ||
    CONTROL.test(segment) ||
    segment.trim().length === 0 ||
    segment.includes("/") ||
    Buffer.byteLength(segment) > MAX_SEGMENT_BYTES
  ) {
    throw new TenantPathError(`Illegal path segment ${JSON.stringify(String(segment)).slice(0, 80)}`);
  }
}

/** True when `segment` is a safe single Firestore path segment (see `assertSafeSegment`). */
export function isSafeSegment(segment: unknown): segment is string {
  try {
    assertSafeSegment(segment as string);
    return true;
  } catch {
    return false;
  }
}

/** Splits a tenant-relative path and checks every segment. */
export function safeSegments(path: string): string[] {
  if (typeof path !== "string" || path.startsWith("/") || path.endsWith("/")) {
    throw new TenantPathError("Paths are relative to the tenant and have no leading or trailing '/'");
  }
  const segments = path.split("/");
  segments.forEach(assertSafeSegment);
  return segments;
}

/** A Firestore facade that can only address `tenants/{tenantId}/…`. */
export class TenantDb {
  readonly root: string;

  constructor(
    readonly tenantId: string,
    private readonly firestore: Firestore,
  ) {
    assertSafeSegment(tenantId);
    this.root = `tenants/${tenantId}`;
  }

  /** The tenant document itself. */
  tenantDoc(): DocumentReference {
    return this.firestore.doc(this.root);
  }

  /** A document at a tenant-relative path such as `payments/p1`. */
  doc(path: string): DocumentReference {
    const segments = safeSegments(path);
    if (segments.length % 2 !== 0) throw new TenantPathError(`Not a document path: ${path}`);
    return this.firestore.doc(`${this.root}/${segments.join("/")}`);
  }

  /** A collection at a tenant-relative path such as `payments` or `payments/p1/refunds`. */
  collection(path: string): CollectionReference {
    const segments = safeSegments(path);
    if (segments.length % 2 !== 1) throw new TenantPathError(`Not a collection path: ${path}`);
    return this.firestore.collection(`${this.root}/${segments.join("/")}`);
  }

  /**
   * A collection-group query limited to this tenant's subtree. Firestore orders document names
   * segment by segment, so every document below `tenants/{tid}` sorts after the tenant document
   * itself and before `tenants/{tid}\u0000`, the next possible sibling id.
   */
  collectionGroup(collectionId: string): Query {
    assertSafeSegment(collectionId);
    return this.firestore
      .collectionGroup(collectionId)
      .orderBy(FieldPath.documentId())
      .startAfter(this.root)
      .endBefore(`${this.root}\u0000`);
  }

  /** Runs a Firestore transaction (the SDK retries on contention). */
  runTransaction<T>(fn: (tx: Transaction) => Promise<T>, options?: { maxAttempts?: number }): Promise<T> {
    return this.firestore.runTransaction(fn, options);
  }

  batch(): WriteBatch {
    return this.firestore.batch();
  }

  /** Reads several tenant documents in one round trip. */
  async getAll(...refs: DocumentReference[]): Promise<FirebaseFirestore.DocumentSnapshot<DocumentData>[]> {
    refs.forEach((ref) => this.assertOwns(ref));
    return refs.length === 0 ? [] : this.firestore.getAll(...refs);
  }

  /** Throws unless `ref` lies inside this tenant (defence in depth for refs passed around). */
  assertOwns(ref: DocumentReference | CollectionReference): void {
    if (!ref.path.startsWith(`${this.root}/`)) {
      throw new TenantPathError(`Reference outside tenant ${this.tenantId}`);
    }
  }
}
