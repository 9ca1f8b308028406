/**
 * The reference console: every panel is a few calls of @saas-core/client. Plain DOM on purpose,
 * so what the library does is what you read.
 */
import {
  acceptInvitation,
  appError,
  confirmMfa,
  createRole,
  createSessionManager,
  createWebhookEndpoint,
  deleteFile,
  enqueueJob,
  enrollMfa,
  fieldErrors,
  getDownloadUrl,
  getMfaStatus,
  getUploadUrl,
  idempotent,
  indexedDbStorage,
  inviteMember,
  isAppError,
  listDeadLetters,
  listFiles,
  listInvitations,
  listJobs,
  listMembers,
  listMyInvitations,
  listRoles,
  listSessions,
  listWebhookDeliveries,
  listWebhookEndpoints,
  removeMember,
  replayDeadLetters,
  revokeInvitation,
  revokeSession,
  sendTestWebhook,
  switchTenant,
  updateFile,
  whoami,
  type SessionManager,
} from "@saas-core/client";
import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from "firebase/auth";
import { connectFirestoreEmulator, doc, getFirestore, onSnapshot } from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions } from "firebase/functions";

const env = import.meta.env;
const app = initializeApp({ projectId: env.VITE_PROJECT_ID ?? "demo-saas-core", apiKey: "demo-key" });
const auth = getAuth(app);
const functions = getFunctions(app, env.VITE_REGION ?? "us-central1");
if (env.VITE_AUTH_EMULATOR) connectAuthEmulator(auth, env.VITE_AUTH_EMULATOR, { disableWarnings: true });
const db = getFirestore(app);
if (env.VITE_FIRESTORE_EMULATOR) {
  const [host, port] = String(env.VITE_FIRESTORE_EMULATOR).split(":");
  connectFirestoreEmulator(db, host, Number(port));
}
if (env.VITE_FUNCTIONS_EMULATOR) {
  const origin = new URL(env.VITE_FUNCTIONS_EMULATOR);
  connectFunctionsEmulator(functions, origin.hostname, Number(origin.port));
}

const root = document.querySelector<HTMLElement>("#app")!;
const who = document.querySelector<HTMLElement>("#who")!;

const session: SessionManager = createSessionManager({
  auth,
  functions,
  storage: indexedDbStorage(),
  onSignedOut: (reason) => {
    who.textContent = reason ? `Signed out (${reason})` : "Signed out";
    renderSignIn();
  },
});

// --- small DOM helpers -------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function section(id: string, title: string): HTMLElement {
  const s = el("section", { id, "data-testid": id }, el("h2", {}, title));
  root.append(s);
  return s;
}

function table(headers: string[], rows: (Node | string)[][]): HTMLTableElement {
  return el(
    "table",
    {},
    el("tr", {}, ...headers.map((h) => el("th", {}, h))),
    ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))),
  );
}

function button(label: string, onClick: () => Promise<unknown>, testId?: string): HTMLButtonElement {
  const b = el("button", { type: "button", ...(testId ? { "data-testid": testId } : {}) }, label);
  b.addEventListener("click", () => void run(b.parentElement!, onClick));
  return b;
}

/** Runs an action, showing a failure in `where`'s status line (the message and reason, never a stack). */
async function run(where: HTMLElement, action: () => Promise<unknown>): Promise<void> {
  const status = where.querySelector(":scope > .status") ?? where.appendChild(el("p", { class: "status" }));
  status.textContent = "";
  status.className = "status";
  try {
    await action();
  } catch (error) {
    const parsed = appError(error);
    status.className = "status error";
    status.textContent = parsed
      ? `${parsed.code}${parsed.reason ? ` (${parsed.reason})` : ""}: ${parsed.message}`
      : String(error);
  }
}

interface Field {
  name: string;
  label: string;
  type?: string;
  value?: string;
}

/**
 * A form whose submit calls `submit(values)`. An `invalid-argument` answer puts each of the
 * server's field errors next to its field (`details.fields`, keyed by the input's field path).
 */
function form(
  fields: Field[],
  submitLabel: string,
  submit: (values: Record<string, string>) => Promise<unknown>,
  testId: string,
) {
  const f = el("form", { "data-testid": testId });
  for (const field of fields) {
    const input = el("input", { name: field.name, type: field.type ?? "text", value: field.value ?? "" });
    f.append(el("label", {}, field.label, input, el("span", { class: "field-error", "data-field": field.name })));
  }
  f.append(el("button", { type: "submit" }, submitLabel));
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(f).entries()) as Record<string, string>;
    void run(f, async () => {
      await withFieldErrors(f, () => submit(values));
    });
  });
  return f;
}

/** Runs `action`; an `invalid-argument` answer puts each field error in the form's slot for it. */
async function withFieldErrors<T>(f: HTMLFormElement, action: () => Promise<T>): Promise<T> {
  for (const e of f.querySelectorAll(".field-error")) e.textContent = "";
  try {
    return await action();
  } catch (error) {
    for (const [path, messages] of Object.entries(fieldErrors(error))) {
      const slot = f.querySelector(`.field-error[data-field="${CSS.escape(path.split(".")[0])}"]`);
      if (slot) slot.textContent = messages.join("; ");
    }
    throw error;
  }
}

const list = (value: string) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : "—");

// --- sign-in ----------------------------------------------------------------------------------

function renderSignIn(): void {
  root.replaceChildren();
  const s = section("sign-in", "Sign in");
  const needCode = el("p", { class: "status" });
  s.append(
    form(
      [
        { name: "email", label: "Email", type: "email", value: "owner@demo.test" },
        { name: "password", label: "Password", type: "password" },
        { name: "code", label: "Authenticator code (when MFA is on)" },
      ],
      "Sign in",
      async ({ email, password, code }) => {
        await signInWithEmailAndPassword(auth, email, password);
        try {
          await session.start({ label: navigator.userAgent.slice(0, 60), ...(code ? { code } : {}) });
        } catch (error) {
          if (isAppError(error, "mfa-code-required")) needCode.textContent = "This account has MFA: enter a code.";
          throw error;
        }
        await renderConsole();
      },
      "sign-in-form",
    ),
    needCode,
  );
}

// --- the console ------------------------------------------------------------------------------

async function renderConsole(): Promise<void> {
  root.replaceChildren();
  const me = await whoami(session);
  who.textContent = `${auth.currentUser?.email} · tenant ${me.tenantId ?? "none"}`;
  who.append(
    " ",
    button("Sign out", () => session.signOut(), "sign-out"),
  );
  renderTenant();
  await Promise.all([
    renderMembers(),
    renderRoles(),
    renderSessions(),
    renderMfa(),
    renderWebhooks(),
    renderDeadLetters(),
    renderJobs(me.tenantId),
    renderFiles(),
  ]);
}

function renderTenant(): void {
  const s = section("tenant", "Tenant");
  s.append(
    form(
      [{ name: "tenantId", label: "Switch to tenant id" }],
      "Switch",
      async ({ tenantId }) => {
        await switchTenant(session, { tenantId });
        await auth.currentUser!.getIdToken(true);
        await renderConsole();
      },
      "switch-tenant-form",
    ),
  );
  const mine = el("div");
  s.append(el("h3", {}, "Invitations to me"), mine);
  void run(s, async () => {
    const { invitations } = await listMyInvitations(session);
    mine.replaceChildren(
      table(
        ["tenant", "roles", ""],
        invitations.map((i) => [
          i.tenantName,
          i.roles.join(", "),
          button("Accept", async () => {
            await acceptInvitation(session, { invitationId: i.invitationId });
            await renderConsole();
          }),
        ]),
      ),
    );
  });
}

async function renderMembers(): Promise<void> {
  const s = section("members", "Members and invitations");
  const members = el("div");
  const invitations = el("div");
  const refresh = async () => {
    const [m, i] = await Promise.all([listMembers(session), listInvitations(session)]);
    members.replaceChildren(
      table(
        ["email", "roles", "status", ""],
        m.members.map((x) => [
          x.email ?? x.uid,
          x.roles.join(", "),
          x.status,
          button("Remove", async () => {
            await removeMember(session, { uid: x.uid });
            await refresh();
          }),
        ]),
      ),
    );
    invitations.replaceChildren(
      table(
        ["email", "roles", "status", "expires", ""],
        i.invitations.map((x) => [
          x.email,
          x.roles.join(", "),
          x.status,
          when(x.expiresAt),
          x.status === "pending"
            ? button("Revoke", async () => {
                await revokeInvitation(session, { invitationId: x.invitationId });
                await refresh();
              })
            : "",
        ]),
      ),
    );
  };
  s.append(
    members,
    el("h3", {}, "Invite"),
    form(
      [
        { name: "email", label: "Email", type: "text" },
        { name: "roles", label: "Roles (comma-separated)", value: "member" },
      ],
      "Invite",
      async ({ email, roles }) => {
        await inviteMember(session, { email, roles: list(roles) });
        await refresh();
      },
      "invite-form",
    ),
    invitations,
  );
  await run(s, refresh);
}

async function renderRoles(): Promise<void> {
  const s = section("roles", "Roles");
  const roles = el("div");
  const refresh = async () => {
    const r = await listRoles(session);
    roles.replaceChildren(
      table(
        ["role", "inherits", "permissions"],
        r.roles.map((x) => [
          x.id + (x.builtIn ? " (built-in)" : ""),
          x.inherits.join(", "),
          x.effectivePermissions.join(", "),
        ]),
      ),
    );
  };
  s.append(
    roles,
    form(
      [
        { name: "roleId", label: "Role id" },
        { name: "permissions", label: "Permissions (comma-separated)" },
        { name: "inherits", label: "Inherits" },
      ],
      "Create role",
      async ({ roleId, permissions, inherits }) => {
        await createRole(session, { roleId, permissions: list(permissions), inherits: list(inherits) });
        await refresh();
      },
      "role-form",
    ),
  );
  await run(s, refresh);
}

async function renderSessions(): Promise<void> {
  const s = section("sessions", "Sessions");
  const body = el("div");
  const refresh = async () => {
    const { sessions } = await listSessions(session);
    body.replaceChildren(
      table(
        ["device", "mfa", "last used", ""],
        sessions.map((x) => [
          x.label + (x.current ? " (this one)" : ""),
          x.mfa ? "yes" : "no",
          when(x.lastUsedAt),
          x.current
            ? ""
            : button("Revoke", async () => {
                await revokeSession(session, { sessionId: x.sessionId });
                await refresh();
              }),
        ]),
      ),
    );
  };
  const rotated = el("p", { "data-testid": "rotated" });
  s.append(
    body,
    // Rotates the refresh token now (it also happens on its own before the session idles out).
    button(
      "Rotate refresh token now",
      async () => {
        const current = await session.refresh();
        rotated.textContent = `Rotated: session ${current.sessionId}, token …${current.refreshToken.slice(-6)}`;
        await refresh();
      },
      "rotate",
    ),
    rotated,
  );
  await run(s, refresh);
}

async function renderMfa(): Promise<void> {
  const s = section("mfa", "Two-factor authentication");
  const body = el("div");
  const refresh = async () => {
    const status = await getMfaStatus(session);
    body.replaceChildren(el("p", { "data-testid": "mfa-status" }, status.enrolled ? "MFA is on." : "MFA is off."));
    if (status.enrolled) return;
    body.append(
      button(
        "Enrol an authenticator app",
        async () => {
          const enrolment = await enrollMfa(session);
          const qr = el("div", { class: "qr", "data-testid": "mfa-qr" });
          // The server renders the QR code; it is our own SVG, not user content.
          qr.innerHTML = enrolment.qrCodeSvg;
          body.append(
            qr,
            el("p", {}, "Or type this secret: ", el("code", { "data-testid": "mfa-secret" }, enrolment.secret)),
            form(
              [{ name: "code", label: "Code from the app" }],
              "Confirm",
              async ({ code }) => {
                const { recoveryCodes } = await confirmMfa(session, { code });
                body.replaceChildren(
                  el("p", { "data-testid": "mfa-status" }, "MFA is on."),
                  el("p", {}, "Recovery codes (shown once):"),
                  el("pre", { "data-testid": "recovery-codes" }, recoveryCodes.join("\n")),
                );
              },
              "mfa-confirm-form",
            ),
          );
        },
        "mfa-enrol",
      ),
    );
  };
  s.append(body);
  await run(s, refresh);
}

async function renderWebhooks(): Promise<void> {
  const s = section("webhooks", "Webhook endpoints");
  const endpoints = el("div");
  const deliveries = el("div", { "data-testid": "deliveries" });
  const showDeliveries = async (endpointId: string) => {
    const { items } = await listWebhookDeliveries(session, { endpointId });
    deliveries.replaceChildren(
      el("h3", {}, `Deliveries of ${endpointId}`),
      table(
        ["event", "status", "attempts", "last"],
        items.map((d) => [
          d.eventType,
          d.status,
          String(d.attemptCount),
          d.attempts.at(-1)?.error ?? String(d.attempts.at(-1)?.statusCode ?? ""),
        ]),
      ),
    );
  };
  const refresh = async () => {
    const { items } = await listWebhookEndpoints(session);
    endpoints.replaceChildren(
      table(
        ["url", "events", "status", ""],
        items.map((e) => [
          e.url,
          e.eventTypes.join(", "),
          e.status,
          el(
            "span",
            {},
            button(
              "Send test",
              async () => {
                await sendTestWebhook(session, { endpointId: e.id });
                await showDeliveries(e.id);
              },
              `test-${e.id}`,
            ),
            button("Deliveries", () => showDeliveries(e.id), `deliveries-${e.id}`),
          ),
        ]),
      ),
    );
  };
  s.append(
    endpoints,
    form(
      [
        { name: "url", label: "URL (https)" },
        { name: "eventTypes", label: "Event types", value: "*" },
      ],
      "Add endpoint",
      async ({ url, eventTypes }) => {
        await createWebhookEndpoint(session, { url, eventTypes: list(eventTypes) });
        await refresh();
      },
      "endpoint-form",
    ),
    deliveries,
  );
  await run(s, refresh);
}

async function renderDeadLetters(): Promise<void> {
  const s = section("dead-letters", "Dead letters");
  const body = el("div");
  const refresh = async () => {
    const { items } = await listDeadLetters(session, { status: "open" });
    body.replaceChildren(
      table(
        ["source", "reference", "attempts", "last error", ""],
        items.map((d) => [
          d.source,
          d.reference,
          String(d.attempts),
          d.lastError,
          button("Replay", async () => {
            await replayDeadLetters(session, { ids: [d.id] });
            await refresh();
          }),
        ]),
      ),
    );
  };
  s.append(body);
  await run(s, refresh);
}

// Resume a stored session (rotating it), else ask to sign in.
session
  .resume()
  .then((resumed) => (resumed && auth.currentUser ? renderConsole() : renderSignIn()))
  .catch(() => renderSignIn());

async function renderJobs(tenantId: string | null): Promise<void> {
  const s = section("jobs", "Jobs");
  const body = el("div");
  const live = el("div", { "data-testid": "job-live" });
  const refresh = async () => {
    const { items } = await listJobs(session);
    body.replaceChildren(
      table(
        ["type", "status", "progress", "created"],
        items.map((j) => [j.type, j.status, `${j.progress.done}/${j.progress.total ?? "?"}`, when(j.createdAt)]),
      ),
    );
  };
  /** Watches the job record under firestore.rules: every progress write shows as it happens. */
  const watch = (jobId: string) => {
    const bar = el("progress", { max: "1", value: "0" });
    const text = el("span", { "data-testid": "job-progress" });
    live.replaceChildren(el("p", {}, `Job ${jobId}: `, bar, " ", text));
    const stop = onSnapshot(doc(db, `tenants/${tenantId}/jobs/${jobId}`), (snap) => {
      const job = snap.data() ?? {};
      const { done = 0, total = null, message = "" } = job.progress ?? {};
      bar.max = total ?? Math.max(done, 1);
      bar.value = done;
      text.textContent = `${job.status} ${done}/${total ?? "?"} ${message}`;
      if (["succeeded", "failed", "cancelled"].includes(job.status)) {
        stop();
        void refresh();
      }
    });
  };
  s.append(
    form(
      [
        { name: "type", label: "Type", value: "example.steps" },
        { name: "input", label: "Input (JSON)", value: '{"steps": 5, "stepMs": 400}' },
      ],
      "Start job",
      async ({ type, input }) => {
        const { job } = await enqueueJob(session, { type, input: JSON.parse(input || "{}") });
        watch(job.id);
        await refresh();
      },
      "job-form",
    ),
    live,
    body,
  );
  await run(s, refresh);
}

async function renderFiles(): Promise<void> {
  const s = section("files", "Files");
  const body = el("div");
  const refresh = async () => {
    const { items } = await listFiles(session);
    body.replaceChildren(
      table(
        ["name", "type", "bytes", "status", "tags", ""],
        items.map((f) => [
          f.name,
          f.contentType,
          String(f.size),
          f.status + (f.failure ? ` (${f.failure.reason})` : ""),
          f.tags.join(", "),
          el(
            "span",
            {},
            // Only a ready file has an object to download.
            f.status === "ready"
              ? button("Download", async () => {
                  const { url } = await getDownloadUrl(session, { fileId: f.fileId });
                  window.open(url, "_blank", "noopener");
                })
              : "",
            button("Tag", async () => {
              const tags = window.prompt("Tags (comma-separated)", f.tags.join(", "));
              if (tags === null) return;
              await updateFile(session, { fileId: f.fileId, tags: list(tags) });
              await refresh();
            }),
            button("Delete", async () => {
              await deleteFile(session, { fileId: f.fileId });
              await refresh();
            }),
          ),
        ]),
      ),
    );
  };
  const upload = el("form", { "data-testid": "upload-form" });
  const picker = el("input", { type: "file", name: "file" });
  const tags = el("input", { name: "tags" });
  const progress = el("p", { "data-testid": "upload-status" });
  upload.append(
    el("label", {}, "File", picker, el("span", { class: "field-error", "data-field": "contentType" })),
    el("label", {}, "Tags (comma-separated)", tags, el("span", { class: "field-error", "data-field": "tags" })),
    el("button", { type: "submit" }, "Upload"),
    progress,
  );
  upload.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = picker.files?.[0];
    if (!file) return;
    void run(upload, async () => {
      // One key per upload: a retried call returns the same pending record and URL.
      const signed = await withFieldErrors(upload, () =>
        idempotent(session, getUploadUrl, {
          contentType: file.type || "application/octet-stream",
          size: file.size,
          name: file.name,
          tags: list(tags.value),
        }),
      );
      await refresh();
      progress.textContent = `Uploading ${file.name} (${signed.fileId})…`;
      // The signed URL is bound to the content type and exact size: send the headers it names.
      const res = await fetch(signed.url, { method: signed.method, headers: signed.headers, body: file });
      if (!res.ok) throw new Error(`Storage refused the upload: HTTP ${res.status}`);
      progress.textContent = `Uploaded ${file.name}; it is ready once Storage reports the object.`;
      await refresh();
    });
  });
  s.append(upload, body);
  await run(s, refresh);
}
