// A log-in as a token source: the access token while it is fresh, a refreshed one when asked
// (refresh tokens are single-use, so concurrent askers share one refresh).
import type { AuthTokens } from "./gen/chat/v1/auth_pb.js";
import type { HttpApi } from "./http.js";

/** An access token and when it expires (ms since the Unix epoch). */
export interface AccessToken {
  token: string;
  expiresAtMs: number;
}

/**
 * Where the client gets access tokens: `fresh` asks for a new one (the current one expires
 * soon or was refused). A rejection with reason `REFRESH_TOKEN_INVALID` or `AUTH_REVOKED`
 * signs the client out.
 */
export type TokenSource = (fresh: boolean) => Promise<AccessToken>;

/** A log-in kept current by refreshing it through the HTTP API. */
export class Session {
  private current: AuthTokens;
  private refreshing: Promise<AuthTokens> | null = null;

  /** `onChange` gets every new token pair, to persist it (e.g. in localStorage). */
  constructor(
    private readonly http: HttpApi,
    tokens: AuthTokens,
    private readonly onChange?: (tokens: AuthTokens) => void,
    /** A token this close to expiry counts as stale. */
    private readonly marginMs = 60_000,
  ) {
    this.current = tokens;
  }

  /** The tokens as they are now. */
  get tokens(): AuthTokens {
    return this.current;
  }

  /** The token source for {@link ChatClient}. */
  readonly tokenSource: TokenSource = async (fresh) => {
    const expiresAtMs = Number(this.current.accessExpiresAtMs);
    if (!fresh && expiresAtMs - this.marginMs > Date.now()) {
      return { token: this.current.accessToken, expiresAtMs };
    }
    const t = await this.refresh();
    return { token: t.accessToken, expiresAtMs: Number(t.accessExpiresAtMs) };
  };

  /** Trades the refresh token for a new pair (once, however many ask at the same time). */
  refresh(): Promise<AuthTokens> {
    this.refreshing ??= this.http.refresh(this.current.refreshToken).then(
      (t) => {
        this.current = t;
        this.refreshing = null;
        this.onChange?.(t);
        return t;
      },
      (e: unknown) => {
        this.refreshing = null;
        throw e;
      },
    );
    return this.refreshing;
  }

  /** Ends this log-in on the server. */
  logout(): Promise<void> {
    return this.http.logout(this.current.refreshToken);
  }
}
