// The HTTP half of the protocol: accounts and tokens (docs/protocol.md, "Accounts").
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import {
  AuthTokensSchema,
  ErrorResponseSchema,
  LogoutEverywhereResponseSchema,
  type AuthTokens,
} from "./gen/chat/v1/auth_pb.js";
import { ChatError } from "./errors.js";

/** The `fetch` the SDK uses: the global one unless another is given (tests, proxies). */
export type Fetch = typeof globalThis.fetch;

/** Calls the node's HTTP API at `baseUrl` (e.g. `https://chat.example.com`). */
export class HttpApi {
  readonly baseUrl: string;
  private readonly fetchImpl: Fetch;

  constructor(baseUrl: string, fetchImpl: Fetch = globalThis.fetch.bind(globalThis)) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.fetchImpl = fetchImpl;
  }

  /** A JSON request; the parsed body of a 2xx answer, or a ChatError. */
  async request(
    method: string,
    path: string,
    opts: { body?: unknown; token?: string; signal?: AbortSignal } = {},
  ): Promise<JsonValue> {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let response: Response;
    try {
      response = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
    } catch (e) {
      throw ChatError.local("OFFLINE", `cannot reach ${this.baseUrl}: ${String(e)}`);
    }
    const text = await response.text();
    let json: JsonValue = null;
    try {
      json = text ? (JSON.parse(text) as JsonValue) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      if (json && typeof json === "object" && !Array.isArray(json) && "error" in json) {
        const parsed = fromJson(ErrorResponseSchema, json, { ignoreUnknownFields: true });
        if (parsed.error) throw ChatError.fromFrame(parsed.error, response.status);
      }
      throw new ChatError("HTTP_ERROR", `HTTP ${response.status}`, {
        status: response.status,
        retryable: response.status >= 500,
      });
    }
    return json;
  }

  private async tokens(path: string, body: unknown, token?: string): Promise<AuthTokens> {
    const json = await this.request("POST", path, { body, token });
    return fromJson(AuthTokensSchema, json, { ignoreUnknownFields: true });
  }

  /** Creates an account and logs it in. */
  signup(username: string, displayName: string, password: string): Promise<AuthTokens> {
    return this.tokens("/v1/auth/signup", { username, display_name: displayName, password });
  }

  login(username: string, password: string): Promise<AuthTokens> {
    return this.tokens("/v1/auth/login", { username, password });
  }

  /** Trades a refresh token for a new pair; the old refresh token stops working. */
  refresh(refreshToken: string): Promise<AuthTokens> {
    return this.tokens("/v1/auth/refresh", { refresh_token: refreshToken });
  }

  /** Ends this log-in (the refresh token and every token rotated from it). */
  async logout(refreshToken: string): Promise<void> {
    await this.request("POST", "/v1/auth/logout", { body: { refresh_token: refreshToken } });
  }

  /** Ends every log-in of the token's user; their connections close with 4101. */
  async logoutEverywhere(accessToken: string): Promise<number> {
    const json = await this.request("POST", "/v1/auth/logout_everywhere", {
      body: {},
      token: accessToken,
    });
    return fromJson(LogoutEverywhereResponseSchema, json, { ignoreUnknownFields: true })
      .sessionsEnded;
  }

  /** Changes the password; every other log-in ends. */
  async changePassword(accessToken: string, current: string, next: string): Promise<void> {
    await this.request("POST", "/v1/auth/password", {
      body: { current_password: current, new_password: next },
      token: accessToken,
    });
  }
}
