// The call controller shared by both pages: one call at a time, its media,
// and the in-call view (ring time and ringback, timer, mute, camera, hang up).
//
// Each side tells the other when it mutes or turns its camera off, with an
// `rtc.signal` frame ({state: {muted, camera}}): the server relays it in every
// media mode. The other side then shows "muted" and a placeholder with the
// name instead of black video.

import { me } from "./client.js";
import { CallMedia } from "./media.js";
import { $, explain, fmtDuration, notice } from "./ui.js";

/** Frames about a call or its media: the Phone follows them for its own call. */
const CALL_EVENTS = [
  "call.accepted",
  "call.declined",
  "call.cancelled",
  "call.missed",
  "call.ended",
  "call.answered_elsewhere",
  "rtc.offer",
  "rtc.candidate",
  "rtc.signal",
];

/** Words for a call that ended before it was answered: (other's name, whether you placed it). */
export const ENDINGS = {
  "call.declined": (name) => `${name} declined the call.`,
  "call.cancelled": (name, mine) => (mine ? "You cancelled the call." : `${name} hung up before you answered.`),
  "call.missed": (name, mine) => (mine ? `No answer from ${name}.` : `Missed call from ${name}.`),
  "call.answered_elsewhere": () => "The call was answered on another device.",
};

function endedWords(msg, name) {
  if (msg.reason === "connection_lost") return `The call with ${name} was lost: a connection dropped.`;
  if (msg.reason === "media_failed") return `The call with ${name} was lost: audio could not flow.`;
  if (msg.reason === "server_restart") return "The call ended because the server restarted.";
  return `Call with ${name} ended after ${fmtDuration(msg.duration)}.`;
}

/** "Carol Customer" → "CC". */
function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
}

export class Phone {
  /** @param sig Signaling; @param tones Tones; @param onChange() called when a call starts or ends (refresh history). */
  constructor(sig, tones, onChange) {
    this.sig = sig;
    this.tones = tones;
    this.onChange = onChange || (() => {});
    this.call = null; // { id, name, isCaller, media, answeredAt, dialedAt, muted, cameraOff }
    for (const t of CALL_EVENTS) sig.on(t, (msg) => this.handle(msg));
    sig.on("open", (welcome) => this.resync(welcome));
    $("#hangup-btn").onclick = () => this.hangUp();
    $("#mute-btn").onclick = () => this.toggleMute();
    $("#camera-btn").onclick = () => this.toggleCamera();
    setInterval(() => this.tick(), 250);
  }

  get mode() {
    return this.sig.welcome?.mediaMode || "embedded";
  }

  busy() {
    return this.call !== null;
  }

  /** Calls `calleeId` (shown as `name`); `record` asks the server to record it. */
  async dial(calleeId, name, { record = false } = {}) {
    if (this.call) return;
    notice("");
    let ack;
    try {
      ack = await this.sig.request({ type: "call.start", calleeId, ...(record ? { record: true } : {}) });
    } catch (err) {
      notice(explain(err), "error");
      return;
    }
    const call = ack.call;
    if (call.status === "BUSY") {
      notice(`${name} is busy on another call. Try again in a moment.`, "error");
      this.onChange();
      return;
    }
    this.call = { id: call.id, name, otherId: calleeId, isCaller: true, dialedAt: Date.now() };
    if (ack.glare) {
      this.call.answeredAt = Date.now();
    } else {
      this.tones.ringback();
    }
    this.show(ack.glare ? `In call with ${name}` : `Calling ${name}…`);
    this.onChange();
    // Negotiate right away: media starts flowing the moment the call is accepted.
    await this.startMedia();
    if (ack.glare && this.mode === "p2p") await this.call?.media?.offerToPeer();
  }

  /** Accepts an incoming call. */
  async accept(callId, name) {
    if (this.call) return;
    notice("");
    try {
      await this.sig.request({ type: "call.accept", callId });
    } catch (err) {
      notice(explain(err), "error");
      return false;
    }
    this.call = { id: callId, name, isCaller: false, answeredAt: Date.now() };
    this.tones.stop();
    this.show(`In call with ${name}`);
    this.onChange();
    await this.startMedia();
    return true;
  }

  /** Declines a ringing call; true if the server took it. */
  async decline(callId) {
    try {
      await this.sig.request({ type: "call.decline", callId });
      return true;
    } catch (err) {
      notice(explain(err), "error");
      return false;
    } finally {
      this.onChange();
    }
  }

  async startMedia() {
    const call = this.call;
    if (!call || this.mode === "livekit") return;
    const media = new CallMedia(this.sig, {
      callId: call.id,
      mode: this.mode,
      iceServers: this.sig.welcome?.iceServers,
      isCaller: call.isCaller,
      onRemoteStream: (stream) => {
        const video = $("#remote-video");
        if (video.srcObject !== stream) video.srcObject = stream;
        this.showRemote();
      },
      onState: (state) => {
        $("#incall").dataset.media = state;
        // Rejoined after a reload: the call is back once media is.
        if (state === "connected" && this.call === call) {
          // Tell the other side how we are (it may have just rejoined, too).
          this.sendState();
          if (call.rejoining) {
            call.rejoining = false;
            this.show(call.answeredAt ? `In call with ${call.name}` : `Calling ${call.name}…`);
          }
        }
      },
      // A media error of a call that is over (it ended while negotiating) is moot:
      // the notice of how it ended stays.
      onError: (err) => {
        if (this.call === call) notice(explain(err), "error");
      },
    });
    call.media = media;
    try {
      const local = await media.start();
      $("#local-video").srcObject = local;
      $("#camera-btn").disabled = !media.hasCamera();
    } catch (err) {
      // No microphone, no call: hang up rather than sit in silence, and say why.
      // (If the call already ended meanwhile, its media failing is moot: the
      // notice of how it ended stays.)
      if (this.call === call) await this.hangUp(explain(err), "error");
    }
  }

  /**
   * After a (re)connect: a call the server no longer has open ended while we
   * were away; after a page reload, the server's open call is rejoined (a new
   * media connection, offered within the reconnect grace).
   */
  resync(welcome) {
    const call = this.call;
    if (call) {
      const open = (welcome.activeCalls || []).some((c) => c.id === call.id);
      if (!open) this.finish(`The call with ${call.name} ended while the connection was down.`, "error");
      return;
    }
    const myId = me()?.userId;
    // (A phone call's media is the Twilio softphone's: nothing to rejoin here.)
    const open = (welcome.activeCalls || []).find((c) => c.channel !== "pstn" && (c.status === "ACTIVE" || c.fromUserId === myId));
    if (open) this.rejoin(open, myId);
  }

  /** Takes up an open call this page did not start (a reload): says "reconnecting" until media is back. */
  async rejoin(c, myId) {
    const isCaller = c.fromUserId === myId;
    const name = isCaller ? c.calleeName || c.toUserId : c.callerName || c.fromUserId;
    this.call = {
      id: c.id,
      name,
      otherId: isCaller ? c.toUserId : c.fromUserId,
      isCaller,
      answeredAt: c.answeredAt ? Date.parse(c.answeredAt) : null,
      dialedAt: Date.parse(c.startedAt),
      rejoining: true,
    };
    this.show(`Reconnecting to ${name}…`);
    this.onChange();
    await this.startMedia();
    if (this.call?.answeredAt && this.mode === "p2p") await this.call?.media?.offerToPeer();
  }

  /** Frames about calls and media; returns true if handled. */
  handle(msg) {
    const call = this.call;
    if (!call || msg.callId !== call.id) return false;
    if (msg.type === "rtc.signal" && msg.data?.state) {
      call.remote = msg.data.state;
      this.showRemote();
      return true;
    }
    if (msg.type.startsWith("rtc.")) {
      call.media?.handle(msg);
      return true;
    }
    if (msg.type === "call.accepted") {
      call.answeredAt = Date.now();
      this.tones.stop();
      this.onChange();
      this.show(`In call with ${call.name}`);
      if (this.mode === "p2p") call.media?.offerToPeer();
      return true;
    }
    if (msg.type === "call.ended") {
      this.finish(endedWords(msg, call.name), msg.reason === "hangup" ? "info" : "error");
      return true;
    }
    const words = ENDINGS[msg.type];
    if (words) {
      this.finish(words(call.name, call.isCaller), msg.type === "call.cancelled" && call.isCaller ? "info" : "error");
      return true;
    }
    return false;
  }

  /** Ends the call; `text` replaces the usual "call ended" words. */
  async hangUp(text, kind = "info") {
    const call = this.call;
    if (!call) return;
    try {
      await this.sig.request({ type: "call.end", callId: call.id });
    } catch (err) {
      // Not ended on the server (offline, no answer): keep the call so hanging up can be retried.
      if (err.code !== "call_ended") {
        notice(explain(err), "error");
        return;
      }
    }
    if (this.call === call) {
      this.finish(text || (call.answeredAt ? `Call with ${call.name} ended.` : "You cancelled the call."), text ? kind : "info");
    }
  }

  finish(text, kind) {
    const call = this.call;
    if (!call) return;
    call.media?.close();
    this.tones.stop();
    this.call = null;
    $("#incall").hidden = true;
    $("#incall").dataset.state = "idle";
    $("#remote-video").srcObject = null;
    $("#local-video").srcObject = null;
    notice(text, kind);
    this.onChange();
  }

  toggleMute() {
    const call = this.call;
    if (!call?.media) return;
    call.muted = !call.muted;
    call.media.setMuted(call.muted);
    $("#mute-btn").textContent = call.muted ? "Unmute" : "Mute";
    $("#mute-btn").setAttribute("aria-pressed", String(call.muted));
    $("#local-muted").hidden = !call.muted;
    this.sendState();
  }

  toggleCamera() {
    const call = this.call;
    if (!call?.media) return;
    call.cameraOff = !call.cameraOff;
    call.media.setCamera(!call.cameraOff);
    $("#camera-btn").textContent = call.cameraOff ? "Camera on" : "Camera off";
    $("#camera-btn").setAttribute("aria-pressed", String(call.cameraOff));
    $("#local-placeholder").hidden = !call.cameraOff;
    this.sendState();
  }

  /** Tells the other side whether we are muted and our camera is on. */
  sendState() {
    const call = this.call;
    if (!call) return;
    const state = { muted: !!call.muted, camera: !call.cameraOff && !!call.media?.hasCamera() };
    this.sig.send({ type: "rtc.signal", callId: call.id, data: { state } });
  }

  /** The other side's camera and microphone as it told us; a placeholder with its name instead of black video. */
  showRemote() {
    const call = this.call;
    const remote = call?.remote;
    const hasVideo = !!$("#remote-video").srcObject?.getVideoTracks?.().length;
    const cameraOff = !call || remote?.camera === false || !hasVideo;
    const placeholder = $("#remote-placeholder");
    placeholder.hidden = !cameraOff;
    $("#remote-name").textContent = call ? `${call.name}${remote?.camera === false ? " · camera off" : ""}` : "";
    $("#remote-initials").textContent = initials(call?.name || "");
    $("#remote-muted").hidden = !remote?.muted;
    $("#remote-muted").textContent = call ? `${call.name} is muted` : "";
  }

  show(status) {
    const view = $("#incall");
    const call = this.call;
    view.hidden = false;
    view.dataset.state = call?.answeredAt ? "active" : "ringing";
    $("#call-status").textContent = status;
    $("#mute-btn").textContent = call?.muted ? "Unmute" : "Mute";
    $("#camera-btn").textContent = call?.cameraOff ? "Camera on" : "Camera off";
    $("#hangup-btn").textContent = call?.answeredAt ? "Hang up" : "Cancel";
    $("#local-muted").hidden = !call?.muted;
    $("#local-placeholder").hidden = !call?.cameraOff;
    this.showRemote();
    this.tick();
  }

  /** The talk time once answered; before that, how long it has rung (for the caller). */
  tick() {
    const call = this.call;
    let text = "";
    if (call?.answeredAt) text = fmtDuration((Date.now() - call.answeredAt) / 1000);
    else if (call?.dialedAt) text = `ringing ${fmtDuration((Date.now() - call.dialedAt) / 1000)}`;
    $("#call-timer").textContent = text;
  }
}
