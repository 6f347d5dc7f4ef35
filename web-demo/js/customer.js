// The customer page: the live list of available agents, calling one, the call, the history.

import { api } from "./client.js";
import { startPage } from "./page.js";
import { Phone } from "./phone.js";
import { $, explain, notice } from "./ui.js";

const page = startPage("PORTAL_CUSTOMER");
if (page) {
  const { sig, refreshHistory } = page;
  const phone = new Phone(sig, () => {
    refreshHistory();
    render();
  });
  const agents = new Map(); // supabaseUserId -> agent

  const nameOf = (a) => [a.firstName, a.lastName].filter(Boolean).join(" ") || a.email || a.supabaseUserId;

  function render() {
    const list = $("#agents");
    list.replaceChildren();
    if (agents.size === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No agent is available right now. This list updates by itself.";
      list.append(li);
      return;
    }
    for (const a of [...agents.values()].sort((x, y) => nameOf(x).localeCompare(nameOf(y)))) {
      const li = document.createElement("li");
      li.dataset.agentId = a.supabaseUserId;
      const name = document.createElement("span");
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

  sig.on("open", loadAgents);
  sig.on("presence", (a) => {
    if (a.status === "available") agents.set(a.supabaseUserId, a);
    else agents.delete(a.supabaseUserId);
    render();
  });
  render();
  sig.connect();
  refreshHistory();
  window.demo = Object.assign(window.demo || {}, { phone, sig });
}
