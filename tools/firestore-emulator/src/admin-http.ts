/**
 * The emulator's plain-HTTP endpoints: health, data clearing (the call firebase-tools and
 * @firebase/rules-unit-testing make against FIRESTORE_EMULATOR_HOST) and operation accounting.
 */
import { Emulator } from "./emulator";
import { AdminHandler, AdminResponse } from "./server";

const CLEAR = /^\/emulator\/v1\/projects\/([^/]+)\/databases\/([^/]+)\/documents\/?$/;
const OPS = /^\/emulator\/v1\/projects\/([^/]+)\/operations\/?$/;

const json = (status: number, body: unknown): AdminResponse => ({
  status,
  body: JSON.stringify(body),
  contentType: "application/json; charset=utf-8",
});

/** Builds the admin request handler for an emulator instance. */
export function adminHandler(emu: Emulator): AdminHandler {
  return ({ method, path }) => {
    let p: string;
    try {
      p = decodeURIComponent(path.split("?")[0]);
    } catch {
      return json(400, { error: "malformed path" });
    }
    if (p === "/" && method === "GET") return { status: 200, body: "Ok", contentType: "text/plain; charset=utf-8" };
    let m = CLEAR.exec(p);
    if (m) {
      if (method !== "DELETE") return json(405, { error: "use DELETE" });
      emu.clearDatabase(m[1], m[2]);
      return json(200, {});
    }
    m = OPS.exec(p);
    if (m) {
      if (method === "GET") return json(200, emu.opsOf(m[1]).toJSON());
      if (method === "DELETE") {
        emu.opsOf(m[1]).reset();
        return json(200, {});
      }
      return json(405, { error: "use GET or DELETE" });
    }
    return json(404, { error: `no route for ${method} ${p}` });
  };
}
