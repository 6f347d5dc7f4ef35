// The customer page: the live list of available agents, calling one, calls
// from agents (banner, ring), the call, the history with "Call back".

import { api } from "./client.js";
import { startPage } from "./page.js";
import { $, explain, notice } from "./ui.js";

// Customers may call agents only, so only agents are called back.
const page = startPage("PORTAL_CUSTOMER", { canCall: (other) => other.type === "CRM_USER" });
if (page) {
  const { sig, phone, refreshHistory, onChange } = page;
  const agents = new Map(); // supabaseUserId -> agent

  const nameOf = (a) => [a.firstName, a.lastName].filter(Boolean).join(" ") || a.email || a.supabaseUserId;

  function render() {
    const list = $("#agents");
    list.replaceChildren();
    const call = phone.call;
    // The agent of our own call is busy (with us): it leaves the list of available
    // agents, but this page says where it went instead of "nobody is available".
    if (call) {
      const li = document.createElement("li");
      li.className = "current";
      li.textContent = call.answeredAt ? `You are talking with ${call.name}.` : `Calling ${call.name}…`;
      list.append(li);
    }
    const others = [...agents.values()].filter((a) => a.supabaseUserId !== call?.otherId);
    if (others.length === 0 && !call) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No agent is available right now. This list updates by itself.";
      list.append(li);
      return;
    }
    for (const a of others.sort((x, y) => nameOf(x).localeCompare(nameOf(y)))) {
      const li = document.createElement("li");
      li.dataset.agentId = a.supabaseUserId;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = nameOf(a);
      const btn = document.createElement("button");
      btn.className = "ok";
      btn.textContent = "Call";
      btn.dataset.call = a.supabaseUserId;
      btn.disabled = phone.busy();
      btn.onclick = () => phone.dial(a.supabaseUserId, nameOf(a), { record: $("#record").checked });
      li.append(name, btn);
      list.append(li);
    }
  }

  async function loadAgents() {
    try {
      const list = await api("GET", "/api/voip/agents/available");
      agents.clear();
      for (const a of list) agents.set(a.supabaseUserId, a);
      render();
    } catch (err) {
      notice(explain(err), "error");
    }
  }

  sig.on("open", (welcome) => {
    // Recording needs the server's own media: offer it only then.
    $("#record-option").hidden = welcome.mediaMode !== "embedded";
    loadAgents();
  });
  sig.on("presence", (a) => {
    if (a.status === "available") agents.set(a.supabaseUserId, a);
    else agents.delete(a.supabaseUserId);
    render();
  });
  // Several servers: after this one lost and regained the others, the whole list (changes may have been missed).
  sig.on("presence.sync", (m) => {
    agents.clear();
    for (const a of m.agents) agents.set(a.supabaseUserId, a);
    render();
  });
  onChange(render);
  render();
  sig.connect();
  refreshHistory();
}
