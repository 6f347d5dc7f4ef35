// The agent console: availability, the customers to call (searchable), incoming
// calls (banner, ring), the call, the history with "Call back", and the phone
// line (js/pstn.js: numbers, softphone, ringing phone calls) and texts (js/sms.js).

import { api } from "./client.js";
import { startPage } from "./page.js";
import { PhoneLine } from "./pstn.js";
import { Texts } from "./sms.js";
import { $, explain, notice } from "./ui.js";

/** How long typing pauses before the customer search runs. */
const SEARCH_DEBOUNCE_MS = 250;

// Agents may call anyone of their tenant back.
const page = startPage("CRM_USER", { canCall: () => true });
if (page) {
  const { sig, phone, refreshHistory, onChange } = page;

  let availability = $("#availability").value;
  $("#availability").onchange = async (e) => {
    try {
      await sig.request({ type: "status.set", status: e.target.value });
      availability = e.target.value;
    } catch (err) {
      e.target.value = availability;
      notice(explain(err), "error");
    }
  };
  sig.on("open", () => {
    // Availability survives a reconnect.
    if ($("#availability").value !== "available") sig.send({ type: "status.set", status: $("#availability").value });
  });

  // The customers of this tenant, to call from the console.
  const STATUS = { available: "online", away: "online", busy: "on a call", offline: "offline" };
  async function loadCustomers() {
    const q = $("#customer-search").value.trim();
    const list = $("#customers");
    let rows;
    try {
      rows = await api("GET", `/api/voip/participants?type=PORTAL_CUSTOMER&limit=20&q=${encodeURIComponent(q)}`);
    } catch (err) {
      if (err.status) notice(`The customer list could not be loaded: ${explain(err)}`, "error");
      return;
    }
    list.replaceChildren();
    if (rows.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = q ? `No customer matches “${q}”.` : "No customers yet: they appear here once they have signed in.";
      list.append(li);
      return;
    }
    for (const c of rows) {
      const li = document.createElement("li");
      li.dataset.customerId = c.userId;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = c.displayName;
      const st = document.createElement("small");
      st.className = `presence presence-${c.status}`;
      st.textContent = STATUS[c.status] || c.status;
      name.append(" ", st);
      const btn = document.createElement("button");
      btn.className = "ok";
      btn.textContent = "Call";
      btn.dataset.call = c.userId;
      btn.disabled = phone.busy();
      btn.onclick = () => phone.dial(c.userId, c.displayName);
      li.append(name, btn);
      list.append(li);
    }
  }
  let searching = null;
  $("#customer-search").oninput = () => {
    clearTimeout(searching);
    searching = setTimeout(loadCustomers, SEARCH_DEBOUNCE_MS);
  };
  sig.on("open", loadCustomers);
  onChange(loadCustomers);

  // Phone calls and texts (Twilio): shown here, a phone call's audio is a softphone's.
  const line = new PhoneLine(sig, refreshHistory);
  const texts = new Texts(sig, line);
  window.demo = Object.assign(window.demo || {}, { line, texts });

  sig.connect();
  refreshHistory();
  line.load();
}
