// The two WebSocket subprotocols: `chat.v1.json` (text frames, protobuf's canonical JSON with
// the .proto field names) and `chat.v1.proto` (binary frames). Both decode to the same typed
// frames.
import {
  create,
  fromBinary,
  fromJson,
  fromJsonString,
  toBinary,
  toJsonString,
  type JsonValue,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type ClientFrame,
  type ServerFrame,
} from "./gen/chat/v1/frames_pb.js";

/** Which encoding a connection speaks. */
export type Wire = "json" | "binary";

/** The WebSocket subprotocol of each wire. */
export const SUBPROTOCOL: Record<Wire, string> = {
  json: "chat.v1.json",
  binary: "chat.v1.proto",
};

/** A command to send: the oneof of `ClientFrame.command`, e.g. `{case: "ping", value: {}}`. */
export type Command = NonNullable<MessageInitShape<typeof ClientFrameSchema>["command"]>;

/** What a server frame carries: a reply or an event, by `case`. */
export type Payload = ServerFrame["payload"];

/** A frame to send, with its request id. */
export function clientFrame(requestId: number, command: Command): ClientFrame {
  return create(ClientFrameSchema, { requestId, command });
}

export function encode(wire: Wire, frame: ClientFrame): string | Uint8Array {
  return wire === "json"
    ? toJsonString(ClientFrameSchema, frame, { useProtoFieldName: true })
    : toBinary(ClientFrameSchema, frame);
}

/** A server frame from a socket message: text for JSON, bytes for binary. */
export function decode(data: string | ArrayBuffer | Uint8Array): ServerFrame {
  if (typeof data === "string") {
    return fromJsonString(ServerFrameSchema, data, { ignoreUnknownFields: true });
  }
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return fromBinary(ServerFrameSchema, bytes);
}

/** A server frame from parsed JSON (the long-polling batches). */
export function decodeJson(json: JsonValue): ServerFrame {
  return fromJson(ServerFrameSchema, json, { ignoreUnknownFields: true });
}

/** The value of a reply payload of one kind, e.g. `ReplyOf<"history">` is `History`. */
export type ReplyOf<K extends NonNullable<Payload["case"]>> = Extract<Payload, { case: K }>["value"];
