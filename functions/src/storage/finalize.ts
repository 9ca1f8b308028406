/**
 * What happens when Cloud Storage finalizes an object: the `onObjectFinalized` trigger's handler.
 * An object at `tenants/{tid}/files/{fileId}` completes its pending record when its size and
 * content type are the ones that were signed; otherwise, or when no pending record wants it,
 * the object is deleted (only that generation) and, for a mismatch, the record marked failed
 * with its reservation given back. Storage delivers events at least once: a repeated event for
 * the same generation changes nothing.
 */
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { objectStore, type ObjectStore } from "./objects";
import { parseFileObjectPath } from "./paths";
import { finalizeFile, type FinalizeOutcome } from "./records";
import { tenantDbFor } from "./store";

/** The fields of a Storage object event the handler reads (StorageObjectData). */
export interface ObjectEvent {
  bucket: string;
  name: string;
  size: string | number;
  contentType?: string;
  generation: string | number;
  md5Hash?: string;
  crc32c?: string;
}

export interface FinalizeDeps {
  /** The bucket tenant files live in; events from any other bucket are ignored. */
  bucket: string;
  store?: ObjectStore;
}

/** Handles one finalized object; returns what it did (also counted in `files_finalized_total`). */
export async function handleObjectFinalized(
  object: ObjectEvent,
  deps: FinalizeDeps,
): Promise<FinalizeOutcome | "ignored"> {
  const target = parseFileObjectPath(object.name);
  if (object.bucket !== deps.bucket || !target) return "ignored";
  const generation = String(object.generation);
  const outcome = await finalizeFile(tenantDbFor(target.tenantId), target.fileId, {
    size: Number(object.size),
    contentType: object.contentType ?? "",
    generation,
    md5Hash: object.md5Hash,
    crc32c: object.crc32c,
  });
  if (outcome === "size-mismatch" || outcome === "content-type-mismatch" || outcome === "orphan") {
    // The decision is about this generation only; a delete never touches any other.
    await (deps.store ?? objectStore()).delete(object.name, generation);
  }
  const fields = { tenantId: target.tenantId, fileId: target.fileId, generation, outcome };
  if (outcome === "ready" || outcome === "duplicate") log.info("file object finalized", fields);
  else log.warn("file object refused", fields);
  metrics.inc("files_finalized_total", { outcome });
  return outcome;
}
