// SPDX-License-Identifier: Apache-2.0
//
// static/api.js -- the dashboard's only way to the server: the bearer
// token, JSON calls, and the live event stream.
//
// The token lives in sessionStorage (gone with the tab; no cookie, so no
// CSRF surface) and goes in the Authorization header of every call.  A 401
// anywhere signs the page out (onUnauthorized).  The event stream is read
// with fetch() and a streamed body rather than EventSource: EventSource
// cannot send an Authorization header, and the token in a URL would leak
// into proxy logs and history.  This file parses text/event-stream itself
// and reconnects with Last-Event-ID, as EventSource would.

const TOKEN_KEY = 'lodestar.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// enc('urn:imei:1') -> 'urn%3Aimei%3A1': one path segment.
export const enc = encodeURIComponent;

// api(path, {method, body, type}) -> parsed JSON (null for 204).  body: an
// object (sent as JSON) or a string/Blob (sent as is, with type).
export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token.get() || ''}` };
  let body = options.body;
  if (body !== undefined && typeof body === 'object' && !(body instanceof Blob)) {
    body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    headers['Content-Type'] = options.type || 'text/plain';
  }
  let res;
  try {
    res = await fetch(path, { method: options.method || 'GET', headers, body });
  } catch (e) {
    throw new ApiError(0, 'network', `The server did not answer (${e.message}).`);
  }
  if (res.status === 401) {
    const err = await res.json().catch(() => ({}));
    unauthorized(err.error ? err.error.message : 'The token was refused.');
    throw new ApiError(401, 'unauthorized', 'The token was refused.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { /* reported below */ }
  if (!res.ok) {
    const e = doc && doc.error;
    throw new ApiError(res.status, e ? e.code : 'http',
                       e ? e.message : `HTTP ${res.status} ${res.statusText}`);
  }
  if (doc === null && text) throw new ApiError(res.status, 'bad_json', 'The answer is not JSON.');
  return doc;
}

// Parses one text/event-stream block; null when it carries no data.
export function parseBlock(block) {
  let event = 'message'; let data = ''; let id = null;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data += (data ? '\n' : '') + value;
    else if (field === 'id') id = value;
  }
  return { event, data, id };
}

// One stream per signed-in page; listeners get (kind, event).  state(s)
// is told 'live', 'reconnecting' or 'stopped'.
export function eventStream(state) {
  const listeners = new Set();
  let lastId = null; let ctl = null; let stopped = false; let retry = null;

  async function run() {
    ctl = new AbortController();
    const headers = { Authorization: `Bearer ${token.get() || ''}` };
    if (lastId) headers['Last-Event-ID'] = lastId;
    try {
      const res = await fetch('/api/events', { headers, signal: ctl.signal });
      if (res.status === 401) { unauthorized('The token was refused.'); return; }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      state('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const b = parseBlock(buf.slice(0, end));
          buf = buf.slice(end + 2);
          if (b.id !== null) lastId = b.id;
          if (!b.data) continue;
          let ev;
          try { ev = JSON.parse(b.data); } catch (e) { continue; }
          for (const fn of listeners) fn(b.event, ev);
        }
      }
    } catch (e) {
      if (stopped) return;
    }
    if (stopped) return;
    state('reconnecting');
    retry = setTimeout(run, 3000);
  }

  run();
  return {
    subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); },
    stop() { stopped = true; clearTimeout(retry); if (ctl) ctl.abort(); state('stopped'); },
  };
}

// Fetches path with the token and saves the answer as a file (a secret
// export never goes through a URL that carries the token).
export async function download(path, filename) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token.get() || ''}` } });
  if (res.status === 401) { unauthorized('The token was refused.'); throw new ApiError(401, 'unauthorized', 'The token was refused.'); }
  if (!res.ok) {
    const doc = await res.json().catch(() => null);
    throw new ApiError(res.status, doc?.error?.code || 'http', doc?.error?.message || `HTTP ${res.status}`);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
