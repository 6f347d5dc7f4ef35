// Browser tests of the web demo: a real switchboard (debug build, --dev, a
// temporary SQLite file) and Debian's chromium driven by playwright-core, two
// contexts with fake media devices. Screenshots go to ./artifacts/. The
// phone line and texts (Twilio configured) are in phone.test.mjs.
//
// Run: npm test --prefix web-demo/tests (scripts/test.sh builds the server first).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, fits, noticeText, shot, startDemo, WAIT } from "./harness.mjs";

const RING_SECS = 4;

let demo;

before(async () => {
  demo = await startDemo({ args: ["--ring-timeout-secs", String(RING_SECS)] });
});

afterEach(async () => {
  await demo.closeContexts();
});

after(async () => {
  await demo?.stop();
});

/** A signed-in page for a quick-pick person ("Agent Alice", "Customer Carol", ...). */
const signIn = (pick, options) => demo.signIn(pick, options);

/** Bytes of inbound audio in the page's current peer connection. */
async function inboundAudioBytes(page) {
  return page.evaluate(async () => {
    const pc = window.demo?.pc;
    if (!pc) return 0;
    let bytes = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") bytes += r.bytesReceived || 0;
    });
    return bytes;
  });
}

/** The first history row: { status, duration }. */
async function lastCall(page) {
  const row = page.locator("#history tr").first();
  return { status: await row.getAttribute("data-status"), duration: Number(await row.locator("[data-duration]").getAttribute("data-duration")) };
}

test("a customer calls an agent, they talk, the agent hangs up, history shows the duration", async () => {
  const agent = await signIn("Agent Alice");
  const customer = await signIn("Customer Carol");
  const callBtn = customer.locator('[data-call="agent-alice"]');
  await callBtn.waitFor({ timeout: WAIT });
  await shot(customer, "customer-agents");
  await shot(agent, "agent-console");

  await callBtn.click();
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  assert.match(await agent.locator("#incoming-from").textContent(), /Carol/);
  await shot(agent, "agent-incoming");
  await agent.locator("#accept-btn").click();
  const acceptedAt = Date.now();

  await agent.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
  await customer.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
  // Audio flows both ways through the embedded SFU, and keeps flowing.
  for (const page of [agent, customer]) {
    const first = await eventually("inbound audio", async () => (await inboundAudioBytes(page)) > 0 && inboundAudioBytes(page));
    const later = await eventually(`inbound audio grows past ${first} bytes`, async () => {
      const now = await inboundAudioBytes(page);
      return now > first && now;
    });
    assert.ok(later > first);
  }
  await shot(agent, "agent-in-call");
  await shot(customer, "customer-in-call");

  const talkFor = 4000 - (Date.now() - acceptedAt);
  if (talkFor > 0) await new Promise((r) => setTimeout(r, talkFor));
  await agent.locator("#hangup-btn").click();
  const hungUpAt = Date.now();
  for (const page of [agent, customer]) {
    await page.locator("#incall").waitFor({ state: "hidden", timeout: WAIT });
    await eventually("call ended notice", async () => /ended/.test(await noticeText(page)));
  }
  const onCall = (hungUpAt - acceptedAt) / 1000;
  for (const page of [agent, customer]) {
    const row = await eventually("history row", async () => {
      const r = await lastCall(page);
      return r.status === "COMPLETED" && r;
    });
    assert.ok(Math.abs(row.duration - onCall) <= 1, `duration ${row.duration}s vs ${onCall.toFixed(2)}s on the call`);
  }
  await shot(agent, "agent-history");
  await shot(customer, "customer-history");
});

test("a page reloaded during a call rejoins it: reconnecting, then media flows again", async () => {
  const agent = await signIn("Agent Alice");
  const customer = await signIn("Customer Carol");
  await customer.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await agent.locator("#accept-btn").click();
  await agent.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
  await eventually("inbound audio before the reload", async () => (await inboundAudioBytes(agent)) > 0);
  // Every call status the reloaded page shows, in order.
  await agent.addInitScript(() => {
    window.__statuses = [];
    new MutationObserver(() => {
      const t = document.querySelector("#call-status")?.textContent;
      if (t && window.__statuses.at(-1) !== t) window.__statuses.push(t);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  const reloadedAt = Date.now();
  await agent.reload();
  await agent.locator('#conn[data-state="online"]').waitFor({ timeout: WAIT });
  await agent.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
  await eventually("back in the call", async () => /In call with/.test(await agent.locator("#call-status").textContent()));
  const back = (Date.now() - reloadedAt) / 1000;
  const seen = await agent.evaluate(() => window.__statuses);
  assert.ok(seen.some((t) => /Reconnecting/.test(t)), `statuses after the reload: ${JSON.stringify(seen)}`);
  // Media flows again both ways, on the reloaded page's new connection.
  for (const page of [agent, customer]) {
    const first = await eventually("inbound audio after the reload", async () => (await inboundAudioBytes(page)) > 0 && inboundAudioBytes(page));
    await eventually(`inbound audio grows past ${first}`, async () => (await inboundAudioBytes(page)) > first);
  }
  console.log(`reload: back in the call ${back.toFixed(1)} s after the reload`);
  await shot(agent, "agent-rejoined");
  assert.equal(await customer.locator("#incall").isVisible(), true, "the customer never left the call");
  await customer.locator("#hangup-btn").click();
  for (const page of [agent, customer]) {
    const row = await eventually("history row", async () => {
      const r = await lastCall(page);
      return r.status === "COMPLETED" && r;
    });
    assert.equal(row.status, "COMPLETED");
  }
});

test("a declined call is shown as declined to the customer", async () => {
  const agent = await signIn("Agent Alice");
  const customer = await signIn("Customer Dan");
  await customer.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await agent.locator("#decline-btn").click();
  await eventually("declined notice", async () => /declined/.test(await noticeText(customer)));
  await eventually("the agent is told too", async () => /You declined the call from Dan/.test(await noticeText(agent)));
  await customer.locator("#incall").waitFor({ state: "hidden" });
  await shot(customer, "customer-declined");
  for (const page of [customer, agent]) {
    const row = await eventually("a history row", async () => (await lastCall(page)).status && lastCall(page));
    assert.equal(row.status, "DECLINED");
    assert.equal(row.duration, 0);
  }
});

test("an unanswered call becomes missed on both sides", async () => {
  const agent = await signIn("Agent Bob");
  const customer = await signIn("Customer Carol");
  await customer.locator('[data-call="agent-bob"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await eventually("customer sees no answer", async () => /No answer/.test(await noticeText(customer)), (RING_SECS + 10) * 1000);
  await eventually("agent sees a missed call", async () => /Missed call/.test(await noticeText(agent)));
  assert.match(await noticeText(agent), /Missed call from Carol/, "the notice names the caller");
  assert.ok(await agent.locator("#incoming").isHidden(), "the ringing banner is gone");
  await shot(agent, "agent-missed");
  for (const page of [agent, customer]) {
    const row = await eventually("a history row", async () => (await lastCall(page)).status && lastCall(page));
    assert.equal(row.status, "MISSED");
  }
});

test("the customer's list of agents follows agents live", async () => {
  const customer = await signIn("Customer Dan");
  const zoe = customer.locator('[data-agent-id="agent-zoe"]');
  await customer.locator("#agents li").first().waitFor({ timeout: WAIT });
  assert.equal(await zoe.count(), 0, "Zoe is not listed before she signs in");
  // Agent Zoe signs in (custom form).
  const context = await demo.newContext({ permissions: ["microphone", "camera"] });
  const agent = await context.newPage();
  await agent.goto(`${demo.base}/`);
  await agent.fill("#custom [name=userId]", "agent-zoe");
  await agent.fill("#custom [name=firstName]", "Zoe");
  await agent.locator("#custom button[type=submit]").click();
  await agent.locator('#conn[data-state="online"]').waitFor({ timeout: WAIT });
  await zoe.waitFor({ timeout: WAIT });
  await shot(customer, "customer-agents-live");
  await agent.selectOption("#availability", "away");
  await zoe.waitFor({ state: "detached", timeout: WAIT });
  await agent.selectOption("#availability", "available");
  await zoe.waitFor({ timeout: WAIT });
  await context.close();
  await zoe.waitFor({ state: "detached", timeout: WAIT });
});

test("errors a user can meet are shown in words: busy agent, denied microphone", async () => {
  const agent = await signIn("Agent Alice");
  const first = await signIn("Customer Carol");
  const second = await signIn("Customer Dan");
  await first.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await agent.locator("#accept-btn").click();
  await agent.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
  // Alice is now busy: she left Dan's list; a stale button still tells him in words.
  await second.locator('[data-call="agent-alice"]').waitFor({ state: "detached", timeout: WAIT });
  await second.evaluate(() => window.demo.phone.dial("agent-alice", "Alice Agent"));
  await eventually("busy notice", async () => /busy/.test(await noticeText(second)));
  await shot(second, "customer-agent-busy");
  await agent.locator("#hangup-btn").click();
  await first.locator("#incall").waitFor({ state: "hidden", timeout: WAIT });

  // A customer whose microphone is denied is told why, and the call is called off.
  const denied = await signIn("Customer Carol", { deniedMedia: true });
  await denied.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await eventually("permission notice", async () => /permission was denied/.test(await noticeText(denied)));
  await shot(denied, "customer-permission-denied");
  // The call did ring and was called off: the agent is told, the banner goes.
  await eventually("the agent hears the call was cancelled", async () => /hung up before you answered/.test(await noticeText(agent)));
  assert.ok(await agent.locator("#incoming").isHidden(), "the ringing banner is gone");
  const row = await eventually("a history row", async () => (await lastCall(agent)).status === "CANCELLED" && lastCall(agent));
  assert.equal(row.duration, 0);
});

test("a recorded call has a recording link in the history that plays both sides", async () => {
  const agent = await signIn("Agent Bob");
  const customer = await signIn("Customer Dan");
  await customer.locator("#record").check();
  await customer.locator('[data-call="agent-bob"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await agent.locator("#accept-btn").click();
  await eventually("audio flows", async () => (await inboundAudioBytes(agent)) > 2000);
  await customer.locator("#hangup-btn").click();
  await agent.locator("#incall").waitFor({ state: "hidden", timeout: WAIT });
  // The recording is noted on the row moments after the call ends.
  const link = await eventually("recording link", async () => {
    await agent.evaluate(() => window.demo.phone.onChange());
    const l = agent.locator("#history tr").first().getByRole("button", { name: "Play recording" });
    return (await l.count()) > 0 && l;
  });
  await link.click();
  const players = agent.locator("#history tr").first().locator("audio");
  await players.nth(1).waitFor({ timeout: WAIT });
  assert.equal(await players.count(), 2, "one track per participant");
  const labels = await agent.locator("#history tr").first().locator(".track").allTextContents();
  assert.deepEqual(labels.map((l) => l.split(":")[0]), ["Dan Customer", "Bob Agent"], "speakers by name");
  const playable = await players.first().evaluate(
    (a) =>
      new Promise((ok) => {
        if (a.readyState >= 1) return ok("loaded");
        a.onloadedmetadata = () => ok("loaded");
        a.onerror = () => ok("error");
        setTimeout(() => ok("timed out"), 10_000);
      }),
  );
  assert.equal(playable, "loaded", "the recording loads in the browser");
  await shot(agent, "agent-history-recording");
});

/** Clicks `locator` and answers the call on `callee`; returns when both are in the call. */
async function answer(callee, caller) {
  await callee.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await callee.locator("#accept-btn").click();
  for (const page of [callee, caller]) await page.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
}

/** Hangs up on `page` and waits until the call is over on every page (the next test must not find it open). */
async function hangUp(page, ...others) {
  await page.locator("#hangup-btn").click();
  for (const p of [page, ...others]) await p.locator("#incall").waitFor({ state: "hidden", timeout: WAIT });
}

/** The name shown in the first history row. */
async function lastCallWho(page) {
  return (await page.locator("#history tr").first().locator("td.who").getAttribute("data-who")) || "";
}

test("an agent calls a customer from the list, and both histories show names", async () => {
  const customer = await signIn("Customer Carol");
  const agent = await signIn("Agent Alice");
  await agent.locator("#customer-search").fill("caro");
  const call = agent.locator('#customers [data-call="customer-carol"]');
  await call.waitFor({ timeout: WAIT });
  assert.match(await agent.locator('#customers [data-customer-id="customer-carol"]').textContent(), /Carol Customer/);
  await shot(agent, "agent-customer-list");
  await call.click();
  await customer.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  assert.match(await customer.locator("#incoming-from").textContent(), /Alice/);
  await shot(customer, "customer-incoming");
  await answer(customer, agent);
  await eventually("audio reaches the agent", async () => (await inboundAudioBytes(agent)) > 0);
  await agent.locator("#hangup-btn").click();
  for (const [page, other] of [
    [agent, "Carol Customer"],
    [customer, "Alice Agent"],
  ]) {
    await eventually(`history names ${other}`, async () => (await lastCall(page)).status === "COMPLETED" && (await lastCallWho(page)) === other);
  }
  await shot(customer, "customer-history-names");
});

test("a missed call is called back from the history", async () => {
  const agent = await signIn("Agent Bob");
  const customer = await signIn("Customer Dan");
  await customer.locator('[data-call="agent-bob"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await eventually("missed", async () => (await lastCall(agent)).status === "MISSED", (RING_SECS + 10) * 1000);
  assert.equal(await lastCallWho(agent), "Dan Customer");
  const back = agent.locator("#history tr").first().getByRole("button", { name: "Call back" });
  await shot(agent, "agent-missed-call-back");
  await back.click();
  await answer(customer, agent);
  await customer.locator("#hangup-btn").click();
  await eventually("the call back is in the history", async () => {
    const r = await lastCall(agent);
    return r.status === "COMPLETED" && (await lastCallWho(agent)) === "Dan Customer";
  });
});

test("the caller hears ringback and sees the ring time; a blocked sound is said", async () => {
  const agent = await signIn("Agent Alice");
  const customer = await signIn("Customer Carol");
  await customer.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await customer.locator('#incall[data-state="ringing"]').waitFor({ timeout: WAIT });
  assert.equal(await customer.evaluate(() => window.demo.tones.playing), "ringback");
  // The agent being called left the list of available agents; the page says whom it calls instead.
  await eventually("the list shows the call", async () => /Calling Alice Agent/.test(await customer.locator("#agents").textContent()));
  assert.doesNotMatch(await customer.locator("#agents").textContent(), /No agent is available/);
  await eventually("the ring time counts", async () => /ringing 00:0[1-9]/.test(await customer.locator("#call-timer").textContent()));
  await shot(customer, "customer-ringback");
  // The agent's ring: audible, or the page says the browser blocks it until a click.
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  assert.equal(await agent.evaluate(() => window.demo.tones.playing), "ring");
  const state = await agent.evaluate(() => window.demo.tones.state);
  assert.equal(await agent.locator("#sound-note").isVisible(), state !== "running", `audio ${state}`);
  if (state !== "running") {
    await shot(agent, "agent-sound-blocked");
    await agent.locator("#incoming-from").click();
    await eventually("sound unlocked by a click", async () => (await agent.evaluate(() => window.demo.tones.state)) === "running");
    await agent.locator("#sound-note").waitFor({ state: "hidden", timeout: WAIT });
  }
  await answer(agent, customer);
  assert.equal(await customer.evaluate(() => window.demo.tones.playing), null, "ringback stops when answered");
  assert.equal(await agent.evaluate(() => window.demo.tones.playing), null, "the ring stops when answered");
  await hangUp(agent, customer);
});

test("a camera turned off shows a placeholder with the name, and mute shows", async () => {
  const agent = await signIn("Agent Alice");
  const customer = await signIn("Customer Carol");
  await customer.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await answer(agent, customer);
  await eventually("video arrives", async () => agent.evaluate(() => !!document.querySelector("#remote-video").srcObject));
  await customer.locator("#camera-btn").click();
  await agent.locator("#remote-placeholder:not([hidden])").waitFor({ timeout: WAIT });
  assert.match(await agent.locator("#remote-placeholder").textContent(), /Carol Customer · camera off/);
  assert.ok(await customer.locator("#local-placeholder").isVisible(), "the customer sees their own camera is off");
  await customer.locator("#mute-btn").click();
  await agent.locator("#remote-muted:not([hidden])").waitFor({ timeout: WAIT });
  assert.match(await agent.locator("#remote-muted").textContent(), /Carol Customer is muted/);
  await shot(agent, "agent-remote-camera-off");
  await customer.locator("#camera-btn").click();
  await agent.locator("#remote-placeholder").waitFor({ state: "hidden", timeout: WAIT });
  await hangUp(customer, agent);
});

test("an incoming call in a background tab flashes the title and notifies", async () => {
  const agent = await signIn("Agent Bob", {
    init: () => {
      Object.defineProperty(document, "hidden", { get: () => true });
      Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
      window.__notifications = [];
      window.Notification = class {
        static permission = "granted";
        static requestPermission() {
          return Promise.resolve("granted");
        }
        constructor(title, options) {
          window.__notifications.push({ title, body: options?.body });
        }
        close() {}
      };
    },
  });
  const customer = await signIn("Customer Dan");
  await customer.locator('[data-call="agent-bob"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await eventually("the title flashes", async () => /Dan Customer is calling/.test(await agent.title()));
  const notes = await agent.evaluate(() => window.__notifications);
  assert.deepEqual(notes, [{ title: "Incoming call", body: "Dan Customer is calling" }]);
  await hangUp(customer);
  await agent.locator("#incoming").waitFor({ state: "hidden", timeout: WAIT });
  await eventually("the title is back", async () => !/calling/.test(await agent.title()));
});

test("the sign-in page says why a pasted token is refused", async () => {
  const context = await demo.newContext();
  const page = await context.newPage();
  await page.goto(`${demo.base}/`);
  await page.locator("#paste [name=token]").fill("this is not a token");
  await page.getByRole("button", { name: "Use this token" }).click();
  await eventually("not a token", async () => /not an access token/.test(await noticeText(page)));
  // A real token with its signature changed.
  const forged = await page.evaluate(async () => {
    const r = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "mallory", tenantId: "acme", participantType: "CRM_USER" }),
    });
    const t = (await r.json()).token;
    return t.slice(0, -6) + (t.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA");
  });
  await page.locator("#paste [name=token]").fill(forged);
  await page.getByRole("button", { name: "Use this token" }).click();
  await eventually("bad signature", async () => /refused this token: token signature is invalid/.test(await noticeText(page)));
  await shot(page, "signin-refused-token");
  assert.match(page.url(), /\/$/, "still on the sign-in page");
});

test("every error code the server can send has words", async () => {
  const page = await signIn("Agent Alice");
  const missing = await page.evaluate(async () => {
    const doc = await (await fetch("/api/openapi.json")).json();
    const codes = doc.components.schemas.ErrorDetail.properties.code.enum;
    const { EXPLAINED } = await import("/js/ui.js");
    return { codes: codes.length, missing: codes.filter((c) => !EXPLAINED.includes(c)) };
  });
  assert.ok(missing.codes > 30, `${missing.codes} codes`);
  assert.deepEqual(missing.missing, []);
});

test("without Twilio the phone line says how to turn it on, and a text is refused in words", async () => {
  // A number registered for Alice (no Twilio needed for that), so the console offers to text from it.
  const service = await demo.devToken({ serviceRole: true });
  const post = async (path, body) => {
    const res = await fetch(`${demo.base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${service}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.ok(res.ok, `${path}: ${res.status}`);
    return res.json();
  };
  const number = await post("/api/orgs/acme/phone-numbers", { number: "+14155550199" });
  await post("/api/orgs/acme/users/agent-alice/phone-assignments", { phoneNumberIds: [number.id] });
  const agent = await signIn("Agent Alice");
  await agent.locator('#softphone-status[data-state="off"]').waitFor({ timeout: WAIT });
  assert.match(await agent.locator("#softphone-status").textContent(), /No softphone here: phone calls are not configured on this server \(TWILIO_ACCOUNT_SID, docs\/phone\.md\)/);
  const setup = await agent.locator("#phone-setup").textContent();
  for (const v of ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SWITCHBOARD_PUBLIC_URL", "TWILIO_TWIML_APP_SID", "TWILIO_API_KEY", "TWILIO_API_SECRET", "GET /api/phone/token", "docs/phone.md"]) {
    assert.ok(setup.includes(v), `the setup note names ${v}`);
  }
  await agent.locator('#phone-numbers [data-number="+14155550199"]').waitFor({ timeout: WAIT });
  assert.match(await agent.locator("#threads").textContent(), /No texts yet/);
  await agent.locator("#reply [name=to]").fill("+14155552671");
  await agent.locator("#reply [name=body]").fill("Hello");
  await agent.getByRole("button", { name: "Send" }).click();
  await agent.locator("#reply-error").waitFor({ timeout: WAIT });
  assert.match(await agent.locator("#reply-error").textContent(), /The text was not sent: phone calls are not configured on this server/);
  await shot(agent, "agent-phone-not-configured");
});

test("each page fits a 390 px phone, with touch-sized buttons", async () => {
  const context = await demo.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true });
  const signin = await context.newPage();
  await signin.goto(`${demo.base}/`);
  await fits(signin, "signin");
  const agent = await signIn("Agent Alice", { phone: true });
  const customer = await signIn("Customer Carol", { phone: true });
  await agent.locator("#customers li").first().waitFor({ timeout: WAIT });
  await fits(agent, "agent");
  await fits(customer, "customer");
  await customer.locator('[data-call="agent-alice"]').click({ timeout: WAIT });
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await fits(agent, "agent-incoming");
  await answer(agent, customer);
  await fits(agent, "agent-in-call");
  await fits(customer, "customer-in-call");
  await customer.locator("#hangup-btn").click();
  await eventually("history row", async () => (await lastCall(customer)).status === "COMPLETED");
  await fits(customer, "customer-history");
});
