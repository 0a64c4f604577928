// Sends that survive disconnections: each message keeps its client_msg_id across retries, so
// the server stores it once and answers every retry with the first ack. Sends to one room go
// one at a time, in the order the app made them.
import type { Command } from "./codec.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SendAck } from "./gen/chat/v1/frames_pb.js";
import type { MentionSchema } from "./gen/chat/v1/models_pb.js";
import { ChatError } from "./errors.js";

/** Where a message is on its way: queued (waiting for a connection), sending, sent, failed. */
export type OutboxState = "queued" | "sending" | "sent" | "failed";

/**
 * A change to an earlier message, sent through the outbox like a message (in order with the
 * room's sends): an edit (`body` is the new text), a delete for everyone, a reaction added
 * or taken back (`body` is the emoji), or a forward (a new message in this room, copied
 * from message `seq` of room `fromRoomId`).
 */
export interface OutboxChange {
  readonly kind: "edit" | "delete" | "react" | "unreact" | "forward";
  /** The message it changes (or forwards). */
  readonly seq: bigint;
  /** A forward: the room of the message forwarded. */
  readonly fromRoomId?: bigint;
}

/**
 * A mention to send: `{ userId, offset, length }` or `{ all: true, offset, length }`, the range
 * in UTF-16 code units of the body (JavaScript string indices), e.g. from `mentionOf`.
 */
export type MentionInit = MessageInitShape<typeof MentionSchema>;

/** What the app asks the outbox to send. */
export interface OutboxRequest {
  readonly roomId: bigint;
  readonly body: string;
  readonly fileIds?: bigint[];
  /** A reply: the seq of the quoted message. */
  readonly replyTo?: bigint;
  /** Members (or @all) the body mentions: a new message or an edit. */
  readonly mentions?: MentionInit[];
  readonly change?: OutboxChange;
}

/** A message (or a change to one) the app sent, as the outbox tracks it. */
export interface OutboxEntry {
  readonly clientMsgId: string;
  readonly roomId: bigint;
  readonly body: string;
  readonly fileIds: bigint[];
  /** A reply: the seq of the quoted message (0n: none). */
  readonly replyTo: bigint;
  /** Members (or @all) the body mentions. */
  readonly mentions: MentionInit[];
  /** Set for an edit or a delete instead of a new message. */
  readonly change?: OutboxChange;
  state: OutboxState;
  /** Set once sent. */
  ack?: SendAck;
  /** Why it failed (state "failed"), or the last retryable error. */
  error?: ChatError;
  attempts: number;
  /** When the app sent it (ms since the Unix epoch); a retry by the app restarts it. */
  since: number;
  /** Resolves with the ack; rejects when the entry fails or is discarded. */
  readonly done: Promise<SendAck>;
}

interface Internal extends OutboxEntry {
  resolve(ack: SendAck): void;
  reject(e: ChatError): void;
  /** Not before this time (ms): the server asked to wait. */
  notBefore: number;
}

/** One attempt: the ack, or the error the server (or the connection) gave. */
export type SendAttempt = (entry: OutboxEntry) => Promise<SendAck>;

export class Outbox {
  private readonly entries = new Map<string, Internal>();
  private online = false;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly attempt: SendAttempt,
    private readonly changed: (entry: OutboxEntry) => void,
    /** After this long without an ack an entry fails (the app may retry it). */
    private readonly timeoutMs: number,
  ) {}

  /** Everything not yet sent, oldest first. */
  pending(): OutboxEntry[] {
    return [...this.entries.values()];
  }

  add(request: OutboxRequest, clientMsgId: string): OutboxEntry {
    const { roomId, body } = request;
    const existing = this.entries.get(clientMsgId);
    if (existing) return existing;
    let resolve!: (ack: SendAck) => void;
    let reject!: (e: ChatError) => void;
    const done = new Promise<SendAck>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The app may never await it; a failure is also reported through `changed`.
    done.catch(() => {});
    const entry: Internal = {
      clientMsgId,
      roomId,
      body,
      fileIds: request.fileIds ?? [],
      replyTo: request.replyTo ?? 0n,
      mentions: request.mentions ?? [],
      change: request.change,
      state: "queued",
      attempts: 0,
      since: Date.now(),
      done,
      resolve,
      reject,
      notBefore: 0,
    };
    this.entries.set(clientMsgId, entry);
    this.changed(entry);
    this.watchExpiry(entry);
    this.pump();
    return entry;
  }

  /** Tries a failed entry again, with the same client_msg_id. */
  retry(clientMsgId: string): void {
    const e = this.entries.get(clientMsgId);
    if (!e || e.state !== "failed") return;
    e.state = "queued";
    e.since = Date.now();
    e.error = undefined;
    e.notBefore = 0;
    this.changed(e);
    this.watchExpiry(e);
    this.pump();
  }

  /** Drops an entry that is not being sent (its `done` rejects with CLOSED). */
  discard(clientMsgId: string): void {
    const e = this.entries.get(clientMsgId);
    if (!e || e.state === "sending") return;
    this.entries.delete(clientMsgId);
    e.reject(ChatError.local("CLOSED", "discarded", false));
  }

  setOnline(online: boolean): void {
    this.online = online;
    this.pump();
  }

  /** Stops every timer (the client closed). */
  stop(): void {
    this.online = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private later(ms: number, f: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      f();
    }, ms);
    this.timers.add(t);
  }

  /** An entry still queued when its time is up fails, even with no connection to try. */
  private watchExpiry(e: Internal): void {
    const since = e.since;
    this.later(this.timeoutMs, () => {
      if (e.state === "queued" && e.since === since && this.entries.has(e.clientMsgId)) {
        this.fail(e, ChatError.local("TIMEOUT", "not sent in time"));
      }
    });
  }

  /** Starts every send that may go now: the first unsent entry of each room. */
  private pump(): void {
    if (!this.online) return;
    const now = Date.now();
    const blocked = new Set<bigint>();
    for (const e of this.entries.values()) {
      if (e.state === "failed" || blocked.has(e.roomId)) continue;
      blocked.add(e.roomId);
      if (e.state === "queued" && e.notBefore <= now) void this.send(e);
    }
  }

  private async send(e: Internal): Promise<void> {
    e.state = "sending";
    e.attempts += 1;
    this.changed(e);
    try {
      const ack = await this.attempt(e);
      e.state = "sent";
      e.ack = ack;
      e.error = undefined;
      this.entries.delete(e.clientMsgId);
      this.changed(e);
      e.resolve(ack);
    } catch (err) {
      const error = err instanceof ChatError ? err : ChatError.local("DISCONNECTED", String(err));
      this.failedAttempt(e, error);
    }
    this.pump();
  }

  private fail(e: Internal, error: ChatError): void {
    e.state = "failed";
    e.error = error;
    this.changed(e);
    e.reject(error);
  }

  private failedAttempt(e: Internal, error: ChatError): void {
    // The connection's authority lapsed (it re-authenticates or reconnects with a fresh
    // token): that is the connection's failure, not the message's.
    if (["TOKEN_EXPIRED", "NOT_AUTHENTICATED", "AUTH_REVOKED"].includes(error.reason)) {
      error = ChatError.local("DISCONNECTED", error.message);
    }
    if (!error.retryable) return this.fail(e, error);
    if (Date.now() - e.since >= this.timeoutMs) {
      return this.fail(e, ChatError.local("TIMEOUT", "not sent in time"));
    }
    e.state = "queued";
    e.error = error;
    this.changed(e);
    // The connection's own errors wait for the next connection (setOnline pumps); the
    // server's retryable ones (rate limit, room restarting) for the time it asked, with a
    // floor against spinning.
    if (error.code !== 0) {
      const wait = Math.max(250, error.retryAfterMs);
      e.notBefore = Date.now() + wait;
      this.later(wait, () => this.pump());
    }
  }
}

/** The command that sends an entry: a message, a change to one, or a forward. */
export function entryCommand(e: OutboxEntry): Command {
  const { roomId, clientMsgId } = e;
  switch (e.change?.kind) {
    case "edit":
      return {
        case: "editMessage",
        value: { roomId, clientMsgId, seq: e.change.seq, body: e.body, mentions: e.mentions },
      };
    case "delete":
      return { case: "deleteMessage", value: { roomId, clientMsgId, seq: e.change.seq } };
    case "react":
      return { case: "addReaction", value: { roomId, clientMsgId, seq: e.change.seq, emoji: e.body } };
    case "unreact":
      return { case: "removeReaction", value: { roomId, clientMsgId, seq: e.change.seq, emoji: e.body } };
    case "forward":
      return {
        case: "forwardMessage",
        value: { roomId, clientMsgId, seq: e.change.seq, fromRoomId: e.change.fromRoomId ?? 0n },
      };
    default:
      return {
        case: "sendMessage",
        value: {
          roomId,
          clientMsgId,
          body: e.body,
          fileIds: e.fileIds,
          replyToSeq: e.replyTo,
          mentions: e.mentions,
        },
      };
  }
}

/**
 * The mention of `who` (a user id, or "all") where `text` (e.g. "@Ben") first occurs in
 * `body` at or after `from`; undefined when it does not occur. JavaScript string indices are
 * UTF-16 code units, the unit the server counts in.
 */
export function mentionOf(body: string, text: string, who: bigint | "all", from = 0): MentionInit | undefined {
  const offset = body.indexOf(text, from);
  if (offset < 0 || text.length === 0) return undefined;
  return who === "all"
    ? { all: true, offset, length: text.length }
    : { userId: who, offset, length: text.length };
}

/** A fresh client_msg_id (a UUID where the platform has one). */
export function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
