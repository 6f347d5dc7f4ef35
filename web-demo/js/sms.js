// Texts on the agent console (issue #11): the threads of the agent's numbers
// (`GET /api/phone/sms/conversations`), one open thread (oldest text at the
// top, older pages on demand), the box to reply or start a text
// (`POST /api/phone/sms`), and `sms.received` frames, which update the list
// and the open thread without a reload.

import { api } from "./client.js";
import { numberName } from "./pstn.js";
import { $, explainPhone } from "./ui.js";

/** Texts per page of a thread, and threads in the list. */
const PAGE = 30;

/** A sent text's progress, in words (Twilio's statuses). */
const STATUS_WORDS = {
  accepted: "sending…",
  scheduled: "scheduled",
  queued: "sending…",
  sending: "sending…",
  sent: "sent",
  delivered: "delivered",
  read: "read",
  undelivered: "not delivered",
  failed: "failed",
  canceled: "cancelled",
};

function when(iso) {
  const d = new Date(iso);
  const today = d.toDateString() === new Date().toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString();
}

export class Texts {
  /** @param sig Signaling; @param line PhoneLine (the agent's numbers) */
  constructor(sig, line) {
    this.line = line;
    this.threads = [];
    this.openId = null;
    this.older = null; // the open thread's next cursor
    this.unread = new Set();
    this.listSeq = 0;
    this.threadSeq = 0;
    line.onNumbers((numbers) => this.showNumbers(numbers));
    sig.on("sms.received", (msg) => this.received(msg));
    // (Re)connected: texts may have arrived while the socket was down.
    sig.on("open", () => {
      this.loadThreads();
      if (this.openId) this.open(this.openId);
    });
    $("#reply").onsubmit = (e) => {
      e.preventDefault();
      this.send();
    };
    $("#new-text").onclick = () => this.close();
    $("#older-texts").onclick = () => this.loadOlder();
  }

  /** The "from" choices of the reply box. */
  showNumbers(numbers) {
    const select = $("#reply [name=from]");
    const was = select.value;
    select.replaceChildren();
    for (const n of numbers) {
      const o = document.createElement("option");
      o.value = n.e164;
      o.textContent = numberName(n);
      select.append(o);
    }
    if (numbers.some((n) => n.e164 === was)) select.value = was;
    $("#reply").hidden = numbers.length === 0;
    $("#reply-none").hidden = numbers.length > 0;
    if (this.threads.length) this.renderThreads(); // their labels
  }

  async loadThreads() {
    const seq = ++this.listSeq;
    let page;
    try {
      page = await api("GET", `/api/phone/sms/conversations?limit=${PAGE}`);
    } catch (err) {
      if (err.status && seq === this.listSeq) this.threadsNote(`Texts could not be loaded: ${explainPhone(err)}`);
      return;
    }
    if (seq !== this.listSeq) return; // a newer load answered first
    this.threads = page.conversations;
    this.renderThreads();
  }

  threadsNote(text) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = text;
    $("#threads").replaceChildren(li);
  }

  renderThreads() {
    const list = $("#threads");
    if (this.threads.length === 0) {
      this.threadsNote("No texts yet: texts to your numbers show here as they arrive.");
      return;
    }
    list.replaceChildren();
    for (const c of this.threads) {
      const li = document.createElement("li");
      li.dataset.threadId = c.id;
      li.dataset.number = c.theirNumber;
      const b = document.createElement("button");
      b.className = "thread-btn";
      b.setAttribute("aria-current", String(c.id === this.openId));
      const who = document.createElement("strong");
      who.textContent = c.theirNumber;
      const meta = document.createElement("small");
      meta.className = "muted";
      const ours = this.line.numbers.find((n) => n.phoneNumberId === c.phoneNumberId);
      meta.textContent = `to ${ours ? numberName(ours) : c.ourNumber} · ${when(c.lastMessageAt)}`;
      b.append(who, meta);
      if (this.unread.has(c.id)) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = "new";
        who.append(" ", badge);
      }
      b.onclick = () => this.open(c.id);
      li.append(b);
      list.append(li);
    }
  }

  /** Opens thread `id`: its newest page of texts, the reply box aimed at it. */
  async open(id) {
    const seq = ++this.threadSeq;
    let page;
    try {
      page = await api("GET", `/api/phone/sms/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE}`);
    } catch (err) {
      if (err.status && seq === this.threadSeq) this.replyError(`This thread could not be opened: ${explainPhone(err)}`);
      return;
    }
    if (seq !== this.threadSeq) return;
    const switched = this.openId !== id;
    this.openId = id;
    this.older = page.nextCursor;
    this.unread.delete(id);
    const c = page.conversation;
    const thread = $("#thread");
    thread.dataset.threadId = id;
    $("#thread-with").textContent = c.theirNumber;
    const ours = this.line.numbers.find((n) => n.phoneNumberId === c.phoneNumberId);
    $("#thread-via").textContent = `with ${ours ? numberName(ours) : c.ourNumber}`;
    $("#messages").replaceChildren(...page.messages.toReversed().map((m) => this.bubble(m)));
    $("#older-texts").hidden = !this.older;
    $("#thread-empty").hidden = true;
    thread.hidden = false;
    const form = $("#reply");
    form.elements.to.value = c.theirNumber;
    if (this.line.numbers.some((n) => n.e164 === c.ourNumber)) form.elements.from.value = c.ourNumber;
    if (switched) this.replyError("");
    this.scrollDown();
    this.renderThreads();
  }

  /** Back to no open thread: the reply box starts a new text. */
  close() {
    this.threadSeq++;
    this.openId = null;
    $("#thread").hidden = true;
    $("#thread-empty").hidden = false;
    const form = $("#reply");
    form.elements.to.value = "";
    this.replyError("");
    form.elements.to.focus();
    this.renderThreads();
  }

  async loadOlder() {
    if (!this.openId || !this.older) return;
    const id = this.openId;
    try {
      const page = await api(
        "GET",
        `/api/phone/sms/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE}&before=${encodeURIComponent(this.older)}`,
      );
      if (this.openId !== id) return;
      this.older = page.nextCursor;
      $("#messages").prepend(...page.messages.toReversed().map((m) => this.bubble(m)));
      $("#older-texts").hidden = !this.older;
    } catch (err) {
      if (err.status) this.replyError(`Older texts could not be loaded: ${explainPhone(err)}`);
    }
  }

  bubble(m) {
    const li = document.createElement("li");
    li.className = `sms sms-${m.direction}`;
    li.dataset.messageId = m.id;
    li.dataset.status = m.status;
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = m.body;
    const meta = document.createElement("small");
    meta.className = "meta";
    const parts = [when(m.createdAt)];
    if (m.direction === "outbound") parts.push(STATUS_WORDS[m.status] || m.status);
    if (m.segments > 1) parts.push(`${m.segments} parts`);
    meta.textContent = parts.join(" · ");
    li.append(body, meta);
    return li;
  }

  /** Adds a text to the open thread (once: a frame and a reload may both bring it). */
  append(m) {
    const list = $("#messages");
    const old = list.querySelector(`[data-message-id="${CSS.escape(m.id)}"]`);
    if (old) old.replaceWith(this.bubble(m));
    else list.append(this.bubble(m));
    this.scrollDown();
  }

  scrollDown() {
    const list = $("#messages");
    list.scrollTop = list.scrollHeight;
  }

  /** `sms.received`: a text to one of the agent's numbers. */
  received({ conversationId, message }) {
    if (conversationId === this.openId) this.append(message);
    else this.unread.add(conversationId);
    this.loadThreads();
  }

  replyError(text) {
    const box = $("#reply-error");
    box.textContent = text;
    box.hidden = !text;
  }

  async send() {
    const form = $("#reply");
    const from = form.elements.from.value;
    const to = form.elements.to.value.trim();
    const body = form.elements.body.value;
    if (!to || !body.trim()) {
      this.replyError(!to ? "Whom to text: enter their number." : "Type a message first.");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    this.replyError("");
    try {
      const m = await api("POST", "/api/phone/sms", { from, to, body });
      form.elements.body.value = "";
      if (m.conversationId === this.openId) this.append(m);
      else await this.open(m.conversationId);
      this.loadThreads();
    } catch (err) {
      this.replyError(`The text was not sent: ${explainPhone(err)}`);
    } finally {
      button.disabled = false;
    }
  }
}
