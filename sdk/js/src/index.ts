// @chatcluster/sdk: a client for chatnode (docs/clients.md).
export { ChatClient } from "./client.js";
export type { ClientEvents, ConnectionState } from "./events.js";
export type { ClientOptions } from "./options.js";
export type { SearchOptions } from "./room_calls.js";
export { ChatError, type LocalReason } from "./errors.js";
export { HttpApi, type Fetch } from "./http.js";
export { Session, type AccessToken, type TokenSource } from "./session.js";
export type { MentionInit, OutboxChange, OutboxEntry, OutboxRequest, OutboxState } from "./outbox.js";
export { mentionOf } from "./outbox.js";
export { SUBPROTOCOL, decode, encode, clientFrame, type Command, type Payload, type Wire } from "./codec.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport/types.js";
// Every chat.v1 message type and schema, generated from proto/.
export * from "./gen/chat/v1/errors_pb.js";
export * from "./gen/chat/v1/models_pb.js";
export * from "./gen/chat/v1/auth_pb.js";
export * from "./gen/chat/v1/frames_pb.js";
// protobuf-es, for building and converting messages without a second copy of the runtime.
export { create, fromBinary, fromJson, toBinary, toJson, toJsonString } from "@bufbuild/protobuf";
