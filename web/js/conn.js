// The live connection: a WebSocket (chat.v1.json), or long polling where WebSockets are
// blocked. Requests carry ids and resolve with their reply; events go to `onEvent`. It
// reconnects with backoff by itself; after each (re)connection `onReady` runs, and the app
// re-opens its rooms by seq so nothing is missed.

import { accessToken, refresh, ApiError } from "./api.js";

const RECONNECT_CLOSE_CODES = new Set([4000, 4001, 4003, 1006, 1011, 1012, 1001, 1000]);

export class Connection {
  constructor(session, { onEvent, onReady, onState, onSignedOut }) {
    this.session = session;
    this.onEvent = onEvent;
    this.onReady = onReady;
    this.onState = onState;
    this.onSignedOut = onSignedOut;
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.wsFailures = 0;
    this.transport = null;
    this.stopped = false;
    this.state = "connecting";
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reauthTimer);
    this.transport?.close();
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState?.(state, detail);
  }

  /** Sends a command; resolves with the reply payload ({name: value}) or rejects with ApiError. */
  request(command, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      if (!this.transport || this.state !== "online") {
        reject(new ApiError({ reason: "OFFLINE", message: "not connected", retryable: true }, 0));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError({ reason: "TIMEOUT", message: "no reply", retryable: true }, 0));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.transport.send({ request_id: id, ...command });
    });
  }

  async connect() {
    if (this.stopped) return;
    this.setState("connecting");
    let token;
    try {
      token = await accessToken(this.session);
    } catch (e) {
      if (e.status === 401) return this.onSignedOut?.();
      return this.retryLater();
    }
    // Two WebSocket failures in a row before it ever opened: the network blocks them.
    const usePolling = this.wsFailures >= 2 || this.forcePolling;
    this.transport = usePolling
      ? new PollTransport(token, this)
      : new SocketTransport(token, this);
  }

  retryLater() {
    if (this.stopped) return;
    this.attempt += 1;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.attempt, 6)) * (0.5 + Math.random() / 2);
    this.setState("offline", `reconnecting in ${Math.ceil(delay / 1000)} s`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnect now (the user asked, or the network came back). */
  reconnectNow() {
    if (this.state === "offline") {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  // --- called by the transports ---

  opened(transport) {
    if (transport !== this.transport) return;
    this.attempt = 0;
    this.setState("online", transport.kind);
    this.scheduleReauth();
    this.onReady?.();
  }

  /**
   * The server closes a connection whose token expires (4100): a minute before that, refresh
   * and re-authenticate in place, which keeps rooms open and loses nothing.
   */
  scheduleReauth() {
    clearTimeout(this.reauthTimer);
    const due = Number(this.session.access_expires_at_ms) - 60_000 - Date.now();
    this.reauthTimer = setTimeout(async () => {
      const transport = this.transport;
      if (!transport || this.stopped) return;
      try {
        const token = await accessToken(this.session);
        await this.request({ authenticate: { access_token: token } });
        transport.token = token;
        this.scheduleReauth();
      } catch {
        // The close that follows (4100) refreshes and reconnects.
      }
    }, Math.max(1_000, due));
  }

  frame(transport, frame) {
    if (transport !== this.transport) return;
    const id = Number(frame.request_id || 0);
    const { request_id, ...payload } = frame;
    if (id && this.pending.has(id)) {
      const { resolve, reject, timer } = this.pending.get(id);
      this.pending.delete(id);
      clearTimeout(timer);
      if (payload.error) reject(new ApiError(payload.error, 0));
      else resolve(payload);
      return;
    }
    if (payload.authenticated) return;
    this.onEvent?.(payload);
  }

  closed(transport, code, everOpened) {
    if (transport !== this.transport) return;
    this.transport = null;
    clearTimeout(this.reauthTimer);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new ApiError({ reason: "DISCONNECTED", message: "connection lost", retryable: true }, 0));
    }
    this.pending.clear();
    if (this.stopped) return;
    if (transport.kind === "websocket" && !everOpened) this.wsFailures += 1;
    else if (everOpened) this.wsFailures = 0;
    if (code === 4100) {
      // The token expired: refresh, then reconnect at once.
      refresh(this.session).then(
        () => this.connect(),
        () => this.onSignedOut?.(),
      );
      return;
    }
    if (code === 4101) return this.onSignedOut?.();
    // Draining, slow consumer, resync, or a broken network: reconnect (elsewhere) and let
    // the app recover by seq. The first attempt after a resync or drain goes out at once.
    if (RECONNECT_CLOSE_CODES.has(code) && everOpened && this.attempt === 0) {
      this.attempt = 1;
      this.connect();
      return;
    }
    this.retryLater();
  }
}

class SocketTransport {
  constructor(token, conn) {
    this.kind = "websocket";
    this.conn = conn;
    this.everOpened = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${scheme}://${location.host}/v1/ws?access_token=${encodeURIComponent(token)}`, "chat.v1.json");
    this.ws.onmessage = (e) => {
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      if (frame.authenticated && !this.everOpened) {
        this.everOpened = true;
        conn.opened(this);
      }
      conn.frame(this, frame);
    };
    this.ws.onclose = (e) => conn.closed(this, e.code, this.everOpened);
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  close() {
    this.ws.close(1000);
  }
}

class PollTransport {
  constructor(token, conn) {
    this.kind = "long polling";
    this.conn = conn;
    this.token = token;
    this.everOpened = false;
    this.alive = true;
    this.run();
  }

  async run() {
    // Read per request: a re-authentication replaces the token.
    const headers = () => ({ authorization: `Bearer ${this.token}` });
    try {
      const r = await fetch("/v1/poll/sessions", { method: "POST", headers: headers() });
      if (!r.ok) throw new Error(`poll session ${r.status}`);
      const session = await r.json();
      this.sessionId = session.session_id;
      let cursor = session.cursor;
      while (this.alive) {
        const p = await fetch(`/v1/poll?cursor=${encodeURIComponent(cursor)}`, { headers: headers() });
        if (!p.ok) throw new Error(`poll ${p.status}`);
        const batch = await p.json();
        cursor = batch.cursor;
        for (const frame of batch.events || []) {
          if (frame.authenticated && !this.everOpened) {
            this.everOpened = true;
            this.conn.opened(this);
          }
          this.conn.frame(this, frame);
        }
      }
    } catch {
      // Falls through to closed().
    }
    if (this.alive) {
      this.alive = false;
      this.conn.closed(this, undefined, this.everOpened);
    }
  }

  send(frame) {
    fetch(`/v1/poll/${this.sessionId}/commands`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: JSON.stringify(frame),
    }).catch(() => {});
  }

  close() {
    this.alive = false;
    if (this.sessionId) {
      fetch(`/v1/poll/${this.sessionId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${this.token}` },
      }).catch(() => {});
    }
  }
}
