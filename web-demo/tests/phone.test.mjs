// Browser tests of the agent console's phone line and texts (issue #11): a
// switchboard with Twilio configured, fed Twilio's signed webhooks the way
// Twilio would send them, and a local fake of Twilio's REST API (texts sent,
// recordings fetched). Nothing here reaches the internet.
//
// Run: npm test --prefix web-demo/tests (with demo.test.mjs).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { eventually, fits, noticeText, shot, startDemo, WAIT } from "./harness.mjs";

const SID = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN = "demo-test-auth-token";
const PUBLIC_URL = "https://sb.example";
const OUR_NUMBER = "+14155550100";
const CALLER = "+14155552671";
const HOOKS = "/api/phone/webhooks/twilio";

let demo;
let twilio;
let numberId;

/** A provider id: `prefix` and 32 hex digits (CA…, SM…, RE…). */
const sid = (prefix) => prefix + randomBytes(16).toString("hex");

/** One second of silent MPEG-1 Layer III (mono, 44.1 kHz, 128 kb/s): 38 frames of 417 bytes. */
function silentMp3() {
  const frame = Buffer.alloc(417);
  frame.set([0xff, 0xfb, 0x90, 0xc0]);
  return Buffer.concat(Array.from({ length: 38 }, () => frame));
}

/**
 * Twilio's REST API as far as these tests use it, checking Basic auth:
 * `Messages.json` (a body containing "[refuse]" is refused as Twilio
 * refuses one) and `Recordings/{sid}.mp3`. Records what it was asked.
 */
async function fakeTwilio() {
  const seen = { messages: [], recordings: [] };
  const account = `/2010-04-01/Accounts/${SID}`;
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const reply = (status, body, type = "application/json") => {
      res.writeHead(status, { "content-type": type });
      res.end(type === "application/json" ? JSON.stringify(body) : body);
    };
    if (req.headers.authorization !== `Basic ${Buffer.from(`${SID}:${AUTH_TOKEN}`).toString("base64")}`) {
      return reply(401, { code: 20003, message: "Authenticate", status: 401 });
    }
    const path = new URL(req.url, "http://twilio.invalid").pathname;
    if (req.method === "POST" && path === `${account}/Messages.json`) {
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
      seen.messages.push(form);
      if (form.Body.includes("[refuse]")) {
        return reply(400, { code: 21610, message: "Attempt to send to unsubscribed recipient", status: 400 });
      }
      return reply(201, { sid: sid("SM"), status: "queued", num_segments: "1", price: null, price_unit: "USD" });
    }
    const rec = req.method === "GET" && path.match(/\/Recordings\/(RE[0-9a-f]{32})\.mp3$/);
    if (rec && path.startsWith(account)) {
      seen.recordings.push(rec[1]);
      return reply(200, silentMp3(), "audio/mpeg");
    }
    reply(404, { code: 20404, message: "The requested resource was not found", status: 404 });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((ok) => server.close(ok)) };
}

/** `X-Twilio-Signature`: HMAC-SHA1 of the public URL and the sorted parameters, each name followed by its value. */
function signature(pathAndQuery, params) {
  const data = PUBLIC_URL + pathAndQuery + Object.keys(params).sort().map((k) => k + params[k]).join("");
  return createHmac("sha1", AUTH_TOKEN).update(data).digest("base64");
}

/** Posts a signed webhook as Twilio does; returns the answer's text (TwiML, or empty). */
async function webhook(pathAndQuery, params, expect = 200) {
  const res = await fetch(demo.base + pathAndQuery, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature(pathAndQuery, params) },
    body: new URLSearchParams(params),
  });
  const text = await res.text();
  assert.equal(res.status, expect, `${pathAndQuery}: ${text}`);
  return text;
}

/** A REST call with a service_role key. */
async function asPlatform(method, path, body) {
  const res = await fetch(demo.base + path, {
    method,
    headers: { authorization: `Bearer ${await demo.devToken({ serviceRole: true })}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

before(async () => {
  twilio = await fakeTwilio();
  demo = await startDemo({
    env: {
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      SWITCHBOARD_PUBLIC_URL: PUBLIC_URL,
      TWILIO_API_URL: twilio.url,
      TWILIO_TWIML_APP_SID: sid("AP"),
      TWILIO_API_KEY: sid("SK"),
      TWILIO_API_SECRET: "demo-test-api-secret",
    },
  });
  // What an operator does once: register the org's number and give it to two agents.
  numberId = (await asPlatform("POST", "/api/orgs/acme/phone-numbers", { number: OUR_NUMBER, label: "Main line" })).id;
  for (const agent of ["agent-alice", "agent-bob"]) {
    await asPlatform("POST", `/api/orgs/acme/users/${agent}/phone-assignments`, { phoneNumberIds: [numberId] });
  }
});

afterEach(async () => {
  await demo.closeContexts();
});

after(async () => {
  await demo?.stop();
  await twilio?.close();
});

/** An agent's console with their numbers and the softphone state loaded. */
async function agentConsole(pick, options) {
  const page = await demo.signIn(pick, options);
  await page.locator(`#phone-numbers [data-number="${OUR_NUMBER}"]`).waitFor({ timeout: WAIT });
  await page.locator('#softphone-status[data-state="ready"]').waitFor({ timeout: WAIT });
  return page;
}

/** The first history row. */
function firstRow(page) {
  return page.locator("#history tr").first();
}

test("the phone line says how softphones work, and a ringing phone call is shown and goes to voicemail", async () => {
  const agent = await agentConsole("Agent Alice");
  assert.match(await agent.locator("#phone-numbers").textContent(), /Main line \(\+14155550100\)/);
  assert.match(await agent.locator("#softphone-status").textContent(), /token ready \(identity agent-alice/);
  const setup = await agent.locator("#phone-setup").textContent();
  for (const v of ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SWITCHBOARD_PUBLIC_URL", "TWILIO_TWIML_APP_SID", "TWILIO_API_KEY", "TWILIO_API_SECRET", "GET /api/phone/token", "docs/phone.md"]) {
    assert.ok(setup.includes(v), `the setup note names ${v}`);
  }

  // The CRM knows the caller (by a national number); the ringing call names them.
  await asPlatform("PUT", "/api/contacts/crm-pat?orgId=acme", {
    name: "Pat Caller",
    type: "customer",
    region: "US",
    phoneNumbers: ["(415) 555-2671"],
  });
  // Someone calls the number: Alice is available, so Twilio is told to ring her softphone.
  const callSid = sid("CA");
  const call = { CallSid: callSid, AccountSid: SID, From: CALLER, To: OUR_NUMBER, CallStatus: "ringing", Direction: "inbound" };
  const twiml = await webhook(`${HOOKS}/voice`, call);
  assert.match(twiml, /<Client[^>]*>agent-alice<\/Client>/);
  const ringing = agent.locator("#pstn-ringing li");
  await ringing.waitFor({ timeout: WAIT });
  assert.match(await ringing.textContent(), /Pat Caller \(\+14155552671\) is calling Main line \(\+14155550100\): answer on your softphone/);
  assert.ok(await agent.locator("#incoming").isHidden(), "no in-app Accept banner for a phone call");
  await shot(agent, "agent-phone-ringing");
  const callId = await ringing.getAttribute("data-call-id");

  // Nobody answers: Twilio reports the dial's outcome, the caller leaves a voicemail, then hangs up.
  const vm = await webhook(`${HOOKS}/voice?step=after-dial&callId=${callId}`, { ...call, DialCallStatus: "no-answer" });
  assert.match(vm, /<Record/);
  await ringing.waitFor({ state: "detached", timeout: WAIT });
  await eventually("the voicemail notice", async () => /went to voicemail/.test(await noticeText(agent)));
  const recording = sid("RE");
  await webhook(
    `${HOOKS}/recording?callId=${callId}&kind=voicemail`,
    { CallSid: callSid, AccountSid: SID, RecordingSid: recording, RecordingStatus: "completed", RecordingDuration: "7" },
    204,
  );
  await webhook(`${HOOKS}/status`, { ...call, CallStatus: "completed", CallDuration: "31", Price: "-0.0170", PriceUnit: "USD" }, 204);

  // The final status sends no frame to anyone (no agent was on the call): the agent reloads.
  await agent.reload();
  const row = agent.locator(`#history tr[data-call-id="${callId}"]`);
  await row.waitFor({ timeout: WAIT });
  assert.equal(await row.getAttribute("data-channel"), "pstn");
  assert.equal(await row.getAttribute("data-status"), "MISSED");
  assert.equal(await row.locator("td.who").getAttribute("data-who"), CALLER);
  assert.match(await row.locator("td.who").textContent(), /← \+14155552671 phone\s*to \+14155550100/);
  assert.match(await row.locator("td.status").textContent(), /^Missed · voicemailUSD 0\.0170$/);
  await shot(agent, "agent-phone-history");

  // The voicemail plays from the server's recording route (the bearer token in a header, a blob URL).
  await row.getByRole("button", { name: "Play voicemail (00:07)" }).click();
  const audio = row.locator("audio");
  await audio.waitFor({ timeout: WAIT });
  assert.match(await audio.getAttribute("src"), /^blob:/);
  assert.deepEqual(twilio.seen.recordings, [recording]);
  const loaded = await audio.evaluate(
    (a) =>
      new Promise((ok) => {
        if (a.readyState >= 1) return ok(a.duration);
        a.onloadedmetadata = () => ok(a.duration);
        a.onerror = () => ok(`error ${a.error?.code}`);
        setTimeout(() => ok("timed out"), 10_000);
      }),
  );
  assert.ok(typeof loaded === "number" && loaded > 0.5, `the voicemail loads in the browser: ${loaded}`);
  await shot(agent, "agent-phone-voicemail");
});

test("a phone call a colleague answers leaves the others' notice and names them in the history", async () => {
  const alice = await agentConsole("Agent Alice");
  const bob = await agentConsole("Agent Bob");
  const callSid = sid("CA");
  const call = { CallSid: callSid, AccountSid: SID, From: CALLER, To: OUR_NUMBER, CallStatus: "ringing", Direction: "inbound" };
  const twiml = await webhook(`${HOOKS}/voice`, call);
  assert.match(twiml, /agent-alice/);
  assert.match(twiml, /agent-bob/);
  for (const page of [alice, bob]) await page.locator("#pstn-ringing li").waitFor({ timeout: WAIT });
  const callId = await alice.locator("#pstn-ringing li").getAttribute("data-call-id");
  // Bob's softphone answers: Twilio reports his leg in progress.
  await webhook(
    `${HOOKS}/status?callId=${callId}&leg=agent`,
    { CallSid: sid("CA"), ParentCallSid: callSid, AccountSid: SID, From: CALLER, To: "client:agent-bob", CallStatus: "in-progress" },
    204,
  );
  await alice.locator("#pstn-ringing li").waitFor({ state: "detached", timeout: WAIT });
  await eventually("Alice is told", async () => /answered by someone else/.test(await noticeText(alice)));
  const row = alice.locator(`#history tr[data-call-id="${callId}"]`);
  await eventually("Alice's history names Bob", async () => /answered by Bob Agent/.test((await row.textContent().catch(() => "")) || ""));
  assert.equal(await row.getAttribute("data-status"), "ACTIVE");
  // The caller hangs up: Bob (on the call) gets `call.ended`, which clears his notice.
  await webhook(`${HOOKS}/status`, { ...call, CallStatus: "completed", CallDuration: "12" }, 204);
  await bob.locator("#pstn-ringing li").waitFor({ state: "detached", timeout: WAIT });
  const bobs = bob.locator(`#history tr[data-call-id="${callId}"]`);
  await eventually("Bob's history has the call, completed", async () => (await bobs.getAttribute("data-status").catch(() => null)) === "COMPLETED");
  // Talk time runs from Bob's answer (moments ago), not Twilio's CallDuration of the received call (which counts the ringing).
  assert.match(await bobs.locator("td.duration").textContent(), /^00:0\d$/);
});

test("a text arrives live, its thread opens, a reply is sent and a refused one says why", async () => {
  const agent = await agentConsole("Agent Alice");
  await eventually("no texts yet", async () => /No texts yet/.test(await agent.locator("#threads").textContent()));

  // A text while the console is open: `sms.received` adds the thread, no reload.
  const first = { MessageSid: sid("SM"), AccountSid: SID, From: CALLER, To: OUR_NUMBER, Body: "Hi, is my order on its way?", NumSegments: "1" };
  assert.match(await webhook(`${HOOKS}/sms`, first), /<Response\s*\/>|<Response><\/Response>/);
  const thread = agent.locator(`#threads li[data-number="${CALLER}"]`);
  await thread.waitFor({ timeout: WAIT });
  assert.match(await thread.textContent(), /\+14155552671 new/);
  assert.match(await thread.textContent(), /to Main line \(\+14155550100\)/);
  await shot(agent, "agent-text-arrived");
  await thread.getByRole("button").click();
  const messages = agent.locator("#messages li");
  await messages.first().waitFor({ timeout: WAIT });
  assert.deepEqual(await agent.locator("#messages li .body").allTextContents(), [first.Body]);
  assert.doesNotMatch(await thread.textContent(), /new/, "an open thread is read");

  // Another text lands in the open thread.
  const second = { ...first, MessageSid: sid("SM"), Body: "Order #1234." };
  await webhook(`${HOOKS}/sms`, second);
  await eventually("the second text shows", async () => (await messages.count()) === 2);
  assert.equal(await messages.nth(1).locator(".body").textContent(), second.Body);
  assert.equal(await messages.nth(1).getAttribute("class"), "sms sms-inbound");

  // The reply goes from the thread's number to the caller, through Twilio's Messages API.
  assert.equal(await agent.locator("#reply [name=from]").inputValue(), OUR_NUMBER);
  assert.equal(await agent.locator("#reply [name=to]").inputValue(), CALLER);
  await agent.locator("#reply [name=body]").fill("Yes: it ships today.");
  await agent.getByRole("button", { name: "Send" }).click();
  await eventually("the reply shows", async () => (await messages.count()) === 3);
  assert.equal(await messages.nth(2).getAttribute("class"), "sms sms-outbound");
  assert.match(await messages.nth(2).textContent(), /Yes: it ships today\..*sending…/);
  assert.deepEqual(
    twilio.seen.messages.map(({ From, To, Body }) => ({ From, To, Body })),
    [{ From: OUR_NUMBER, To: CALLER, Body: "Yes: it ships today." }],
  );
  assert.equal(await agent.locator("#reply [name=body]").inputValue(), "", "the box is emptied");

  // Twilio refuses one: the reason is shown, the text kept in the box.
  await agent.locator("#reply [name=body]").fill("Special offer [refuse]");
  await agent.getByRole("button", { name: "Send" }).click();
  const error = agent.locator("#reply-error");
  await error.waitFor({ timeout: WAIT });
  assert.match(await error.textContent(), /The text was not sent: Twilio refused the request: Attempt to send to unsubscribed recipient/);
  assert.equal(await agent.locator("#reply [name=body]").inputValue(), "Special offer [refuse]");
  await shot(agent, "agent-text-thread");

  // After a reload the thread is read from the server, the refused text marked as failed.
  await agent.reload();
  await thread.getByRole("button").click({ timeout: WAIT });
  await eventually("the thread reloads", async () => (await messages.count()) === 4);
  assert.deepEqual(await agent.locator("#messages li .body").allTextContents(), [first.Body, second.Body, "Yes: it ships today.", "Special offer [refuse]"]);
  assert.equal(await messages.nth(3).getAttribute("data-status"), "failed");
  assert.match(await messages.nth(3).textContent(), /failed/);
});

test("the phone line and an open thread fit a 390 px phone", async () => {
  const agent = await agentConsole("Agent Alice", { phone: true });
  await agent.locator(`#threads li[data-number="${CALLER}"] button`).click({ timeout: WAIT });
  await agent.locator("#messages li").first().waitFor({ timeout: WAIT });
  await eventually("the history has the phone calls", async () => (await agent.locator('#history tr[data-channel="pstn"]').count()) >= 2);
  await fits(agent, "agent-phone-texts");
});
