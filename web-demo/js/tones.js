// Call sounds made with WebAudio (no files): the ring of an incoming call and
// the ringback a caller hears while it rings.
//
// Browsers start audio only after the user has interacted with the page
// (their autoplay rules). The one AudioContext is resumed on the first click,
// tap or key press; until then a sound that should play cannot, and the page
// says so (#sound-note) instead of ringing silently.

import { $ } from "./ui.js";

export class Tones {
  constructor() {
    this.ctx = null;
    this.playing = null; // "ring" | "ringback" | null
    this.timer = null;
    const unlock = () => this.unlock();
    for (const ev of ["pointerdown", "keydown", "touchstart"]) document.addEventListener(ev, unlock, { capture: true });
  }

  /** The AudioContext's state ("running" once sound can play), or "none". */
  get state() {
    return this.ctx?.state || "none";
  }

  context() {
    if (!this.ctx) {
      try {
        this.ctx = new AudioContext();
        this.ctx.onstatechange = () => this.showNote();
      } catch {
        return null;
      }
    }
    return this.ctx;
  }

  /** A user gesture: sound may start now. */
  unlock() {
    const ctx = this.context();
    ctx?.resume().then(() => this.showNote()).catch(() => {});
  }

  /** An incoming call: two short beeps every two seconds. */
  ring() {
    this.play("ring", 2000, (ctx, at) => {
      for (const t of [0, 0.4]) this.beep(ctx, at + t, 0.25, [440], 0.09);
    });
  }

  /** The caller's ringback while the callee's phone rings: 440 + 480 Hz, 2 s on, 4 s off. */
  ringback() {
    this.play("ringback", 6000, (ctx, at) => this.beep(ctx, at, 2, [440, 480], 0.05));
  }

  play(kind, every, pattern) {
    this.stop();
    const ctx = this.context();
    if (!ctx) return;
    this.playing = kind;
    const once = () => {
      if (ctx.state === "running") pattern(ctx, ctx.currentTime);
    };
    once();
    this.timer = setInterval(once, every);
    this.showNote();
  }

  beep(ctx, at, secs, freqs, volume) {
    const gain = ctx.createGain();
    gain.gain.value = volume;
    gain.connect(ctx.destination);
    for (const f of freqs) {
      const osc = ctx.createOscillator();
      osc.frequency.value = f;
      osc.connect(gain);
      osc.start(at);
      osc.stop(at + secs);
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.playing = null;
    this.showNote();
  }

  /** Says so while a sound should play and the browser does not let it. */
  showNote() {
    const note = $("#sound-note");
    if (note) note.hidden = !(this.playing && this.state !== "running");
  }
}
