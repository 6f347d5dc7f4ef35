// The switchboard client: the signaling socket (with request/reply by `ref`),
// REST calls, and the token kept for this tab. No framework, no build step.

const TOKEN_KEY = "switchboard.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.href = "/";
}

/** The claims of the current token (not verified: the server does that). */
export function me() {
  const t = token();
  if (!t) return null;
  try {
    const bytes = Uint8Array.from(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
    const c = JSON.parse(new TextDecoder().decode(bytes));
    return {
      userId: c.sub,
      tenantId: c.app_metadata?.tenant_id,
      type: c.app_metadata?.participant_type,
      firstName: c.user_metadata?.first_name,
      lastName: c.user_metadata?.last_name,
    };
  } catch {
    return null;
  }
}

/** A REST call with the token; resolves to the JSON body or throws an Error with `code`. */
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token()}`,
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(json?.error?.message || `HTTP ${res.status}`);
    err.code = json?.error?.code || "http_error";
    err.status = res.status;
    throw err;
  }
  return json;
}

/** Mints a development token (only on a server started with --dev). */
export async function devToken(profile) {
  const res = await fetch("/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(profile),
  });
  if (!res.ok) throw new Error("this server does not mint dev tokens (start it with --dev), paste a token instead");
  return (await res.json()).token;
}

/**
 * The signaling socket. Emits every server frame by its `type` ("welcome",
 * "call.incoming", ...) plus "open" and "close" ({code, reason, welcomed});
 * `request()` sends a frame
 * with a fresh `ref` and resolves with the reply carrying it. Reconnects
 * with backoff when the connection drops.
 */
export class Signaling extends EventTarget {
  constructor() {
    super();
    this.nextRef = 1;
    this.waiting = new Map();
    this.backoff = 500;
    this.closedByUser = false;
    this.welcome = null;
  }

  connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/voip/ws?access_token=${encodeURIComponent(token())}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      this.backoff = 500;
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        welcomed = true;
        this.welcome = msg;
        this.emit("open", msg);
      }
      const waiter = msg.ref != null && this.waiting.get(String(msg.ref));
      if (waiter && (msg.type === "ack" || msg.type === "error" || msg.type === "rtc.answer" || msg.type === "pong")) {
        this.waiting.delete(String(msg.ref));
        msg.type === "error" ? waiter.reject(Object.assign(new Error(msg.message), { code: msg.code })) : waiter.resolve(msg);
        return;
      }
      this.emit(msg.type, msg);
    };
    ws.onclose = (e) => {
      for (const w of this.waiting.values()) w.reject(Object.assign(new Error("connection lost"), { code: "connection_lost" }));
      this.waiting.clear();
      // `welcomed: false`: the server refused the socket (a bad token looks like this too).
      this.emit("close", { code: e.code, reason: e.reason, welcomed });
      if (!this.closedByUser) {
        setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 10_000);
      }
    };
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
  }

  send(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** Sends `frame` with a ref; resolves with the ack (or rtc.answer), rejects with the error. */
  request(frame, timeoutMs = 10_000) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (this.ws?.readyState !== WebSocket.OPEN) {
        reject(Object.assign(new Error("not connected to the server"), { code: "connection_lost" }));
        return;
      }
      this.waiting.set(ref, { resolve, reject });
      setTimeout(() => {
        if (this.waiting.delete(ref)) reject(Object.assign(new Error("the server did not answer"), { code: "timeout" }));
      }, timeoutMs);
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  close() {
    this.closedByUser = true;
    this.ws?.close();
  }
}
