// The live connection is the SDK's (sdk/js, bundled as sdk.js): WebSocket or long polling,
// heartbeats, re-authentication, reconnection, recovery by seq and the outbox all live
// there. This file only translates between the SDK's typed frames and the JSON shape the
// views were written against (docs/protocol.md's, with the .proto field names).

import {
  ChatClient,
  ChatError,
  ClientFrameSchema,
  ServerFrameSchema,
  create,
  fromJson,
  toJson,
} from "./sdk.js";
import { accessToken, refresh, ApiError } from "./api.js";

/** Events of the SDK, by the name of their ServerFrame field. */
const EVENTS = {
  message: "message",
  readReceipt: "read_receipt",
  roomUpdate: "room_update",
  roomAdded: "room_added",
  membersChanged: "members_changed",
  presenceChanged: "presence_changed",
  typingStarted: "typing_started",
  friendRequestReceived: "friend_request_received",
  friendRequestAccepted: "friend_request_accepted",
  friendPresence: "friend_presence",
  roomSettings: "room_settings",
  messageHidden: "message_hidden",
};

/** A reply or event payload as JSON: `{history: {...}}`, every field present. */
function payloadJson(payload) {
  const json = toJson(ServerFrameSchema, create(ServerFrameSchema, { payload }), {
    useProtoFieldName: true,
    alwaysEmitImplicit: true,
  });
  delete json.request_id;
  return json;
}

/** The SDK's command from a JSON command such as `{open_room: {room_id: "7"}}`. */
function command(json) {
  return fromJson(ClientFrameSchema, json).command;
}

/** The app's session (api.js keeps it in localStorage) as the SDK's token source. */
function tokenSource(session) {
  return async (fresh) => {
    try {
      const token = fresh ? (await refresh(session)).access_token : await accessToken(session);
      return { token, expiresAtMs: Number(session.access_expires_at_ms) };
    } catch (e) {
      if (e instanceof ApiError) throw new ChatError(e.reason, e.message, { retryable: e.retryable, status: e.status });
      throw e;
    }
  };
}

export class Connection {
  constructor(session, { onEvent, onReady, onState, onSignedOut, onOutbox, polling = false }) {
    this.client = new ChatClient({
      url: location.origin,
      tokens: tokenSource(session),
      transport: polling ? "polling" : "auto",
      webSocketRetryMs: 30_000,
    });
    for (const [event, field] of Object.entries(EVENTS)) {
      this.client.on(event, (value) => onEvent?.(payloadJson({ case: event, value })));
    }
    this.client.on("ready", () => onReady?.());
    this.client.on("state", (state, detail) =>
      onState?.(state, state === "online" && detail === "polling" ? "long polling" : detail),
    );
    this.client.on("signedOut", () => onSignedOut?.());
    this.client.on("outbox", (entry) => onOutbox?.(entry));
  }

  get state() {
    return this.client.state;
  }

  start() {
    this.client.connect();
  }

  stop() {
    this.client.close();
  }

  reconnectNow() {
    this.client.reconnectNow();
  }

  /** Sends a JSON command; resolves with the JSON reply (`{history: {...}}`). */
  async request(json) {
    return payloadJson(await this.client.request(command(json)));
  }

  /** Opens a room (re-opened by seq after every reconnection); resolves like `request`. */
  async openRoom(roomId) {
    return payloadJson({ case: "roomOpened", value: await this.client.openRoom(BigInt(roomId)) });
  }

  async closeRoom(roomId) {
    await this.client.closeRoom(BigInt(roomId));
  }

  /** Sends a message (a reply when `replyTo` is a seq) through the SDK's outbox; returns
   * its client_msg_id. */
  send(roomId, body, fileIds = [], replyTo = 0, mentions = []) {
    const opts = { fileIds: fileIds.map((id) => BigInt(id)), replyTo: BigInt(replyTo), mentions: mentionInits(mentions) };
    return this.client.send(BigInt(roomId), body, opts).clientMsgId;
  }

  /** Edits one of the user's messages (its mentions replaced) through the outbox. */
  edit(roomId, seq, body, mentions = []) {
    return this.client.editMessage(BigInt(roomId), BigInt(seq), body, { mentions: mentionInits(mentions) }).clientMsgId;
  }

  /** Adds (or, `add` false, takes back) a reaction through the outbox. */
  react(roomId, seq, emoji, add) {
    return this.client.react(BigInt(roomId), BigInt(seq), emoji, add).clientMsgId;
  }

  /** Deletes a message for everyone through the outbox. */
  remove(roomId, seq) {
    return this.client.deleteMessage(BigInt(roomId), BigInt(seq)).clientMsgId;
  }

  /** Forwards a message to another room (or the same) through the outbox. */
  forward(fromRoomId, seq, toRoomId) {
    return this.client.forwardMessage(BigInt(fromRoomId), BigInt(seq), BigInt(toRoomId)).clientMsgId;
  }
}

/** Mentions as the web client holds them (JSON field names) to the SDK's message inits. */
function mentionInits(mentions) {
  return mentions.map((m) => ({ userId: BigInt(m.user_id ?? 0), all: !!m.all, offset: m.offset, length: m.length }));
}
