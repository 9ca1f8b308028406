/**
 * Identity functions that do not need a tenant.
 */
import { callable } from "../platform/callable";
import { NoInput } from "../platform/validation";

/** `whoami`: returns the caller's uid and active tenant, proving the auth path end to end. */
export const whoami = callable(
  {
    name: "whoami",
    description: "Returns the caller's uid and the active tenant from their token.",
    input: NoInput,
    sessionless: true,
  },
  async ({ uid, principal }) => ({
    uid,
    tenantId: typeof principal.token.tid === "string" ? principal.token.tid : null,
  }),
);
