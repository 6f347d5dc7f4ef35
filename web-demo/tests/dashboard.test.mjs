// Browser tests of the calls dashboard (issue #12): calls made in the demo
// show up in the 30-day chart and today's per-member table; a member sees
// their own row, an org admin everyone's and the org's chart.
//
// Run: npm test --prefix web-demo/tests (with demo.test.mjs and phone.test.mjs).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, fits, shot, startDemo, WAIT } from "./harness.mjs";

let demo;

before(async () => {
  demo = await startDemo();
});

afterEach(async () => {
  await demo.closeContexts();
});

after(async () => {
  await demo?.stop();
});

/** The customer calls `agentId`; the agent answers; the customer hangs up. */
async function answeredCall(customer, agent, agentId) {
  const callBtn = customer.locator(`[data-call="${agentId}"]`);
  await callBtn.waitFor({ timeout: WAIT });
  await callBtn.click();
  await agent.locator("#incoming:not([hidden])").waitFor({ timeout: WAIT });
  await agent.locator("#accept-btn").click();
  await customer.locator('#incall[data-state="active"]').waitFor({ timeout: WAIT });
  await customer.locator("#hangup-btn").click();
  for (const page of [agent, customer]) await page.locator("#incall").waitFor({ state: "hidden", timeout: WAIT });
}

/** The dashboard's row of today for `member`, as numbers, or null. */
async function todayRow(page, member) {
  const row = page.locator(`#members tr[data-member="${member}"]`);
  if ((await row.count()) === 0) return null;
  const cells = await row.locator("td").allTextContents();
  return { total: Number(cells[1]), inbound: Number(cells[2]), answered: Number(cells[4]), talk: cells[6] };
}

test("calls made in the demo show on the dashboard: the member's own row, the admin's whole org", async () => {
  const agent = await demo.signIn("Agent Alice");
  const customer = await demo.signIn("Customer Carol");
  await answeredCall(customer, agent, "agent-alice");

  // Alice opens her dashboard from the console.
  await agent.locator("#dashboard-link").click();
  await agent.waitForURL(/\/dashboard\.html$/);
  await agent.locator('body[data-loaded="true"]').waitFor();
  const own = await eventually("alice's row", () => todayRow(agent, "agent-alice"));
  assert.equal(own.total, 1);
  assert.equal(own.inbound, 1);
  assert.equal(own.answered, 1);
  assert.match(await agent.locator("#scope").textContent(), /Your calls/);
  // 30 bars; today's has one answered call.
  assert.equal(await agent.locator("#chart g").count(), 30);
  const today = await agent.locator("#today").textContent();
  const bar = agent.locator(`#chart g[data-day="${today}"]`);
  assert.equal(await bar.getAttribute("data-total"), "1");
  assert.equal(await bar.getAttribute("data-answered"), "1");
  await shot(agent, "dashboard-member");

  // Bob, an org admin, sees Alice's row and the org's chart.
  const adminToken = await demo.devToken({
    userId: "agent-bob",
    tenantId: "acme",
    participantType: "CRM_USER",
    firstName: "Bob",
    lastName: "Agent",
    role: "admin",
  });
  const context = await demo.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true });
  const admin = await context.newPage();
  await admin.addInitScript((t) => sessionStorage.setItem("switchboard.token", t), adminToken);
  await admin.goto(`${demo.base}/dashboard.html`);
  await admin.locator('body[data-loaded="true"]').waitFor();
  assert.match(await admin.locator("#scope").textContent(), /Everyone in the org/);
  const alice = await eventually("alice's row for the admin", () => todayRow(admin, "agent-alice"));
  assert.equal(alice.total, 1);
  assert.equal(await admin.locator(`#chart g[data-day="${today}"]`).getAttribute("data-total"), "1");
  await fits(admin, "dashboard on a phone");
  await shot(admin, "dashboard-admin-phone");
});
