import type { Error as ErrorFrame } from "./gen/chat/v1/errors_pb.js";
import { ErrorCode } from "./gen/chat/v1/errors_pb.js";

/** Reasons a token source gives when the log-in is over. */
export const SIGNED_OUT = new Set(["REFRESH_TOKEN_INVALID", "AUTH_REVOKED", "BAD_CREDENTIALS"]);
/** Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes"). */
export const FATAL = new Set([4102, 4103]);
/** Close codes asking to reconnect at once (elsewhere) rather than after backoff. */
export const RECONNECT_NOW = new Set([4000, 4003]);

/** Reasons the SDK itself gives (the server's are in docs/protocol.md). */
export type LocalReason =
  | "OFFLINE"
  | "TIMEOUT"
  | "DISCONNECTED"
  | "CLOSED"
  | "SIGNED_OUT"
  | "HTTP_ERROR";

/**
 * An error from the server (an `error` frame or a non-2xx HTTP answer) or from the SDK
 * (`reason` one of {@link LocalReason}). Branch on `reason`; `message` is for people.
 */
export class ChatError extends Error {
  /** The protocol error code (a gRPC status number), 0 for the SDK's own errors. */
  readonly code: ErrorCode;
  /** Stable machine-readable reason, e.g. `NOT_A_MEMBER`, `RATE_LIMITED`, `OFFLINE`. */
  readonly reason: string;
  /** Whether the same request may succeed if sent again unchanged. */
  readonly retryable: boolean;
  /** Suggested wait before retrying, 0 when none. */
  readonly retryAfterMs: number;
  /** The HTTP status, for errors of the HTTP API; 0 otherwise. */
  readonly status: number;

  constructor(
    reason: string,
    message: string,
    opts: { code?: ErrorCode; retryable?: boolean; retryAfterMs?: number; status?: number } = {},
  ) {
    super(message);
    this.name = "ChatError";
    this.reason = reason;
    this.code = opts.code ?? ErrorCode.UNSPECIFIED;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs ?? 0;
    this.status = opts.status ?? 0;
  }

  /** The error a server frame or HTTP body carried. */
  static fromFrame(e: ErrorFrame, status = 0): ChatError {
    return new ChatError(e.reason, e.message, {
      code: e.code,
      retryable: e.retryable,
      retryAfterMs: e.retryAfterMs,
      status,
    });
  }

  /** An error of the SDK itself, retryable when a reconnection may cure it. */
  static local(reason: LocalReason, message: string, retryable = true): ChatError {
    return new ChatError(reason, message, { retryable });
  }
}
