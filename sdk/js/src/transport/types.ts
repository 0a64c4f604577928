import type { ClientFrame, ServerFrame } from "../gen/chat/v1/frames_pb.js";

/** What a transport tells the client. */
export interface TransportListener {
  /** A frame from the server (replies and events alike). */
  frame(frame: ServerFrame): void;
  /**
   * The connection ended. `code` is the WebSocket close code, or for long polling the code
   * that means the same (4100 expired token, 4101 revoked, 4000 closed by the server, 1006
   * network failure).
   */
  closed(code: number, reason: string): void;
}

/** One live connection to a node, of either kind. */
export interface Transport {
  readonly kind: "websocket" | "polling";
  send(frame: ClientFrame): void;
  /** Ends the connection; `closed` is not called after this. */
  close(): void;
}

/** The constructor of a WHATWG WebSocket: the browser's, Node 22's, or the `ws` package's. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of the WHATWG WebSocket interface the SDK uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
