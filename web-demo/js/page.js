// What both pages share: the signed-in user, the socket, the connection badge, the history.

import { api, me, Signaling, signOut, token } from "./client.js";
import { $, explain, notice, renderHistory } from "./ui.js";

/** Starts the page for a participant of `type`; returns { who, sig, refreshHistory }. */
export function startPage(type) {
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
    else notice("The connection to the server was lost; reconnecting…", "error");
    // Refused before `welcome`: ask over REST why (a socket refusal carries no reason).
    if (!e.welcomed) refreshHistory();
  });
  sig.on("error", (e) => notice(e.message || "The server refused a request.", "error"));

  async function refreshHistory() {
    try {
      renderHistory($("#history"), await api("GET", "/api/voip/history?limit=20"), who);
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
  return { who, sig, refreshHistory };
}
