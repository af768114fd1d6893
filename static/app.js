// SPDX-License-Identifier: Apache-2.0
//
// static/app.js -- the first dashboard page: sign in with an API token,
// list devices, follow /api/events live.
//
// The token lives in sessionStorage (gone with the tab; no cookie, so no
// CSRF surface).  The event stream is read with fetch() and a streamed
// body rather than EventSource: EventSource cannot send an Authorization
// header, and the alternative -- the token in the URL -- would leak it into
// proxy logs and browser history.  fetch() sends the header like every
// other call; this file parses the text/event-stream format itself and
// reconnects with Last-Event-ID, as EventSource would.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'lodestar.token';
const PAGE = 100;

let token = sessionStorage.getItem(TOKEN_KEY);
let next = null;                 // paging cursor of /api/devices
let lastEventId = null;
let stream = null;               // AbortController of the event stream
const rows = new Map();          // endpoint -> <tr>

function setStatus(text) { $('status').textContent = text; }

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` },
  });
  if (res.status === 401) { signOut('The token was refused.'); throw new Error('unauthorized'); }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  }
  return res.json();
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  return td;
}

function renderRow(d) {
  const tr = document.createElement('tr');
  const reg = d.registration || d;         // detail or list shape
  tr.className = d.registered ? 'registered' : '';
  tr.append(cell(d.endpoint), cell(d.registered ? 'registered' : 'offline'),
            cell(reg.lwm2m), cell(reg.security), cell(reg.address),
            cell(reg.last_seen ? new Date(reg.last_seen).toLocaleString() : ''));
  const old = rows.get(d.endpoint);
  if (old) old.replaceWith(tr); else $('rows').append(tr);
  rows.set(d.endpoint, tr);
  $('count').textContent = `(${rows.size}${next ? '+' : ''})`;
  return tr;
}

async function loadPage() {
  const q = new URLSearchParams({ limit: PAGE });
  if (next) q.set('after', next);
  const page = await api(`/api/devices?${q}`);
  next = page.next;
  page.devices.forEach(renderRow);
  $('more').hidden = !next;
}

async function refreshDevice(endpoint) {
  try {
    const d = await api(`/api/devices/${encodeURIComponent(endpoint)}`);
    const tr = renderRow(d);
    tr.classList.add('flash');
    setTimeout(() => tr.classList.remove('flash'), 1500);
  } catch (e) { /* the list stays as it was; the next event retries */ }
}

// Parses text/event-stream blocks ("field: value" lines, blank line ends).
function handleBlock(block) {
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
  if (id !== null) lastEventId = id;
  if (!data) return;
  const ev = JSON.parse(data);
  if (ev.endpoint && ['registration', 'update', 'deregistration'].includes(event))
    refreshDevice(ev.endpoint);
}

async function follow() {
  stream = new AbortController();
  const headers = { Authorization: `Bearer ${token}` };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  try {
    const res = await fetch('/api/events', { headers, signal: stream.signal });
    if (res.status === 401) { signOut('The token was refused.'); return; }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    setStatus('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        handleBlock(buf.slice(0, end));
        buf = buf.slice(end + 2);
      }
    }
  } catch (e) {
    if (stream.signal.aborted) return;
  }
  if (!token) return;
  setStatus('reconnecting…');
  setTimeout(follow, 3000);
}

function signOut(message) {
  if (stream) stream.abort();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  rows.clear();
  $('rows').replaceChildren();
  next = null;
  $('devices').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('signin-error').hidden = !message;
  $('signin-error').textContent = message || '';
  setStatus('');
}

async function start() {
  $('signin').hidden = true;
  $('signout').hidden = false;
  $('devices').hidden = false;
  setStatus('loading…');
  try {
    await loadPage();
    follow();
  } catch (e) {
    if (token) setStatus(e.message);
  }
}

$('signin').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
});
$('signout').addEventListener('click', () => signOut());
$('more').addEventListener('click', () => loadPage().catch((e) => setStatus(e.message)));

if (token) start(); else signOut();
