// SPDX-License-Identifier: Apache-2.0
//
// static/app.js -- the dashboard's entry: sign-in, the shell (navigation by
// role, live status, sign-out) and the hash router.
//
// Sign-in checks the token with GET /api/whoami, which also gives the
// role: a viewer never sees the admin pages or a write button (the API
// refuses them anyway).  Routes: #/devices, #/devices/<endpoint>,
// #/bootstrap, #/factory, #/workflows (rotations), #/audit, #/tokens, #/events,
// #/api (the API reference).

import { render } from './vendor/preact.module.js';
import { api, token, onUnauthorized, eventStream } from './api.js';
import { html, useState, useEffect, Session, can, ErrorBox } from './ui.js';
import { Devices } from './pages/devices.js';
import { Device } from './pages/device.js';
import { Bootstrap } from './pages/bootstrap.js';
import { Audit } from './pages/audit.js';
import { Tokens } from './pages/tokens.js';
import { EventLog } from './pages/events.js';
import { Factory } from './pages/factory.js';
import { ApiReference } from './pages/apiref.js';
import { Workflows } from './pages/workflows.js';

const LOG_MAX = 500;   // events kept for the live event log

function SignIn({ message, onSignedIn }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState(message);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    token.set(value.trim());
    try {
      const me = await api('/api/whoami');
      onSignedIn(me);
    } catch (err) {
      token.clear();
      setError(err.status === 401 ? 'That token was refused: it is unknown or was deleted.'
                                  : err.message);
    }
    setBusy(false);
  }
  return html`<main class="signin">
    <form onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title">Lodestar</h1>
      <p>Sign in with an API token. <code>scripts/run.sh</code> prints the admin token;
         an admin creates others under Tokens.</p>
      <label for="token">API token</label>
      <input id="token" type="password" autocomplete="off" required autofocus
             value=${value} onInput=${(e) => setValue(e.target.value)} />
      <button type="submit" disabled=${busy}>Sign in</button>
      ${error && html`<p class="error" role="alert" id="signin-error">${error}</p>`}
    </form>
  </main>`;
}

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const page = parts[0] || 'devices';
  return { page, arg: parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : null };
}

const NAV = [
  ['devices', 'Devices', 'viewer'],
  ['bootstrap', 'Bootstrap', 'admin'],
  ['factory', 'Factory', 'admin'],
  ['workflows', 'Rotations', 'viewer'],
  ['audit', 'Audit log', 'admin'],
  ['tokens', 'Tokens', 'admin'],
  ['events', 'Live events', 'viewer'],
  ['api', 'API reference', 'viewer'],
];

function Shell({ me, onSignOut }) {
  const [r, setRoute] = useState(route());
  const [live, setLive] = useState('connecting');
  const [session, setSession] = useState(null);
  useEffect(() => {
    const onHash = () => setRoute(route());
    addEventListener('hashchange', onHash);
    const log = [];
    const events = eventStream(setLive);
    events.subscribe((kind, ev) => {
      log.unshift({ kind, ...ev });
      if (log.length > LOG_MAX) log.pop();
    });
    setSession({ me, events, log });
    return () => { removeEventListener('hashchange', onHash); events.stop(); };
  }, [me]);
  if (!session) return null;
  const allowed = NAV.filter(([, , role]) => can(me, role));
  let page;
  const known = NAV.find(([id]) => id === r.page);
  if (!known) page = html`<${ErrorBox} error=${{ message: `There is no page "${r.page}".` }} />`;
  else if (!can(me, known[2]))
    page = html`<${ErrorBox} error=${{ status: 403, code: 'forbidden',
                 message: `This page needs the ${known[2]} role; your token is ${me.role}.` }} />`;
  else if (r.page === 'devices') page = r.arg ? html`<${Device} endpoint=${r.arg} />` : html`<${Devices} />`;
  else if (r.page === 'bootstrap') page = html`<${Bootstrap} />`;
  else if (r.page === 'factory') page = html`<${Factory} />`;
  else if (r.page === 'audit') page = html`<${Audit} />`;
  else if (r.page === 'tokens') page = html`<${Tokens} />`;
  else if (r.page === 'api') page = html`<${ApiReference} />`;
  else if (r.page === 'workflows') page = html`<${Workflows} />`;
  else page = html`<${EventLog} />`;
  return html`<${Session.Provider} value=${session}>
    <header class="top">
      <a class="brand" href="#/devices">Lodestar</a>
      <nav aria-label="Pages">
        ${allowed.map(([id, label]) => html`<a href=${`#/${id}`}
            aria-current=${r.page === id ? 'page' : undefined}>${label}</a>`)}
      </nav>
      <span class=${`live live-${live}`} title="event stream">${live}</span>
      <span class="me" id="me">${me.name} · <b>${me.role}</b></span>
      <button type="button" onClick=${() => onSignOut(null)}>Sign out</button>
    </header>
    <main class="page">${page}</main>
  </${Session.Provider}>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [message, setMessage] = useState(null);
  const [checking, setChecking] = useState(!!token.get());
  function signOut(msg) {
    token.clear();
    setMe(null);
    setMessage(msg);
  }
  useEffect(() => {
    onUnauthorized((msg) => signOut(msg || 'The token was refused; sign in again.'));
    if (token.get())
      api('/api/whoami').then(setMe, (e) => e.status !== 401 && setMessage(e.message))
        .finally(() => setChecking(false));
  }, []);
  if (checking) return html`<p class="loading">Checking the token…</p>`;
  if (!me) return html`<${SignIn} message=${message} onSignedIn=${(m) => { setMessage(null); setMe(m); }} />`;
  return html`<${Shell} me=${me} onSignOut=${signOut} />`;
}

const mount = document.getElementById('app');
mount.replaceChildren();   // the "Loading…" note of index.html
render(html`<${App} />`, mount);
