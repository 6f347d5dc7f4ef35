// The agent console: availability, incoming calls (banner and ring), the call, the history.

import { startPage } from "./page.js";
import { Phone } from "./phone.js";
import { $, notice, Ringer } from "./ui.js";

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
  $("#availability").onchange = async (e) => {
    try {
      await sig.request({ type: "status.set", status: e.target.value });
    } catch (err) {
      notice(err.message, "error");
    }
  };

  sig.on("open", (welcome) => {
    const pending = welcome.pendingCalls || [];
    if (pending.length) showIncoming(pending[0]);
    // Availability survives a reconnect.
    if ($("#availability").value !== "available") sig.send({ type: "status.set", status: $("#availability").value });
  });
  sig.on("call.incoming", showIncoming);
  for (const t of ["call.cancelled", "call.missed", "call.answered_elsewhere", "call.declined"]) {
    sig.on(t, (msg) => {
      if (ringing?.callId === msg.callId) {
        clearIncoming(msg.callId);
        const name = msg.callId && ringing?.name;
        if (t === "call.cancelled") notice(`The caller hung up before you answered.`, "info");
        if (t === "call.missed") notice(`Missed call${name ? ` from ${name}` : ""}.`, "error");
        if (t === "call.answered_elsewhere") notice("The call was answered on another device.", "info");
        refreshHistory();
      } else {
        phone.handle(msg);
      }
    });
  }
  sig.on("call.ended", (msg) => {
    // A call can also end while it rings (media failed): stop ringing.
    if (ringing?.callId === msg.callId) {
      clearIncoming(msg.callId);
      notice("The call ended before you answered.", "error");
      refreshHistory();
    } else {
      phone.handle(msg);
    }
  });
  for (const t of ["call.accepted", "rtc.offer", "rtc.candidate", "rtc.signal"]) {
    sig.on(t, (msg) => phone.handle(msg));
  }
  sig.connect();
  refreshHistory();
  window.demo = Object.assign(window.demo || {}, { phone, sig });
}
