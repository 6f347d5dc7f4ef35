// The sign-in picker: mints a dev token (or takes a pasted one, checked with the
// server first) and opens the right page.

import { devToken, me, setToken } from "./client.js";
import { $, explain, notice } from "./ui.js";

function go() {
  const who = me();
  if (!who?.type) {
    notice("This token has no participant type (app_metadata.participant_type); it cannot sign in here.", "error");
    return;
  }
  location.href = who.type === "CRM_USER" ? "/agent.html" : "/customer.html";
}

async function signIn(profile) {
  try {
    setToken(await devToken(profile));
    go();
  } catch (err) {
    notice(err.message, "error");
  }
}

/** Why a pasted text is not a token we can use, or null (the server agreed to it). */
async function refusal(text) {
  const parts = text.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[0] || !parts[1]) {
    return "That is not an access token: a token is three parts of letters and digits separated by dots (eyJ….eyJ….…).";
  }
  try {
    JSON.parse(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return "That is not an access token: its middle part is not readable.";
  }
  // The server is the judge: any route tells why it refuses a token.
  const res = await fetch("/api/voip/history?limit=1", { headers: { authorization: `Bearer ${text}` } }).catch(() => null);
  if (!res) return "The server cannot be reached to check this token.";
  if (res.ok) return null;
  const body = await res.json().catch(() => null);
  const code = body?.error?.code;
  const reason = body?.error?.message;
  return `The server refused this token: ${reason || explain({ code })}${code ? ` (${code})` : ""}.`;
}

for (const b of document.querySelectorAll("[data-pick]")) {
  b.onclick = () =>
    signIn({
      userId: b.dataset.pick,
      tenantId: $("#custom [name=tenantId]").value || "acme",
      participantType: b.dataset.type,
      firstName: b.dataset.first,
      lastName: b.dataset.last,
      email: `${b.dataset.pick}@example.com`,
    });
}

$("#custom").onsubmit = (e) => {
  e.preventDefault();
  const f = Object.fromEntries(new FormData(e.target));
  signIn({ ...f, email: `${f.userId}@example.com` });
};

$("#paste").onsubmit = async (e) => {
  e.preventDefault();
  const text = new FormData(e.target).get("token").trim();
  notice("");
  const why = await refusal(text);
  if (why) {
    notice(why, "error");
    return;
  }
  setToken(text);
  go();
};
