// Accounts over HTTP, and the tokens kept in localStorage.

const KEY = "chat.session";

/** The saved session ({access_token, refresh_token, access_expires_at_ms, user}) or null. */
export function savedSession() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

function save(session) {
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function forget() {
  localStorage.removeItem(KEY);
}

/** An error from the server: {code, reason, message, retryable}. */
export class ApiError extends Error {
  constructor(error, status) {
    super(error?.message || `HTTP ${status}`);
    this.reason = error?.reason || "HTTP_" + status;
    this.code = error?.code;
    this.retryable = !!error?.retryable;
    this.status = status;
  }
}

async function post(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(json.error, response.status);
  return json;
}

export async function signup(username, displayName, password) {
  return save(await post("/v1/auth/signup", { username, display_name: displayName, password }));
}

export async function login(username, password) {
  return save(await post("/v1/auth/login", { username, password }));
}

/** A fresh access token (refreshing the pair when the current one is about to expire). */
export async function accessToken(session) {
  const margin = 60_000;
  if (Number(session.access_expires_at_ms) - margin > Date.now()) return session.access_token;
  return (await refresh(session)).access_token;
}

export async function refresh(session) {
  const fresh = await post("/v1/auth/refresh", { refresh_token: session.refresh_token });
  Object.assign(session, fresh);
  save(session);
  return session;
}

export async function logout(session) {
  try {
    await post("/v1/auth/logout", { refresh_token: session.refresh_token });
  } finally {
    forget();
  }
}

/** Uploads a file; resolves to its FileInfo. */
export async function upload(session, file) {
  const token = await accessToken(session);
  const response = await fetch(`/v1/files?name=${encodeURIComponent(file.name || "file")}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: file,
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(json.error, response.status);
  return json;
}

