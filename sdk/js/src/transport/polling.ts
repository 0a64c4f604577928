// Long polling, for networks that block WebSockets: a poll session, a GET loop for events and
// one POST per command (docs/protocol.md, "Long polling"). JSON only.
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { ClientFrameSchema, type ClientFrame } from "../gen/chat/v1/frames_pb.js";
import { decodeJson } from "../codec.js";
import { ChatError } from "../errors.js";
import type { HttpApi } from "../http.js";
import type { Transport, TransportListener } from "./types.js";

/** The socket close code that means what a poll error means. */
function closeCodeOf(e: unknown): number {
  if (!(e instanceof ChatError)) return 1006;
  switch (e.reason) {
    case "TOKEN_EXPIRED":
    case "TOKEN_INVALID":
    case "TOKEN_MISSING":
      return 4100;
    case "AUTH_REVOKED":
      return 4101;
    case "TOO_MANY_CONNECTIONS":
      return 4103;
    case "SESSION_CLOSED":
    case "DRAINING":
      return 4000;
    case "CURSOR_EXPIRED":
    case "SESSION_NOT_FOUND":
      return 4003;
    default:
      return 1006;
  }
}

export class PollingTransport implements Transport {
  readonly kind = "polling" as const;
  private done = false;
  private sessionId = "";
  /** Commands sent before the session exists. */
  private queued: ClientFrame[] = [];
  private aborter = new AbortController();

  /** `token()` is read per request: a re-authentication replaces it. */
  constructor(
    private readonly http: HttpApi,
    private readonly token: () => string,
    private readonly listener: TransportListener,
  ) {
    void this.run();
  }

  private async run() {
    try {
      const session = (await this.http.request("POST", "/v1/poll/sessions", {
        token: this.token(),
      })) as { session_id: string; cursor: string };
      this.sessionId = session.session_id;
      let cursor = session.cursor;
      for (const frame of this.queued.splice(0)) this.send(frame);
      while (!this.done) {
        const batch = (await this.http.request(
          "GET",
          `/v1/poll?cursor=${encodeURIComponent(cursor)}`,
          { token: this.token(), signal: this.aborter.signal },
        )) as { events?: JsonValue[]; cursor: string };
        if (this.done) return;
        cursor = batch.cursor;
        for (const event of batch.events ?? []) {
          if (this.done) return;
          this.listener.frame(decodeJson(event));
        }
      }
    } catch (e) {
      this.end(closeCodeOf(e), e instanceof Error ? e.message : String(e));
    }
  }

  private end(code: number, reason: string) {
    if (this.done) return;
    this.done = true;
    this.listener.closed(code, reason);
  }

  send(frame: ClientFrame): void {
    if (this.done) return;
    if (!this.sessionId) {
      this.queued.push(frame);
      return;
    }
    const body = toJson(ClientFrameSchema, frame, { useProtoFieldName: true });
    this.http
      .request("POST", `/v1/poll/${this.sessionId}/commands`, { body, token: this.token() })
      .catch((e: unknown) => this.end(closeCodeOf(e), String(e)));
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.aborter.abort();
    if (this.sessionId) {
      this.http
        .request("DELETE", `/v1/poll/${this.sessionId}`, { token: this.token() })
        .catch(() => {});
    }
  }
}
