// A WebSocket connection: `/v1/ws` with the subprotocol of the wire. The access token goes
// in the first frame (`authenticate`), not the URL, so it stays out of access logs.
import type { ClientFrame } from "../gen/chat/v1/frames_pb.js";
import { decode, encode, SUBPROTOCOL, type Wire } from "../codec.js";
import type { Transport, TransportListener, WebSocketConstructor, WebSocketLike } from "./types.js";

/** Close code for a frame the client could not decode (RFC 6455: invalid payload). */
const INVALID_PAYLOAD = 1007;

export class WebSocketTransport implements Transport {
  readonly kind = "websocket" as const;
  private readonly ws: WebSocketLike;
  private done = false;

  constructor(
    url: string,
    private readonly wire: Wire,
    hello: ClientFrame,
    WebSocketImpl: WebSocketConstructor,
    private readonly listener: TransportListener,
  ) {
    this.ws = new WebSocketImpl(url, SUBPROTOCOL[wire]);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => this.send(hello);
    this.ws.onmessage = (ev) => this.message(ev.data);
    this.ws.onclose = (ev) => this.end(ev.code, ev.reason);
    this.ws.onerror = () => {
      // onclose follows with the code.
    };
  }

  private message(data: unknown) {
    if (this.done) return;
    let frame;
    try {
      if (typeof data === "string" || data instanceof ArrayBuffer || data instanceof Uint8Array) {
        frame = decode(data);
      } else {
        throw new Error("unexpected frame type");
      }
    } catch {
      this.ws.close(INVALID_PAYLOAD, "undecodable frame");
      return this.end(INVALID_PAYLOAD, "undecodable frame");
    }
    this.listener.frame(frame);
  }

  private end(code: number, reason: string) {
    if (this.done) return;
    this.done = true;
    this.listener.closed(code, reason);
  }

  send(frame: ClientFrame): void {
    if (this.done || this.ws.readyState !== 1) return;
    this.ws.send(encode(this.wire, frame));
  }

  close(): void {
    this.done = true;
    try {
      this.ws.close(1000, "client closed");
    } catch {
      // Already closing.
    }
  }
}
