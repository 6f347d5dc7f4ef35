// Small UI helpers shared by the agent console and the customer page.

import { token } from "./client.js";

export const $ = (sel, root = document) => root.querySelector(sel);

/** Shows a message to the user ("info" or "error"). */
export function notice(text, kind = "info") {
  const box = $("#notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

/** What an error code means, in words. */
export function explain(err) {
  const words = {
    media_permission: "Microphone and camera permission was denied: allow them in the browser to talk.",
    media_device: "No microphone was found on this device.",
    media_unsupported: "This browser cannot capture audio here.",
    media_failed: "The media connection failed: the other side could not be reached.",
    connection_lost: "The connection to the server was lost; reconnecting…",
    caller_busy: "You are already in a call.",
    participant_not_found: "That person is not known to the server.",
    rate_limited: "Too many calls in a short time: wait a minute and try again.",
    call_already_answered: "This call was already answered on another device.",
    call_ended: "This call has already ended.",
    call_not_found: "This call is over or was never yours.",
    too_many_sockets: "Too many tabs are open for this user: close one and reload.",
    auth_unavailable: "The sign-in service cannot be reached right now; try again shortly.",
    token_expired: "Your sign-in has expired: sign in again.",
    timeout: "The server did not answer in time.",
  };
  return words[err?.code] || err?.message || "Something went wrong.";
}

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** A ring tone made with WebAudio (no file): two beeps every two seconds. */
export class Ringer {
  start() {
    this.stop();
    try {
      this.ctx = new AudioContext();
    } catch {
      return;
    }
    const beep = () => {
      for (const at of [0, 0.4]) {
        const osc = this.ctx.createOscillator();
        const gain = this.ctx.createGain();
        osc.frequency.value = 440;
        gain.gain.value = 0.08;
        osc.connect(gain).connect(this.ctx.destination);
        osc.start(this.ctx.currentTime + at);
        osc.stop(this.ctx.currentTime + at + 0.25);
      }
    };
    beep();
    this.timer = setInterval(beep, 2000);
  }

  stop() {
    clearInterval(this.timer);
    this.ctx?.close().catch(() => {});
    this.ctx = null;
  }
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

/** Renders the call history table. */
export async function renderHistory(tbody, rows, me) {
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
    const tr = tbody.insertRow();
    tr.dataset.callId = r.id;
    tr.dataset.status = r.status;
    const outgoing = r.fromUserId === me.userId;
    const other = outgoing ? r.toUserId : r.fromUserId;
    tr.insertCell().textContent = new Date(r.startedAt).toLocaleString();
    tr.insertCell().textContent = `${outgoing ? "→" : "←"} ${outgoing ? other : r.callerName || other}`;
    const st = tr.insertCell();
    st.textContent = STATUS_WORDS[r.status] || r.status;
    st.className = `status status-${r.status.toLowerCase()}`;
    const dur = tr.insertCell();
    dur.textContent = r.status === "COMPLETED" || r.status === "FAILED" ? fmtDuration(r.duration) : "—";
    dur.dataset.duration = r.duration;
    const rec = tr.insertCell();
    if (r.recordingUrl) {
      const link = document.createElement("button");
      link.className = "link";
      link.textContent = "Play recording";
      link.onclick = () => playRecording(rec, r.recordingUrl);
      rec.append(link);
    } else {
      rec.textContent = "—";
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

async function playRecording(cell, url) {
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
    label.textContent = `${t.side}: `;
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = `${t.url}?access_token=${encodeURIComponent(token())}`;
    label.append(audio);
    cell.append(label);
  }
}
