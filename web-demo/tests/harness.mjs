// What the browser tests share: a real switchboard (the debug build, --dev, a
// temporary SQLite file, a free port), Debian's chromium driven by
// playwright-core, signed-in pages, screenshots, polling for a condition.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
export const artifacts = join(here, "artifacts");
const bin = process.env.SWITCHBOARD_BIN || join(root, "target/debug/switchboard");
export const WAIT = 30_000;

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
];

export function freePort() {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * Starts switchboard (with `args` after the common ones and `env` added) and
 * chromium. `stop()` ends both; `closeContexts()` closes the running test's
 * browser contexts, passed or failed.
 */
export async function startDemo({ args = [], env = {} } = {}) {
  mkdirSync(artifacts, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "switchboard-demo-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(
    bin,
    [
      "--dev",
      "--addr", `127.0.0.1:${port}`,
      "--database-url", `sqlite://${join(tmp, "demo.db")}`,
      "--rtc-port", "0",
      "--recording-dir", join(tmp, "recordings"),
      "--call-rate-per-minute", "1000",
      "--call-rate-burst", "1000",
      ...args,
    ],
    {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn,rtc_dtls=error,rtc_ice=error", ...env },
    },
  );
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (i > 300 || server.exitCode !== null) throw new Error(`switchboard did not start (${bin})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  const contexts = new Set();

  /** A browser context closed after the test. */
  async function newContext(options = {}) {
    const context = await browser.newContext(options);
    contexts.add(context);
    return context;
  }

  /** A signed-in page for a quick-pick person ("Agent Alice", "Customer Carol", ...). */
  async function signIn(pick, { deniedMedia = false, phone = false, init = null } = {}) {
    const viewport = phone ? { width: 390, height: 844 } : { width: 1100, height: 900 };
    const context = await newContext({ permissions: ["microphone", "camera"], viewport, hasTouch: phone });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error(`[${pick}] page error:`, e.message));
    if (init) await page.addInitScript(init);
    if (deniedMedia) {
      await page.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = async () => {
          throw new DOMException("Permission denied", "NotAllowedError");
        };
      });
    }
    await page.goto(`${base}/`);
    await page.getByRole("button", { name: pick }).click();
    await page.waitForURL(/\/(agent|customer)\.html$/);
    await page.locator('#conn[data-state="online"]').waitFor({ timeout: WAIT });
    return page;
  }

  async function closeContexts() {
    for (const c of contexts) await c.close().catch(() => {});
    contexts.clear();
  }

  async function stop() {
    await closeContexts();
    await browser.close();
    server.kill("SIGTERM");
    rmSync(tmp, { recursive: true, force: true });
  }

  /** A token from `POST /dev/token` (`{serviceRole: true}` for a service_role key). */
  async function devToken(profile) {
    const res = await fetch(`${base}/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(profile),
    });
    assert.equal(res.status, 200, "POST /dev/token");
    return (await res.json()).token;
  }

  return { base, browser, newContext, signIn, closeContexts, stop, devToken };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Polls `fn` until it returns something truthy (then returns it), or fails after `timeout` ms. */
export async function eventually(what, fn, timeout = WAIT) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function noticeText(page) {
  return (await page.locator("#notice").textContent()) || "";
}

/** Nothing on `page` is wider than a 390 px phone, and every visible target is at least 44 px tall. */
export async function fits(page, what) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `${what}: ${width} px wide`);
  const small = await page.evaluate(() =>
    [...document.querySelectorAll("button, select, input:not([type=checkbox]):not([type=radio])")]
      .filter((e) => e.offsetParent !== null)
      .map((e) => [e.id || e.textContent.trim() || e.name, Math.round(e.getBoundingClientRect().height)])
      .filter(([, h]) => h < 44),
  );
  assert.deepEqual(small, [], `${what}: targets under 44 px`);
  await shot(page, `phone-${what}`);
}
