// SPDX-License-Identifier: Apache-2.0
//
// static/pages/devices.js -- the device list: paged (keyset, "More"),
// searchable by name prefix, live from the event stream: a registration,
// update or de-registration reloads that device's row; sleeping/awake
// (queue mode) change its state.

import { api, enc } from '../api.js';
import { html, useState, useEffect, useRef, useEvents, ErrorBox, Empty, when } from '../ui.js';

const PAGE = 50;
const LIVE_KINDS = ['registration', 'update', 'deregistration', 'expiry', 'sleeping', 'awake'];

// The state word of a device: offline | registered | sleeping | awake.
export function stateOf(d, live) {
  if (!d.registered) return 'offline';
  const l = live && live[d.endpoint];
  if (l === 'sleeping' || l === 'awake') return l;
  return 'registered';
}

const reg = (d) => d.registration || d;

export function Devices() {
  const [q, setQ] = useState('');
  const [rows, setRows] = useState([]);
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState({});
  const [flash, setFlash] = useState({});
  const seq = useRef(0);

  async function load(after, query) {
    const n = ++seq.current;
    setLoading(true);
    const p = new URLSearchParams({ limit: PAGE });
    if (after) p.set('after', after);
    if (query) p.set('q', query);
    try {
      const page = await api(`/api/devices?${p}`);
      if (n !== seq.current) return;
      setRows((old) => (after ? old.concat(page.devices) : page.devices));
      setNext(page.next);
      setError(null);
    } catch (e) { if (n === seq.current) setError(e); }
    if (n === seq.current) setLoading(false);
  }
  useEffect(() => { const t = setTimeout(() => load(null, q), q ? 250 : 0); return () => clearTimeout(t); }, [q]);

  useEvents((kind, ev) => {
    if (!ev.endpoint || !LIVE_KINDS.includes(kind)) return;
    if (kind === 'sleeping' || kind === 'awake') setLive((l) => ({ ...l, [ev.endpoint]: kind }));
    else setLive((l) => ({ ...l, [ev.endpoint]: undefined }));
    if (q && !ev.endpoint.startsWith(q)) return;
    api(`/api/devices/${enc(ev.endpoint)}`).then((d) => {
      setRows((old) => {
        const i = old.findIndex((x) => x.endpoint === d.endpoint);
        if (i >= 0) { const c = old.slice(); c[i] = d; return c; }
        return [d, ...old];
      });
      setFlash((f) => ({ ...f, [d.endpoint]: Date.now() }));
    }, () => { /* the next event or a reload retries */ });
  }, [q]);

  return html`<section aria-labelledby="devices-title">
    <div class="titlebar">
      <h1 id="devices-title">Devices</h1>
      <label class="search"><span class="sr-only">Search by name prefix</span>
        <input type="search" placeholder="Search endpoint name…" value=${q}
               onInput=${(e) => setQ(e.target.value)} id="device-search" /></label>
    </div>
    <${ErrorBox} error=${error} onRetry=${() => load(null, q)} />
    ${!error && !loading && rows.length === 0 && (q
      ? html`<${Empty} title=${`No device name starts with "${q}".`}>
               <p>Clear the search to see every device.</p></${Empty}>`
      : html`<${Empty} title="No device has registered yet.">
          <p>Point an LwM2M client at this server's CoAP port (5683, or 5684 for DTLS).
             To try it with a simulated device from the source tree:</p>
          <pre>node tests/npm/client.js --host 127.0.0.1 --port 5683 --endpoint dev-1 --object /3/0 --wait-signal</pre>
          <p>It appears here as soon as it registers.</p></${Empty}>`)}
    ${rows.length > 0 && html`<div class="table-wrap"><table class="devices">
      <thead><tr><th>Endpoint</th><th>State</th><th>LwM2M</th><th>Security</th>
        <th>Address</th><th>Last seen</th></tr></thead>
      <tbody>${rows.map((d) => {
        const st = stateOf(d, live);
        return html`<tr key=${d.endpoint} data-endpoint=${d.endpoint}
            class=${flash[d.endpoint] && Date.now() - flash[d.endpoint] < 2000 ? 'flash' : ''}>
          <td><a href=${`#/devices/${enc(d.endpoint)}`}>${d.endpoint}</a></td>
          <td><span class=${`badge state-${st}`}>${st}</span></td>
          <td>${reg(d).lwm2m || ''}</td><td>${reg(d).security || ''}</td>
          <td>${reg(d).address || ''}</td><td>${when(reg(d).last_seen)}</td></tr>`;
      })}</tbody></table></div>`}
    ${next && html`<button type="button" onClick=${() => load(next, q)} disabled=${loading}>More</button>`}
    ${loading && html`<p class="loading">Loading…</p>`}
  </section>`;
}
