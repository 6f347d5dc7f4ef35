// What both pages share: the signed-in user, the socket, the connection badge,
// the phone (calls in and out), the incoming-call banner, the history.

import { api, me, Signaling, signOut, token } from "./client.js";
import { askForNotifications, Incoming } from "./incoming.js";
import { Phone } from "./phone.js";
import { Tones } from "./tones.js";
import { $, explain, notice, renderHistory } from "./ui.js";

/**
 * Starts the page for a participant of `type`. `canCall(other)` says whom the
 * history may call back. Returns { who, sig, phone, tones, refreshHistory, onChange }
 * (`onChange(fn)` adds a listener for calls starting and ending).
 */
export function startPage(type, { canCall } = {}) {
  const who = me();
  if (!token() || !who) {
    location.href = "/";
    return null;
  }
  if (who.type !== type) {
    location.href = who.type === "CRM_USER" ? "/agent.html" : "/customer.html";
    return null;
  }
  $("#whoami").textContent = `${[who.firstName, who.lastName].filter(Boolean).join(" ") || who.userId} · ${who.tenantId}`;
  $("#signout").onclick = signOut;

  const sig = new Signaling();
  const tones = new Tones();
  const listeners = [];
  const changed = () => {
    refreshHistory();
    for (const fn of listeners) fn();
  };
  const phone = new Phone(sig, tones, changed);
  const incoming = new Incoming(sig, phone, tones, refreshHistory);
  askForNotifications();

  const badge = $("#conn");
  sig.on("open", () => {
    badge.dataset.state = "online";
    badge.textContent = "online";
    if ($("#notice").textContent.startsWith("The connection to the server was lost")) notice("");
  });
  sig.on("close", (e) => {
    badge.dataset.state = "offline";
    badge.textContent = "offline";
    if (e.code === 1008) notice("The connection was closed by the server (too slow); reconnecting…", "error");
    else if (e.code === 4001) notice("Your sign-in expired; reconnecting with it will not work: sign in again.", "error");
    else notice("The connection to the server was lost; reconnecting…", "error");
    // Refused before `welcome`: ask over REST why (a socket refusal carries no reason).
    if (!e.welcomed) refreshHistory();
  });
  sig.on("error", (e) => notice(explain(e), "error"));

  const callBack = (other) => phone.dial(other.id, other.name);

  async function refreshHistory() {
    try {
      const rows = await api("GET", "/api/voip/history?limit=20");
      renderHistory($("#history"), rows, who, { callBack, canCall });
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        // The token is not (or no longer) accepted: reconnecting will not help.
        sig.close();
        badge.dataset.state = "offline";
        badge.textContent = "signed out";
        notice(`${explain(err)} Sign out and sign in again.`, "error");
      } else if (err.status) {
        // (No status: the server is unreachable, which the connection badge already says.)
        notice(`The call history could not be loaded: ${explain(err)}`, "error");
      }
    }
  }
  window.demo = Object.assign(window.demo || {}, { phone, sig, tones, incoming });
  return { who, sig, phone, tones, refreshHistory, onChange: (fn) => listeners.push(fn) };
}
