// A call's media in the browser: one RTCPeerConnection, to switchboard's
// embedded SFU (media mode "embedded") or to the other browser ("p2p", with
// switchboard relaying the signaling as rtc.signal).

export class CallMedia {
  /**
   * @param sig      the Signaling connection
   * @param opts     { callId, mode, iceServers, isCaller, onRemoteStream(stream), onState(state), onError(err) }
   */
  constructor(sig, opts) {
    this.sig = sig;
    this.o = opts;
    this.pending = [];
    this.early = []; // frames that arrived before start() made the peer connection
    this.chain = Promise.resolve();
    this.closed = false;
  }

  /** Gets the microphone and camera (camera optional) and connects. */
  async start() {
    this.local = await getMedia();
    const pc = new RTCPeerConnection({ iceServers: this.o.iceServers || [] });
    this.pc = pc;
    window.demo = Object.assign(window.demo || {}, { pc });
    for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    pc.onicecandidate = (e) => {
      if (!e.candidate) return;
      const candidate = e.candidate.toJSON();
      if (this.o.mode === "embedded") {
        this.send({ type: "rtc.candidate", callId: this.o.callId, candidate });
      } else {
        this.send({ type: "rtc.signal", callId: this.o.callId, data: { candidate } });
      }
    };
    pc.ontrack = (e) => this.o.onRemoteStream(e.streams[0] || new MediaStream([e.track]));
    pc.onconnectionstatechange = () => {
      this.o.onState?.(pc.connectionState);
      if (pc.connectionState === "failed") {
        this.o.onError?.(Object.assign(new Error("the media connection failed"), { code: "media_failed" }));
      }
    };
    if (this.o.mode === "embedded") {
      await this.serial(async () => {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        const reply = await this.sig.request({ type: "rtc.offer", callId: this.o.callId, sdp: offer.sdp });
        await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
        await this.flushCandidates();
      });
    }
    // The other side may have sent its offer while we were asking for the microphone.
    for (const msg of this.early.splice(0)) this.handle(msg);
    return this.local;
  }

  /** p2p: the caller makes the offer once the call is accepted. */
  async offerToPeer() {
    await this.serial(async () => {
      const offer = await this.pc.createOffer();
      await this.pc.setLocalDescription(offer);
      this.send({ type: "rtc.signal", callId: this.o.callId, data: { description: { type: "offer", sdp: offer.sdp } } });
    });
  }

  /** A frame for this call: rtc.offer / rtc.candidate (SFU) or rtc.signal (p2p). */
  handle(msg) {
    if (this.closed) return;
    if (!this.pc) {
      this.early.push(msg);
      return;
    }
    if (msg.type === "rtc.offer") {
      this.serial(() => this.answerOffer(msg.sdp, (sdp) => this.send({ type: "rtc.answer", callId: this.o.callId, sdp })));
    } else if (msg.type === "rtc.candidate") {
      this.serial(() => this.addCandidate(msg.candidate));
    } else if (msg.type === "rtc.signal") {
      const d = msg.data || {};
      if (d.description?.type === "offer") {
        this.serial(() =>
          this.answerOffer(d.description.sdp, (sdp) =>
            this.send({ type: "rtc.signal", callId: this.o.callId, data: { description: { type: "answer", sdp } } }),
          ),
        );
      } else if (d.description?.type === "answer") {
        this.serial(async () => {
          await this.pc.setRemoteDescription(d.description);
          await this.flushCandidates();
        });
      } else if (d.candidate) {
        this.serial(() => this.addCandidate(d.candidate));
      }
    }
  }

  async answerOffer(sdp, send) {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.flushCandidates();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    send(answer.sdp);
  }

  async addCandidate(c) {
    if (!this.pc.remoteDescription) {
      this.pending.push(c);
      return;
    }
    await this.pc.addIceCandidate(c).catch(() => {});
  }

  async flushCandidates() {
    const list = this.pending.splice(0);
    for (const c of list) await this.pc.addIceCandidate(c).catch(() => {});
  }

  /**
   * Sends a frame with a ref, so an error comes back to us rather than to the
   * page (a candidate for a call that just ended is nobody's concern).
   */
  send(frame) {
    this.sig.request(frame).catch((err) => this.closed || this.o.onError?.(err));
  }

  /** Runs negotiation steps one at a time, in order. */
  serial(fn) {
    // Errors after close() (the call ended mid-negotiation) are moot.
    this.chain = this.chain.then(fn).catch((err) => this.closed || this.o.onError?.(err));
    return this.chain;
  }

  setMuted(muted) {
    for (const t of this.local?.getAudioTracks() || []) t.enabled = !muted;
  }

  setCamera(on) {
    for (const t of this.local?.getVideoTracks() || []) t.enabled = on;
  }

  hasCamera() {
    return (this.local?.getVideoTracks().length || 0) > 0;
  }

  close() {
    this.closed = true;
    for (const t of this.local?.getTracks() || []) t.stop();
    this.pc?.close();
  }
}

/** Microphone and camera; the camera is optional, the microphone is not. */
async function getMedia() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw Object.assign(new Error("this browser cannot capture audio (a secure context, https or localhost, is needed)"), {
      code: "media_unsupported",
    });
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (err) {
    if (err.name === "NotAllowedError" || err.name === "SecurityError") {
      throw Object.assign(new Error("microphone and camera permission was denied: allow them to talk"), {
        code: "media_permission",
      });
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err2) {
      const denied = err2.name === "NotAllowedError" || err2.name === "SecurityError";
      throw Object.assign(
        new Error(denied ? "microphone permission was denied: allow it to talk" : "no microphone was found"),
        { code: denied ? "media_permission" : "media_device" },
      );
    }
  }
}
