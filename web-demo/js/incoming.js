// The incoming-call banner both pages share: ring, Accept / Decline, and the
// words for a call that ends before it is answered. In a background tab it
// also flashes the title and shows a browser notification.

import { ENDINGS } from "./phone.js";
import { $, notice } from "./ui.js";

const END_FRAMES = ["call.cancelled", "call.missed", "call.answered_elsewhere", "call.declined", "call.ended"];

export class Incoming {
  /** @param sig Signaling; @param phone Phone; @param tones Tones; @param refresh() refreshes the history */
  constructor(sig, phone, tones, refresh) {
    this.sig = sig;
    this.phone = phone;
    this.tones = tones;
    this.refresh = refresh;
    this.ringing = null; // { callId, name }
    this.title = document.title;
    this.flash = null;
    this.notification = null;

    $("#accept-btn").onclick = async () => {
      const r = this.ringing;
      this.clear();
      if (r) await phone.accept(r.callId, r.name);
    };
    $("#decline-btn").onclick = async () => {
      const r = this.ringing;
      this.clear();
      if (r && (await phone.decline(r.callId))) notice(`You declined the call from ${r.name}.`, "info");
    };
    sig.on("call.incoming", (call) => this.show(call));
    sig.on("open", (welcome) => {
      const pending = welcome.pendingCalls || [];
      // A call that rang while the socket was down and is over now: stop ringing, say so.
      if (this.ringing && !pending.some((c) => c.callId === this.ringing.callId)) {
        notice(`The call from ${this.ringing.name} ended while the connection was down.`, "error");
        this.clear();
        refresh();
      }
      if (pending.length) this.show(pending[0]);
    });
    // The ringing call ends before it is answered here (the Phone follows it once accepted).
    for (const t of END_FRAMES) {
      sig.on(t, (msg) => {
        if (this.ringing?.callId !== msg.callId) return;
        const { name } = this.ringing;
        this.clear();
        if (t === "call.declined") notice("The call was declined on another device.", "info");
        else if (t === "call.ended") notice(`The call from ${name} ended before you answered.`, "error");
        else notice(ENDINGS[t](name, false), t === "call.missed" ? "error" : "info");
        refresh();
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.stopFlash();
    });
  }

  show(call) {
    // A phone call rings the Twilio softphone, not this banner (js/pstn.js shows it).
    if (call.channel === "pstn") return;
    if (this.phone.busy()) return;
    if (this.ringing?.callId === call.callId) return;
    notice("");
    this.ringing = { callId: call.callId, name: call.from.name };
    $("#incoming-from").textContent = call.from.name;
    $("#incoming").hidden = false;
    this.tones.ring();
    if (document.hidden) this.alertBackground(call.from.name);
  }

  clear() {
    if (!this.ringing) return;
    this.ringing = null;
    $("#incoming").hidden = true;
    this.tones.stop();
    this.stopFlash();
  }

  /** A background tab: flash the title and show a notification (when the user allowed them). */
  alertBackground(name) {
    this.stopFlash();
    let on = false;
    this.flash = setInterval(() => {
      on = !on;
      document.title = on ? `📞 ${name} is calling` : this.title;
    }, 1000);
    document.title = `📞 ${name} is calling`;
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        this.notification = new Notification("Incoming call", { body: `${name} is calling`, tag: "switchboard-call" });
        this.notification.onclick = () => window.focus();
      } catch {
        // Some browsers allow notifications only from a service worker: the title still flashes.
      }
    }
  }

  stopFlash() {
    clearInterval(this.flash);
    this.flash = null;
    document.title = this.title;
    this.notification?.close?.();
    this.notification = null;
  }
}

/** Asks for notification permission on the first interaction (browsers refuse it without one). */
export function askForNotifications() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  const ask = () => {
    document.removeEventListener("pointerdown", ask, true);
    Notification.requestPermission().catch(() => {});
  };
  document.addEventListener("pointerdown", ask, true);
}
