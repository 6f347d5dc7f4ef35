// Small UI helpers shared by the agent console and the customer page: the
// notice, every error code in words, durations, and the call history (in-app
// calls and, on the agent console, phone calls with their voicemail).

import { token } from "./client.js";

export const $ = (sel, root = document) => root.querySelector(sel);

/** Shows a message to the user ("info" or "error"). */
export function notice(text, kind = "info") {
  const box = $("#notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

/** What every error code a client can receive means, in words (docs/protocol.md § 8). */
const WORDS = {
  // the browser's own
  media_permission: "Microphone and camera permission was denied: allow them in the browser to talk.",
  media_device: "No microphone was found on this device.",
  media_unsupported: "This browser cannot capture audio here (it needs https or localhost).",
  media_failed: "The media connection failed: the other side could not be reached.",
  connection_lost: "The connection to the server was lost; reconnecting…",
  timeout: "The server did not answer in time.",
  http_error: "The server answered with an error.",
  // sign-in
  missing_token: "You are not signed in.",
  invalid_token: "The sign-in token is not valid for this server.",
  token_expired: "Your sign-in has expired: sign in again.",
  invalid_audience: "The sign-in token is meant for another service.",
  invalid_issuer: "The sign-in token comes from another project.",
  missing_sub_claim: "The sign-in token does not say who you are.",
  missing_tenant_claim: "The sign-in token does not say which organisation you belong to.",
  missing_participant_type_claim: "The sign-in token does not say whether you are an agent or a customer.",
  invalid_participant_type: "The sign-in token names an unknown kind of user.",
  forbidden: "You are not allowed to do that.",
  auth_unavailable: "Sign-in cannot be checked right now; try again in a moment.",
  // requests
  invalid_request: "The request was not understood.",
  invalid_message: "The server did not understand a message from this page.",
  unknown_type: "The server did not understand a message from this page.",
  not_found: "That does not exist.",
  method_not_allowed: "That is not possible here.",
  payload_too_large: "That is too large to send.",
  request_timeout: "The request took too long to arrive.",
  rate_limited: "Too many calls in a short time: wait a minute and try again.",
  too_many_sockets: "Too many tabs are open for you: close one and reload this page.",
  too_many_connections: "Too many connections from this network: try again shortly.",
  // calls
  participant_not_found: "That person is not known here.",
  call_not_found: "This call is over, or it was never yours.",
  cannot_call_self: "You cannot call yourself.",
  call_not_allowed: "Customers can only call agents.",
  caller_busy: "You are already in a call.",
  not_callee: "Only the person being called can do that.",
  not_caller: "Only the person calling can do that.",
  call_already_answered: "This call was already answered on another device.",
  call_not_ringing: "This call is no longer ringing.",
  call_not_active: "This call is not in progress.",
  call_ended: "This call has already ended.",
  conflict: "Something changed at the same moment; try again.",
  recording_not_found: "There is no recording of this call.",
  media_unavailable: "This server cannot do that with the call's audio and video.",
  // phone calls and texts
  provider_error: "The phone provider (Twilio) refused the request or could not be reached.",
  // the server
  unavailable: "The server is busy; try again in a moment.",
  cluster_unavailable: "That person is connected to another server, which cannot be reached right now; try again in a moment.",
  internal_error: "The server had a problem; try again.",
};

/** What an error means, in words. */
export function explain(err) {
  return WORDS[err?.code] || err?.message || "Something went wrong.";
}

/**
 * What a phone route's refusal means: the server's own message where it is
 * more precise than the generic words (it names the setting to change, or
 * what Twilio said), else `explain`.
 */
export function explainPhone(err) {
  const precise = ["unavailable", "provider_error", "invalid_request", "not_found", "forbidden"];
  return precise.includes(err?.code) && err.message ? err.message : explain(err);
}

/** Every code `explain` has words for (the tests check the list is complete). */
export const EXPLAINED = Object.keys(WORDS);

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

const STATUS_WORDS = {
  COMPLETED: "Completed",
  MISSED: "Missed",
  DECLINED: "Declined",
  CANCELLED: "Cancelled",
  BUSY: "Busy",
  FAILED: "Failed",
  RINGING: "Ringing",
  ACTIVE: "In progress",
};

/** The other person of a history row, and their name. */
export function otherOf(r, me) {
  const outgoing = r.fromUserId === me.userId;
  return outgoing
    ? { id: r.toUserId, type: r.toUserType, name: r.calleeName || r.toUserId, outgoing }
    : { id: r.fromUserId, type: r.fromUserType, name: r.callerName || r.fromUserId, outgoing };
}

/**
 * The far end of a phone call (`channel: "pstn"`): its number, and the
 * colleague who took or placed it when that was not `me`.
 */
function phoneOther(r, me) {
  const outgoing = r.direction === "outbound";
  const member = outgoing
    ? r.fromUserType === "CRM_USER" && r.fromUserId !== me.userId && (r.callerName || r.fromUserId)
    : r.toUserType === "CRM_USER" && r.toUserId !== me.userId && (r.calleeName || r.toUserId);
  return {
    outgoing,
    name: outgoing ? r.toNumber : r.fromNumber,
    colleague: member ? `${outgoing ? "placed" : "answered"} by ${member}` : "",
  };
}

/** A phone call's price ("USD 0.0085"), or "" when the provider has not said it yet. */
function priceText(r) {
  if (r.priceMicros == null) return "";
  return `${r.priceUnit || "USD"} ${(r.priceMicros / 1e6).toFixed(4)}`;
}

/**
 * Renders the call history. `callBack(row)`, when given, adds a Call back
 * button to missed and declined in-app rows whose other person `canCall`
 * (a phone call is called back from a softphone, not from here).
 */
export async function renderHistory(tbody, rows, me, { callBack, canCall } = {}) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = tbody.insertRow();
    const td = tr.insertCell();
    td.colSpan = 5;
    td.className = "empty";
    td.textContent = "No calls yet.";
    return;
  }
  for (const r of rows) {
    const pstn = r.channel === "pstn";
    const tr = tbody.insertRow();
    tr.dataset.callId = r.id;
    tr.dataset.status = r.status;
    tr.dataset.channel = r.channel || "in_app";
    const when = tr.insertCell();
    when.className = "when";
    when.textContent = new Date(r.startedAt).toLocaleString();
    const who = tr.insertCell();
    who.className = "who";
    if (pstn) {
      const other = phoneOther(r, me);
      who.dataset.who = other.name;
      const tag = document.createElement("span");
      tag.className = "channel-tag";
      tag.textContent = "phone";
      who.append(`${other.outgoing ? "→" : "←"} ${other.name} `, tag);
      const line = document.createElement("div");
      line.className = "via";
      line.textContent = [other.outgoing ? `from ${r.fromNumber}` : `to ${r.toNumber}`, other.colleague].filter(Boolean).join(" · ");
      who.append(line);
    } else {
      const other = otherOf(r, me);
      who.dataset.who = other.name;
      who.textContent = `${other.outgoing ? "→" : "←"} ${other.name}`;
      if (callBack && ["MISSED", "DECLINED", "CANCELLED", "BUSY"].includes(r.status) && (!canCall || canCall(other))) {
        const btn = document.createElement("button");
        btn.className = "link callback";
        btn.textContent = "Call back";
        btn.dataset.callBack = other.id;
        btn.onclick = () => callBack(other);
        who.append(btn);
      }
    }
    const st = tr.insertCell();
    st.textContent = STATUS_WORDS[r.status] || r.status;
    if (pstn && r.voicemail) st.textContent += " · voicemail";
    st.className = `status status-${r.status.toLowerCase()}`;
    if (pstn && priceText(r)) {
      const price = document.createElement("div");
      price.className = "price";
      price.textContent = priceText(r);
      st.append(price);
    }
    const dur = tr.insertCell();
    dur.className = "duration";
    dur.textContent = r.status === "COMPLETED" || r.status === "FAILED" ? fmtDuration(r.duration) : "—";
    dur.dataset.duration = r.duration;
    const rec = tr.insertCell();
    rec.className = "recording";
    if (r.recordingUrl && pstn) {
      const link = document.createElement("button");
      link.className = "link";
      const secs = r.recordingSeconds != null ? ` (${fmtDuration(r.recordingSeconds)})` : "";
      link.textContent = `${r.voicemail ? "Play voicemail" : "Play recording"}${secs}`;
      link.onclick = () => playPhoneRecording(rec, r.recordingUrl);
      rec.append(link);
    } else if (r.recordingUrl) {
      const link = document.createElement("button");
      link.className = "link";
      link.textContent = "Play recording";
      // Speakers by name, not by side.
      const names = { caller: r.callerName || r.fromUserId, callee: r.calleeName || r.toUserId };
      link.onclick = () => playRecording(rec, r.recordingUrl, names);
      rec.append(link);
    } else {
      rec.textContent = "—";
      rec.classList.add("none");
    }
    if (r.recordingError) {
      // The recording is missing a side or stops early: say why.
      const why = document.createElement("div");
      why.className = "recording-error";
      why.textContent = `Recording incomplete: ${r.recordingError}`;
      rec.append(why);
    }
  }
}

async function playRecording(cell, url, names) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token()}` } });
  if (!res.ok) {
    notice("The recording is not available.", "error");
    return;
  }
  const manifest = await res.json();
  cell.replaceChildren();
  for (const t of manifest.tracks) {
    const label = document.createElement("div");
    label.className = "track";
    label.textContent = `${names[t.side] || t.side}: `;
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = `${t.url}?access_token=${encodeURIComponent(token())}`;
    label.append(audio);
    cell.append(label);
  }
}

/**
 * A phone call's recording or voicemail (audio/mpeg, streamed from Twilio by
 * the server). That route takes the token only in the Authorization header
 * (no `?access_token=`), so the audio is fetched here and played from a blob URL.
 */
async function playPhoneRecording(cell, url) {
  const button = cell.querySelector("button");
  if (button) button.disabled = true;
  let res;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token()}` } });
  } catch {
    res = null;
  }
  if (!res?.ok) {
    const body = res && (await res.json().catch(() => null));
    const err = { code: body?.error?.code || "http_error", message: body?.error?.message };
    notice(`The recording is not available: ${explainPhone(err)}`, "error");
    if (button) button.disabled = false;
    return;
  }
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.src = URL.createObjectURL(await res.blob());
  cell.replaceChildren(audio);
}
