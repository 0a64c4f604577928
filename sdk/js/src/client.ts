// The client: one live connection at a time (WebSocket or long polling), kept alive and
// authorized, with rooms recovered by seq and sends retried from an outbox.
import type {
  Authenticated,
  History,
  RoomList,
  RoomOpened,
  SendAck,
  ServerFrame,
} from "./gen/chat/v1/frames_pb.js";
import type { Message } from "./gen/chat/v1/models_pb.js";
import { clientFrame, type Command, type Payload, type ReplyOf } from "./codec.js";
import type { ConnectionState } from "./events.js";
import { ChatError, FATAL, RECONNECT_NOW, SIGNED_OUT } from "./errors.js";
import { HttpApi } from "./http.js";
import { settings, type ClientOptions, type Settings } from "./options.js";
import { Outbox, entryCommand, newClientMsgId, type MentionInit, type OutboxEntry } from "./outbox.js";
import { RoomCalls } from "./room_calls.js";
import { RoomTracker } from "./rooms.js";
import type { AccessToken } from "./session.js";
import { PollingTransport } from "./transport/polling.js";
import type {
  Transport,
  TransportListener,
  WebSocketConstructor,
} from "./transport/types.js";
import { WebSocketTransport } from "./transport/websocket.js";

type TimerName = "retry" | "reauth" | "connect" | "heartbeat" | "probe";

interface Pending {
  resolve(p: Payload): void;
  reject(e: ChatError): void;
  timer: ReturnType<typeof setTimeout>;
}

export class ChatClient extends RoomCalls {
  readonly http: HttpApi;
  private readonly o: Settings;
  private readonly rooms: RoomTracker;
  private readonly outbox: Outbox;
  private transport: Transport | null = null;
  private probe: Transport | null = null;
  private token: AccessToken | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private state_: ConnectionState = "offline";
  private stopped = true;
  private attempt = 0;
  private webSocketFailures = 0;
  private needFreshToken = false;
  private openedThisTransport = false;
  private lastFrameAt = 0;
  private pingSentAt = 0;
  private readonly timers: Record<TimerName, ReturnType<typeof setTimeout> | undefined> = {
    retry: undefined,
    reauth: undefined,
    connect: undefined,
    heartbeat: undefined,
    probe: undefined,
  };

  constructor(options: ClientOptions) {
    super();
    this.o = settings(options);
    this.http = new HttpApi(this.o.url, this.o.fetch);
    this.rooms = new RoomTracker(
      (room, after, before) => this.readGap(room, after, before),
      (m) => this.emit("message", m),
      // A gap that could not be read now is read again after the next reconnection.
      () => this.transport?.close(),
    );
    this.outbox = new Outbox(
      (e) => this.sendOnce(e),
      (e) => this.emit("outbox", e),
      this.o.outboxTimeoutMs,
    );
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.state_;
  }

  /** The kind of the live connection, if any. */
  get transportKind(): Transport["kind"] | null {
    return this.transport?.kind ?? null;
  }

  /** Starts connecting (and keeps reconnecting until {@link close}). */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.dial();
  }

  /** Closes the connection for good; unsent outbox entries stay queued. */
  close(): void {
    this.stopped = true;
    this.dropTransport(ChatError.local("CLOSED", "client closed", false));
    this.clearTimers();
    this.outbox.stop();
    this.setState("closed", "closed by the app");
  }

  // --- requests ---

  /** Sends a command; resolves with the reply's payload, rejects with a ChatError. */
  request(command: Command, timeoutMs = this.o.requestTimeoutMs): Promise<Payload> {
    return new Promise((resolve, reject) => {
      const transport = this.transport;
      if (!transport || this.state_ !== "online") {
        reject(ChatError.local("OFFLINE", "not connected"));
        return;
      }
      const id = this.takeId();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(ChatError.local("TIMEOUT", "no reply in time"));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      transport.send(clientFrame(id, command));
    });
  }

  /** Sends a command and expects a reply of one kind. */
  async call<K extends NonNullable<Payload["case"]>>(
    command: Command,
    reply: K,
  ): Promise<ReplyOf<K>> {
    const p = await this.request(command);
    if (p.case !== reply) {
      throw new ChatError("UNEXPECTED_REPLY", `expected ${reply}, got ${String(p.case)}`);
    }
    return p.value as unknown as ReplyOf<K>;
  }

  /**
   * Opens a room on this client: its messages arrive as `message` events from now on, and
   * after every reconnection it is re-opened from the last seq delivered.
   */
  async openRoom(roomId: bigint): Promise<RoomOpened> {
    const since = this.rooms.open(roomId);
    return this.call({ case: "openRoom", value: { roomId, sinceSeq: since } }, "roomOpened");
  }

  async closeRoom(roomId: bigint): Promise<void> {
    this.rooms.close(roomId);
    await this.call({ case: "closeRoom", value: { roomId } }, "ok");
  }

  /** The newest seq delivered as a `message` event in a room (0 when none). */
  lastSeq(roomId: bigint): bigint {
    return this.rooms.lastSeq(roomId);
  }

  /** A page of history, newest first: pass `nextBeforeSeq` of a page to get the next. */
  history(roomId: bigint, beforeSeq = 0n, limit = 50): Promise<History> {
    return this.call(
      { case: "getHistory", value: { roomId, beforeSeq, limit } },
      "history",
    );
  }

  listRooms(limit = 100): Promise<RoomList> {
    return this.call({ case: "listRooms", value: { limit } }, "roomList");
  }

  async markRead(roomId: bigint, seq: bigint): Promise<void> {
    await this.call({ case: "markRead", value: { roomId, seq } }, "ok");
  }

  async typing(roomId: bigint): Promise<void> {
    await this.call({ case: "typing", value: { roomId } }, "ok");
  }

  /**
   * Sends a message through the outbox: queued while offline, retried with the same
   * client_msg_id until acked. Watch `outbox` events (or await `entry.done`).
   */
  send(
    roomId: bigint,
    body: string,
    opts: { fileIds?: bigint[]; clientMsgId?: string; replyTo?: bigint; mentions?: MentionInit[] } = {},
  ): OutboxEntry {
    const { fileIds, replyTo, mentions } = opts;
    return this.outbox.add({ roomId, body, fileIds, replyTo, mentions }, opts.clientMsgId ?? newClientMsgId());
  }

  /**
   * Edits one of the user's messages (through the outbox, in order with sends); the new
   * text's mentions replace the old ones. The last argument is a client_msg_id or options.
   */
  editMessage(
    roomId: bigint,
    seq: bigint,
    body: string,
    opts: string | { clientMsgId?: string; mentions?: MentionInit[] } = {},
  ): OutboxEntry {
    const { clientMsgId = newClientMsgId(), mentions } = typeof opts === "string" ? { clientMsgId: opts } : opts;
    return this.outbox.add({ roomId, body, mentions, change: { kind: "edit", seq } }, clientMsgId);
  }

  /** Deletes a message for everyone (through the outbox, in order with sends). */
  deleteMessage(roomId: bigint, seq: bigint, clientMsgId = newClientMsgId()): OutboxEntry {
    return this.outbox.add({ roomId, body: "", change: { kind: "delete", seq } }, clientMsgId);
  }

  /** Forwards a message this user sees to a room they are in (through the outbox). */
  forwardMessage(fromRoomId: bigint, seq: bigint, toRoomId: bigint, clientMsgId = newClientMsgId()): OutboxEntry {
    return this.outbox.add({ roomId: toRoomId, body: "", change: { kind: "forward", seq, fromRoomId } }, clientMsgId);
  }

  /** Hides a message from this user's own view on all their devices ("delete for me"). */
  async hideMessage(roomId: bigint, seq: bigint): Promise<void> {
    await this.call({ case: "hideMessage", value: { roomId, seq } }, "ok");
  }

  /** Reacts to a message with an emoji, or (`add` false) takes the reaction back. */
  react(roomId: bigint, seq: bigint, emoji: string, add = true, clientMsgId = newClientMsgId()): OutboxEntry {
    const kind = add ? "react" : "unreact";
    return this.outbox.add({ roomId, body: emoji, change: { kind, seq } }, clientMsgId);
  }

  /** Outbox entries not yet sent (queued, sending or failed). */
  unsent(): OutboxEntry[] {
    return this.outbox.pending();
  }

  /** Tries a failed send again. */
  retrySend(clientMsgId: string): void {
    this.outbox.retry(clientMsgId);
  }

  /** Drops an unsent message. */
  discardSend(clientMsgId: string): void {
    this.outbox.discard(clientMsgId);
  }

  private sendOnce(e: OutboxEntry): Promise<SendAck> {
    return this.call(entryCommand(e), "sendAck");
  }

  /** Messages after `after` and before `before` in a room, from history. */
  private async readGap(roomId: bigint, after: bigint, before: bigint): Promise<Message[]> {
    const found: Message[] = [];
    let cursor = before;
    for (;;) {
      const page = await this.history(roomId, cursor, 100);
      for (const m of page.messages) if (m.seq > after) found.push(m);
      const oldest = page.messages.at(-1)?.seq ?? 0n;
      if (!page.hasMore || page.nextBeforeSeq === 0n || oldest <= after + 1n) return found;
      cursor = page.nextBeforeSeq;
    }
  }

  // --- the connection ---

  private takeId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_fff0 ? 1 : this.nextId + 1;
    return id;
  }

  private setState(state: ConnectionState, detail: string): void {
    if (this.state_ === state && state !== "offline") return;
    this.state_ = state;
    this.emit("state", state, detail);
  }

  private webSocketUrl(): string {
    return `${this.http.baseUrl.replace(/^http/, "ws")}/v1/ws`;
  }

  private usePolling(): boolean {
    if (this.o.transport === "polling") return true;
    return this.o.transport === "auto" && this.webSocketFailures >= 2;
  }

  private async dial(): Promise<void> {
    if (this.stopped) return;
    this.setState("connecting", "");
    try {
      this.token = await this.o.tokens(this.needFreshToken);
      this.needFreshToken = false;
    } catch (e) {
      const error = e instanceof ChatError ? e : ChatError.local("OFFLINE", String(e));
      if (SIGNED_OUT.has(error.reason)) return this.signOut(error);
      return this.retryLater(error.message);
    }
    if (this.stopped) return;
    this.openedThisTransport = false;
    const made: { transport: Transport | null } = { transport: null };
    const listener = this.listenerFor(() => made.transport);
    try {
      made.transport = this.usePolling()
        ? new PollingTransport(this.http, () => this.token?.token ?? "", listener)
        : this.openWebSocket(listener);
    } catch (e) {
      // No WebSocket class, or a URL it refuses: retrying cannot help.
      const error = e instanceof ChatError ? e : new ChatError("NO_WEBSOCKET", String(e));
      this.stopped = true;
      this.clearTimers();
      this.setState("closed", error.message);
      this.emit("closed", error);
      return;
    }
    this.transport = made.transport;
    this.lastFrameAt = Date.now();
    this.later("connect", this.o.connectTimeoutMs, () => {
      if (this.openedThisTransport || this.transport !== made.transport) return;
      this.lost(1006, "no answer in time");
    });
  }

  private openWebSocket(listener: TransportListener): Transport {
    const WS =
      this.o.WebSocket ??
      (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      throw new ChatError("NO_WEBSOCKET", "no WebSocket class: pass options.WebSocket (e.g. from 'ws')");
    }
    const hello = clientFrame(this.takeId(), {
      case: "authenticate",
      value: { accessToken: this.token?.token ?? "" },
    });
    return new WebSocketTransport(this.webSocketUrl(), this.o.wire, hello, WS, listener);
  }

  /** Routes a transport's callbacks, ignoring those of a transport that was replaced. */
  private listenerFor(self: () => Transport | null): TransportListener {
    return {
      frame: (f) => {
        if (self() === this.transport) this.onFrame(f);
      },
      closed: (code, reason) => {
        if (self() === this.transport) this.lost(code, reason);
      },
    };
  }

  private onFrame(f: ServerFrame): void {
    this.lastFrameAt = Date.now();
    this.pingSentAt = 0;
    const p = f.payload;
    if (p.case === "authenticated" && !this.openedThisTransport) return this.online(p.value);
    // Before any other reply resolves: recovered messages follow this frame at once.
    if (p.case === "roomOpened" && p.value.room) {
      this.rooms.opened(p.value.room.id, p.value.room.lastSeq);
    }
    const pending = f.requestId ? this.pending.get(f.requestId) : undefined;
    if (pending) {
      this.pending.delete(f.requestId);
      clearTimeout(pending.timer);
      if (p.case === "error") pending.reject(ChatError.fromFrame(p.value));
      else pending.resolve(p);
      if (p.case === "roomOpened") this.emit("roomOpened", p.value);
      return;
    }
    switch (p.case) {
      case "message":
        return this.rooms.receive(p.value);
      case "readReceipt":
      case "roomUpdate":
      case "roomAdded":
      case "membersChanged":
      case "presenceChanged":
      case "typingStarted":
      case "friendRequestReceived":
      case "friendRequestAccepted":
      case "friendPresence":
      case "roomSettings":
      case "messageHidden":
        return (this.emit as (e: string, v: unknown) => void)(p.case, p.value);
      default:
        // pong, and replies to requests that timed out.
        return;
    }
  }

  private online(authenticated: Authenticated): void {
    this.openedThisTransport = true;
    this.attempt = 0;
    if (this.transport?.kind === "websocket") this.webSocketFailures = 0;
    clearTimeout(this.timers.connect);
    this.setState("online", this.transport?.kind ?? "");
    this.scheduleReauth();
    this.heartbeat();
    if (this.transport?.kind === "polling" && this.o.transport === "auto") this.scheduleProbe();
    void this.reopenRooms().then(() => {
      if (this.state_ !== "online") return;
      this.emit("ready", authenticated);
      this.outbox.setOnline(true);
    });
  }

  private async reopenRooms(): Promise<void> {
    await Promise.all(
      this.rooms.openRooms().map(async ([roomId, since]) => {
        try {
          await this.call({ case: "openRoom", value: { roomId, sinceSeq: since } }, "roomOpened");
        } catch (e) {
          // Left or removed meanwhile: the room is no longer this client's to follow.
          if (e instanceof ChatError && !e.retryable) this.rooms.close(roomId);
        }
      }),
    );
  }

  /** The connection ended: reconnect unless the close code or the app says not to. */
  private lost(code: number, reason: string): void {
    const kind = this.transport?.kind;
    const opened = this.openedThisTransport;
    this.dropTransport(ChatError.local("DISCONNECTED", "connection lost"));
    if (this.stopped) return;
    if (kind === "websocket" && !opened) this.webSocketFailures += 1;
    if (code === 4101) {
      return this.signOut(new ChatError("AUTH_REVOKED", reason || "log-in revoked"));
    }
    if (FATAL.has(code)) {
      const error = new ChatError(code === 4103 ? "TOO_MANY_CONNECTIONS" : "PROTOCOL_ERROR", reason, {
        retryable: false,
      });
      this.stopped = true;
      this.clearTimers();
      this.setState("closed", reason);
      this.emit("closed", error);
      return;
    }
    if (code === 4100) this.needFreshToken = true;
    if ((RECONNECT_NOW.has(code) || code === 4100) && opened && this.attempt === 0) {
      this.attempt = 1;
      this.setState("offline", reason);
      void this.dial();
      return;
    }
    this.retryLater(reason || `closed (${code})`);
  }

  private dropTransport(error: ChatError): void {
    const t = this.transport;
    this.transport = null;
    this.probe?.close();
    this.probe = null;
    for (const k of ["reauth", "connect", "heartbeat", "probe"] as const) clearTimeout(this.timers[k]);
    t?.close();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    this.rooms.disconnected();
    this.outbox.setOnline(false);
  }

  private retryLater(detail: string): void {
    if (this.stopped) return;
    this.attempt += 1;
    const base = Math.min(this.o.reconnectMaxDelayMs, this.o.reconnectDelayMs * 2 ** Math.min(this.attempt - 1, 16));
    // Full jitter over the upper half: clients cut off together do not return together.
    const delay = base / 2 + Math.random() * (base / 2);
    this.setState("offline", `${detail}; retrying in ${Math.ceil(delay / 1000)} s`);
    this.later("retry", delay, () => void this.dial());
  }

  /** Reconnect now instead of waiting (the network came back, the app was resumed). */
  reconnectNow(): void {
    if (this.stopped || this.state_ !== "offline") return;
    clearTimeout(this.timers.retry);
    void this.dial();
  }

  private signOut(reason: ChatError): void {
    this.stopped = true;
    this.dropTransport(reason);
    this.clearTimers();
    this.setState("closed", reason.message);
    this.emit("signedOut", reason);
  }

  /** Re-authenticates on the open connection before the token expires. */
  private scheduleReauth(): void {
    const expires = this.token?.expiresAtMs ?? 0;
    const due = Math.max(1_000, expires - this.o.reauthMarginMs - Date.now());
    this.later("reauth", due, async () => {
      try {
        const fresh = await this.o.tokens(true);
        await this.call({ case: "authenticate", value: { accessToken: fresh.token } }, "authenticated");
        this.token = fresh;
        this.scheduleReauth();
      } catch (e) {
        if (e instanceof ChatError && SIGNED_OUT.has(e.reason)) return this.signOut(e);
        // Otherwise the server closes with 4100 at expiry, and the reconnection refreshes.
        this.needFreshToken = true;
      }
    });
  }

  /** Pings after a silence; a connection silent through the ping's timeout is dead. */
  private heartbeat(): void {
    const tick = Math.max(100, Math.min(this.o.heartbeatIntervalMs, this.o.heartbeatTimeoutMs) / 4);
    this.later("heartbeat", tick, () => {
      if (this.state_ !== "online" || !this.transport) return;
      const now = Date.now();
      if (this.pingSentAt && now - this.pingSentAt >= this.o.heartbeatTimeoutMs) {
        return this.lost(4004, "no answer to ping");
      }
      if (!this.pingSentAt && now - this.lastFrameAt >= this.o.heartbeatIntervalMs) {
        this.pingSentAt = now;
        this.transport.send(clientFrame(this.takeId(), { case: "ping", value: {} }));
      }
      this.heartbeat();
    });
  }

  /** On long polling, tries a WebSocket now and then; when one authenticates, moves to it. */
  private scheduleProbe(): void {
    this.later("probe", this.o.webSocketRetryMs, () => {
      if (this.transport?.kind !== "polling" || this.probe) return;
      let probe: Transport | null = null;
      const done = (worked: boolean) => {
        probe?.close();
        if (this.probe !== probe) return;
        this.probe = null;
        if (!worked) return this.scheduleProbe();
        this.webSocketFailures = 0;
        this.lost(4000, "moving to WebSocket");
      };
      try {
        probe = this.openWebSocket({
          frame: (f) => done(f.payload.case === "authenticated"),
          closed: () => done(false),
        });
      } catch {
        return;
      }
      this.probe = probe;
      setTimeout(() => this.probe === probe && done(false), this.o.connectTimeoutMs);
    });
  }

  private later(name: TimerName, ms: number, f: () => void | Promise<void>): void {
    clearTimeout(this.timers[name]);
    this.timers[name] = setTimeout(() => void f(), ms);
  }

  private clearTimers(): void {
    for (const t of Object.values(this.timers)) clearTimeout(t);
  }
}
