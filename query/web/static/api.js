// The query API as the page calls it: the token (when the collector wants
// one) from the tab's session storage, errors as exceptions carrying the
// API's message, NDJSON streams read line by line.
const tokenKey = "zlog-token";

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

export class Unauthorized extends Error {}

export function setToken(token) { sessionStorage.setItem(tokenKey, token); }

export async function api(path, params, signal) {
  const headers = {};
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(path + "?" + new URLSearchParams(params), { headers, signal });
  if (res.status === 401) throw new Unauthorized("the collector wants its token");
  if (!res.ok) {
    const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
    throw new ApiError(body.error || `${res.status} ${res.statusText}`, res.status);
  }
  return res;
}

// streamLines calls fn with each JSON line of res as it arrives.
export async function streamLines(res, fn) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) fn(JSON.parse(line));
    }
  }
  if (buf.trim()) fn(JSON.parse(buf));
}
