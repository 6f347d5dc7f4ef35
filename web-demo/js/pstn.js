// The phone line of the agent console (issue #11): the agent's numbers
// (`GET /api/user/phone-assignments`), whether a softphone could run here
// (`GET /api/phone/token`), and phone calls ringing those numbers.
//
// A phone call's audio goes through Twilio's cloud: it is answered on a
// softphone (Twilio's Voice JS SDK with the token from `/api/phone/token`),
// which this demo does not load (it loads no script from the internet). So a
// ringing phone call (`call.incoming` with `channel: "pstn"`) is shown as a
// notice that says to answer it there; `call.answered_elsewhere`,
// `call.cancelled` or `call.ended` with its `callId` clears it.

import { api } from "./client.js";
import { $, explainPhone, fmtDuration, notice } from "./ui.js";

/** Frames that end a ringing phone call here (each carries its `callId`). */
const OVER = ["call.answered_elsewhere", "call.cancelled", "call.ended", "call.missed"];

/**
 * How long a ringing notice stays with no frame about it: the server rings
 * softphones for 25 s (`PSTN_RING_SECS`), then sends the call to voicemail.
 */
const RING_FALLBACK_MS = 40_000;

/** "Main line (+14155550100)", or the bare number. */
export function numberName(n) {
  return n.label ? `${n.label} (${n.e164})` : n.e164;
}

export class PhoneLine {
  /** @param sig Signaling; @param refreshHistory() reloads the call history */
  constructor(sig, refreshHistory) {
    this.sig = sig;
    this.refreshHistory = refreshHistory;
    /** The agent's numbers: [{phoneNumberId, e164, label}]. */
    this.numbers = [];
    this.listeners = [];
    /** Ringing phone calls: callId → { from, li, timer }. */
    this.ringing = new Map();
    sig.on("call.incoming", (c) => {
      if (c.channel === "pstn") this.ring(c);
    });
    for (const t of OVER) sig.on(t, (msg) => this.over(t, msg));
  }

  /** Calls `fn(numbers)` whenever the agent's numbers are (re)loaded. */
  onNumbers(fn) {
    this.listeners.push(fn);
  }

  /** Loads the numbers and the softphone's state. */
  async load() {
    await Promise.all([this.loadNumbers(), this.loadSoftphone()]);
  }

  async loadNumbers() {
    const box = $("#phone-numbers");
    try {
      const mine = await api("GET", "/api/user/phone-assignments");
      this.numbers = mine.assignments;
    } catch (err) {
      if (!err.status) return; // the server is unreachable: the connection badge says so
      box.textContent = `Your phone numbers could not be loaded: ${explainPhone(err)}`;
      return;
    }
    box.replaceChildren();
    if (this.numbers.length === 0) {
      box.textContent = "You answer no phone number yet: an admin assigns numbers to you (POST /api/orgs/{orgId}/users/{userId}/phone-assignments).";
    } else {
      box.append("Your numbers: ");
      this.numbers.forEach((n, i) => {
        const b = document.createElement("strong");
        b.dataset.number = n.e164;
        b.textContent = numberName(n);
        box.append(...(i ? [", ", b] : [b]));
      });
    }
    for (const fn of this.listeners) fn(this.numbers);
  }

  /** Whether the server could hand a softphone its token (it needs Twilio's API key and TwiML app). */
  async loadSoftphone() {
    const box = $("#softphone-status");
    try {
      const t = await api("GET", "/api/phone/token");
      box.dataset.state = "ready";
      const until = new Date(t.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      box.textContent = `Softphone token ready (identity ${t.identity}, valid until ${until}). This demo does not load Twilio's Voice JS SDK: answer phone calls on a softphone that does.`;
    } catch (err) {
      if (!err.status) return;
      box.dataset.state = "off";
      box.textContent = `No softphone here: ${explainPhone(err)}`;
    }
  }

  /** A phone call rings one of the agent's numbers. */
  ring(c) {
    if (this.ringing.has(c.callId)) return;
    const list = $("#pstn-ringing");
    const to = this.numbers.find((n) => n.phoneNumberId === c.phoneNumberId || n.e164 === c.toNumber);
    const li = document.createElement("li");
    li.className = "ringing";
    li.dataset.callId = c.callId;
    const from = document.createElement("strong");
    from.className = "from";
    // The CRM contact the number matched, when there is one (docs/contacts.md).
    const number = c.from?.number || "A withheld number";
    from.textContent = c.contact?.name ? `${c.contact.name} (${number})` : number;
    const what = document.createElement("span");
    what.textContent = ` is calling ${to ? numberName(to) : c.toNumber}: answer on your softphone.`;
    const tag = document.createElement("span");
    tag.className = "channel-tag";
    tag.textContent = "phone call";
    li.append(tag, " ", from, what);
    list.append(li);
    list.hidden = false;
    const timer = setTimeout(() => this.clear(c.callId), RING_FALLBACK_MS);
    this.ringing.set(c.callId, { from: from.textContent, li, timer });
  }

  /** A frame about a call: if it is a ringing phone call, it is over here. */
  over(type, msg) {
    const r = this.ringing.get(msg.callId);
    if (!r) return;
    this.clear(msg.callId);
    if (type === "call.answered_elsewhere") notice(`The phone call from ${r.from} was answered by someone else.`, "info");
    else if (type === "call.cancelled" && msg.reason === "ring_timeout") notice(`Nobody answered the phone call from ${r.from}: it went to voicemail.`, "error");
    else if (type === "call.ended" && msg.status === "COMPLETED") notice(`The phone call from ${r.from} ended after ${fmtDuration(msg.duration)}.`, "info");
    else notice(`The phone call from ${r.from} ended before it was answered.`, "error");
  }

  clear(callId) {
    const r = this.ringing.get(callId);
    if (!r) return;
    clearTimeout(r.timer);
    r.li.remove();
    this.ringing.delete(callId);
    $("#pstn-ringing").hidden = this.ringing.size === 0;
    this.refreshHistory();
  }
}
