/**
 * The console in a real browser (Debian's Chromium driven by playwright-core) against the local
 * stack with the demo tenant seeded. Run through `npm test -- examples/console`, which serves the
 * console and sets CONSOLE_URL, CHROMIUM_PATH and ARTIFACTS_DIR. Each test leaves a screenshot in
 * ARTIFACTS_DIR. The tests run in order: MFA enrolment, which changes how the owner signs in, last.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { authenticator } from "otplib";
import { chromium } from "playwright-core";

const { CONSOLE_URL, CHROMIUM_PATH, ARTIFACTS_DIR, DEMO_PASSWORD } = process.env;
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
const TIMEOUT = 60_000;

let browser;
let context;
mkdirSync(ARTIFACTS_DIR, { recursive: true });

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  context.setDefaultTimeout(TIMEOUT);
});
after(async () => {
  await browser?.close();
});

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

async function signIn(page, code) {
  await page.goto(CONSOLE_URL);
  const form = page.getByTestId("sign-in-form");
  await form.locator('input[name="email"]').fill("owner@demo.test");
  await form.locator('input[name="password"]').fill(DEMO_PASSWORD);
  if (code) await form.locator('input[name="code"]').fill(code);
  await form.locator('button[type="submit"]').click();
  await page.getByTestId("who").getByText("owner@demo.test").waitFor();
}

let page;

test("signs in as the demo owner and shows the tenant's panels", async () => {
  page = await context.newPage();
  await signIn(page);
  assert.match(await page.getByTestId("who").textContent(), /tenant demo/);
  await page.getByTestId("members").getByText("admin@demo.test").waitFor();
  await page.getByTestId("sessions").locator("td", { hasText: "(this one)" }).waitFor();
  await shot(page, "01-signed-in");
});

test("bad input shows the server's field errors next to the fields; a good invitation is listed", async () => {
  const invite = page.getByTestId("invite-form");
  await invite.locator('input[name="email"]').fill("not an address");
  await invite.locator('button[type="submit"]').click();
  const emailError = invite.locator('.field-error[data-field="email"]');
  await emailError.filter({ hasText: /./ }).waitFor();
  assert.ok((await emailError.textContent()).length > 0);
  await shot(page, "02-field-errors");

  const email = `invitee-${Date.now()}@example.test`;
  await invite.locator('input[name="email"]').fill(email);
  await invite.locator('button[type="submit"]').click();
  await page.getByTestId("members").locator("td", { hasText: email }).waitFor();
  assert.equal(await emailError.textContent(), "");
  await shot(page, "03-invited");
});

test("creates a webhook endpoint and sees a test delivery arrive", async () => {
  const received = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    const form = page.getByTestId("endpoint-form");
    await form.locator('input[name="url"]').fill(url);
    await form.locator('button[type="submit"]').click();
    const row = page.getByTestId("webhooks").locator("tr", { hasText: url });
    await row.waitFor();
    await row.getByRole("button", { name: "Send test" }).click();
    await page.getByTestId("deliveries").locator("tr").nth(1).waitFor();
    // The delivery runs through the task queue emulator: wait for the receiver, then the console.
    for (let i = 0; i < 120 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 500));
    assert.equal(received.length, 1);
    assert.ok(
      received[0].headers["webhook-signature"] ??
        received[0].headers["x-webhook-signature"] ??
        Object.keys(received[0].headers).some((h) => h.includes("signature")),
    );
    for (let i = 0; i < 60; i++) {
      await row.getByRole("button", { name: "Deliveries" }).click();
      if (await page.getByTestId("deliveries").locator("td", { hasText: "delivered" }).count()) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await page.getByTestId("deliveries").locator("td", { hasText: "delivered" }).first().waitFor();
    await shot(page, "04-webhook-delivered");
  } finally {
    receiver.close();
  }
});

test("two tabs rotating at once end with one session, not a reuse lock-out", async () => {
  // A second tab of the same browser profile: it shares IndexedDB (the token) and Web Locks.
  const second = await context.newPage();
  await second.goto(CONSOLE_URL);
  await second.getByTestId("who").getByText("owner@demo.test").waitFor();
  // "At once" is arranged, not left to timing: the first tab's refreshSession is held until the
  // second tab has read the token and waits for the refresh lock.
  let arrived;
  const held = new Promise((resolve) => (arrived = resolve));
  let release;
  const released = new Promise((resolve) => (release = resolve));
  await page.route("**/refreshSession", async (route) => {
    arrived();
    await released;
    await route.continue();
  });
  await page.getByTestId("rotate").click();
  await held;
  await second.getByTestId("rotate").click();
  await second.waitForFunction(async () => (await navigator.locks.query()).pending.length > 0);
  release();
  await page
    .getByTestId("rotated")
    .filter({ hasText: /Rotated/ })
    .waitFor();
  await second
    .getByTestId("rotated")
    .filter({ hasText: /Rotated/ })
    .waitFor();
  await page.unroute("**/refreshSession");
  const first = await page.getByTestId("rotated").textContent();
  const other = await second.getByTestId("rotated").textContent();
  assert.equal(first, other, "both tabs hold the same newest token");
  // Both tabs still act: no reuse was detected, nothing signed out.
  await page.reload();
  await page.getByTestId("who").getByText("owner@demo.test").waitFor();
  await second.getByTestId("rotate").click();
  await second
    .getByTestId("rotated")
    .filter({ hasNotText: other.slice(-6) })
    .waitFor();
  assert.doesNotMatch(await second.getByTestId("who").textContent(), /Signed out/);
  await shot(second, "05-two-tabs");
  await second.close();
});

test("starts a job that runs on the local stack and watches its progress to the end", async () => {
  // Every state the listener puts on the page, recorded in the page, so none is missed by sampling.
  await page.getByTestId("job-live").evaluate((live) => {
    window.jobStates = [];
    const record = () => window.jobStates.push(live.querySelector('[data-testid="job-progress"]')?.textContent ?? "");
    new MutationObserver(record).observe(live, { childList: true, characterData: true, subtree: true });
  });
  const form = page.getByTestId("job-form");
  await form.locator('input[name="type"]').fill("example.steps");
  await form.locator('input[name="input"]').fill('{"steps": 5, "stepMs": 400}');
  await form.locator('button[type="submit"]').click();
  const progress = page.getByTestId("job-progress");
  await progress.filter({ hasText: /^(succeeded|failed)/ }).waitFor();
  assert.match(await progress.textContent(), /^succeeded 5\/5/);
  const seen = await page.evaluate(() => window.jobStates);
  assert.ok(
    seen.some((t) => /^running [1-4]\/5/.test(t)),
    `saw ${seen.join(" | ")}`,
  );
  await shot(page, "06-job-done");
});

test("uploads a file through its signed URL, tags and deletes it; a refused type shows by the picker", async () => {
  const files = page.getByTestId("files");
  const form = files.getByTestId("upload-form");
  const picker = form.locator('input[type="file"]');
  await picker.setInputFiles({ name: "tool.exe", mimeType: "application/x-msdownload", buffer: Buffer.from("MZ") });
  await form.locator('button[type="submit"]').click();
  await form
    .locator('.field-error[data-field="contentType"]')
    .filter({ hasText: /must be one of/ })
    .waitFor();
  assert.equal(await files.locator("td", { hasText: "tool.exe" }).count(), 0, "a refused upload leaves no record");

  // No Storage emulator runs here: the test answers the signed PUT as Cloud Storage would, and
  // checks what the console sent.
  const puts = [];
  await page.route("https://storage.googleapis.com/**", async (route) => {
    const request = route.request();
    const cors = { "access-control-allow-origin": "*", "access-control-allow-methods": "PUT", "access-control-allow-headers": "*" };
    if (request.method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
    puts.push({ method: request.method(), url: new URL(request.url()), headers: request.headers(), body: request.postDataBuffer() });
    await route.fulfill({ status: 200, headers: cors, body: "" });
  });
  const content = Buffer.from("a,b\n1,2\n3,4\n");
  await picker.setInputFiles({ name: "report.csv", mimeType: "text/csv", buffer: content });
  await form.locator('input[name="tags"]').fill("q3");
  await form.locator('button[type="submit"]').click();
  await files.getByTestId("upload-status").filter({ hasText: /^Uploaded report\.csv/ }).waitFor();
  assert.equal(puts.length, 1);
  assert.equal(puts[0].method, "PUT");
  assert.match(puts[0].url.pathname, /\/tenants\/demo\/files\//);
  assert.ok(puts[0].url.searchParams.get("X-Goog-Signature"), "a V4 signed URL");
  assert.equal(puts[0].headers["content-type"], "text/csv");
  assert.deepEqual(puts[0].body, content);

  // Storage has not reported the object (no finalize event here), so the record stays pending.
  const row = files.locator("tr", { hasText: "report.csv" });
  await row.locator("td", { hasText: "pending" }).waitFor();
  assert.equal(await row.locator("td").nth(2).textContent(), String(content.length));
  page.once("dialog", (dialog) => dialog.accept("q3, finance"));
  await row.getByRole("button", { name: "Tag" }).click();
  await row.locator("td", { hasText: "q3, finance" }).waitFor();
  await shot(page, "07-files");
  await row.getByRole("button", { name: "Delete" }).click();
  await files.locator("td", { hasText: "report.csv" }).waitFor({ state: "detached" });
  await page.unroute("https://storage.googleapis.com/**");
});

test("enrols MFA: shows the QR code and confirms with a TOTP the test computes", async () => {
  const mfa = page.getByTestId("mfa");
  await mfa.getByTestId("mfa-enrol").click();
  await mfa.getByTestId("mfa-qr").locator("svg").waitFor();
  const secret = (await mfa.getByTestId("mfa-secret").textContent()).trim();
  await shot(page, "08-mfa-qr");
  const form = mfa.getByTestId("mfa-confirm-form");
  await form.locator('input[name="code"]').fill(authenticator.generate(secret));
  await form.locator('button[type="submit"]').click();
  await mfa.getByTestId("recovery-codes").waitFor();
  assert.equal((await mfa.getByTestId("recovery-codes").textContent()).trim().split("\n").length, 10);
  await shot(page, "09-mfa-enrolled");
});
