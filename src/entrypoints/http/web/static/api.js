// The service's HTTP API, with the bearer token and RFC 9457 problem details turned into errors.

const TOKEN_KEY = "media-core.token";

/** An error answer of the service; `message` is what a person should read. */
export class ApiError extends Error {
  constructor(status, problem) {
    const title = problem?.title ?? `HTTP ${status}`;
    const detail = problem?.detail && problem.detail !== title ? `: ${problem.detail}` : "";
    super(`${title}${detail}`);
    this.status = status;
    this.problem = problem ?? null;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** Take a token from `#token=…` once, and clear it from the address bar. */
  adoptFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    if (!token) return false;
    this.token = token.trim();
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  },
  /** The `sub` of a JWT, for display only (the server checks the token). */
  user() {
    try {
      const payload = this.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).sub ?? null;
    } catch {
      return null;
    }
  },
};

export function authHeaders() {
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

/** Call `path` (relative to the page) and return its JSON body, or throw an ApiError. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "The service cannot be reached", detail: error.message });
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
