// The agent console: availability, incoming calls (banner and ring), the call, the history.

import { startPage } from "./page.js";
import { ENDINGS, Phone } from "./phone.js";
import { $, explain, notice, Ringer } from "./ui.js";

const page = startPage("CRM_USER");
if (page) {
  const { sig, refreshHistory } = page;
  const phone = new Phone(sig, refreshHistory);
  const ringer = new Ringer();
  let ringing = null; // { callId, name }

  function showIncoming(call) {
    if (phone.busy()) return;
    ringing = { callId: call.callId, name: call.from.name };
    $("#incoming-from").textContent = call.from.name;
    $("#incoming").hidden = false;
    ringer.start();
  }

  function clearIncoming(callId) {
    if (ringing && (!callId || ringing.callId === callId)) {
      ringing = null;
      $("#incoming").hidden = true;
      ringer.stop();
    }
  }

  $("#accept-btn").onclick = async () => {
    const r = ringing;
    clearIncoming();
    if (r) await phone.accept(r.callId, r.name);
  };
  $("#decline-btn").onclick = async () => {
    const r = ringing;
    clearIncoming();
    if (r) await phone.decline(r.callId);
  };
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

  sig.on("open", (welcome) => {
    const pending = welcome.pendingCalls || [];
    // A call that rang while the socket was down and is over now: stop ringing, say so.
    if (ringing && !pending.some((c) => c.callId === ringing.callId)) {
      notice(`The call from ${ringing.name} ended while the connection was down.`, "error");
      clearIncoming();
      refreshHistory();
    }
    if (pending.length) showIncoming(pending[0]);
    // Availability survives a reconnect.
    if ($("#availability").value !== "available") sig.send({ type: "status.set", status: $("#availability").value });
  });
  sig.on("call.incoming", showIncoming);
  // The ringing call ends before it is answered here (the Phone follows the call once accepted).
  for (const t of ["call.cancelled", "call.missed", "call.answered_elsewhere", "call.declined", "call.ended"]) {
    sig.on(t, (msg) => {
      if (ringing?.callId !== msg.callId) return;
      const { name } = ringing;
      clearIncoming();
      if (t === "call.declined") notice("The call was declined on another device.", "info");
      else if (t === "call.ended") notice(`The call from ${name} ended before you answered.`, "error");
      else notice(ENDINGS[t](name, false), t === "call.missed" ? "error" : "info");
      refreshHistory();
    });
  }
  sig.connect();
  refreshHistory();
  window.demo = Object.assign(window.demo || {}, { phone, sig });
}
