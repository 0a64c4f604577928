import type { Wire } from "./codec.js";
import type { Fetch } from "./http.js";
import type { TokenSource } from "./session.js";
import type { WebSocketConstructor } from "./transport/types.js";

/** How a {@link ChatClient} connects and keeps its connection. */
export interface ClientOptions {
  /** The node's HTTP base URL, e.g. `https://chat.example.com` (WebSockets use ws/wss). */
  url: string;
  /** Access tokens: usually `session.tokenSource` of a {@link Session}. */
  tokens: TokenSource;
  /** `json` (text frames, the default) or `binary` (protobuf frames). */
  wire?: Wire;
  /**
   * `auto` (the default): WebSocket, falling back to long polling after two WebSockets in a
   * row failed before opening, and trying WebSocket again every `webSocketRetryMs`.
   */
  transport?: "auto" | "websocket" | "polling";
  /** The WebSocket class; defaults to `globalThis.WebSocket` (pass `ws`'s on Node 20). */
  WebSocket?: WebSocketConstructor;
  fetch?: Fetch;
  /** A request without a reply after this long fails with TIMEOUT (default 15 s). */
  requestTimeoutMs?: number;
  /** Send `ping` after this long without any frame from the server (default 20 s). */
  heartbeatIntervalMs?: number;
  /** ...and take the connection for dead when nothing arrives this long after (10 s). */
  heartbeatTimeoutMs?: number;
  /** A connection not authenticated this long after it started is given up (10 s). */
  connectTimeoutMs?: number;
  /** Reconnection backoff: the first delay, doubled per failure up to the maximum, jittered. */
  reconnectDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Re-authenticate this long before the access token expires (default 60 s). */
  reauthMarginMs?: number;
  /** While on long polling, try a WebSocket again this often (default 60 s). */
  webSocketRetryMs?: number;
  /** An outbox entry not acked this long after it was sent fails (default 120 s). */
  outboxTimeoutMs?: number;
}

/** The options with every default filled in. */
export type Settings = Required<Omit<ClientOptions, "WebSocket" | "fetch">> &
  Pick<ClientOptions, "WebSocket" | "fetch">;

export function settings(o: ClientOptions): Settings {
  return {
    wire: "json",
    transport: "auto",
    requestTimeoutMs: 15_000,
    heartbeatIntervalMs: 20_000,
    heartbeatTimeoutMs: 10_000,
    connectTimeoutMs: 10_000,
    reconnectDelayMs: 500,
    reconnectMaxDelayMs: 30_000,
    reauthMarginMs: 60_000,
    webSocketRetryMs: 60_000,
    outboxTimeoutMs: 120_000,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as Settings;
}
