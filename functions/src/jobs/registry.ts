/**
 * The job types this deployment runs: the core's own, and an app adds its `defineJob(…)` types to
 * `TYPES`. `runJob` and `enqueueJob` look types up here, nowhere else.
 */
import { runtime } from "../platform/config";
import type { JobDefinition } from "../platform/jobs";
import { exampleSteps } from "./types/example-steps";
import { secretsReencrypt } from "./types/secrets-reencrypt";
import { tenantExport } from "./types/tenant-export";
import { tenantPurge } from "./types/tenant-purge";

const TYPES: readonly JobDefinition[] = [secretsReencrypt, tenantPurge, tenantExport];

let types: Map<string, JobDefinition> | undefined;

/** Every registered job type by name (a `Map`: a caller-supplied name never reaches a prototype). */
export function jobTypes(): ReadonlyMap<string, JobDefinition> {
  if (!types) {
    const all = [...TYPES, ...(runtime.isEmulator() ? [exampleSteps as JobDefinition] : [])];
    types = new Map();
    for (const type of all) {
      if (types.has(type.type)) throw new Error(`job type ${type.type} is defined twice`);
      types.set(type.type, type);
    }
  }
  return types;
}
