// SPDX-License-Identifier: Apache-2.0
//
// static/pages/device.js -- one device: registration, credentials (never a
// secret; Revoke for admins, with a reason and a confirmation), a live plot
// per numeric telemetry path (uPlot: history from the telemetry API, then
// notifications and Send from the event stream), the object tree (the
// registration's object links named by the object models) with per-object
// Create, per-instance Read / Discover / Delete and per-resource Read /
// Write (typed input) / Execute (arguments) / Observe / Cancel /
// Write-Attributes, queued commands and bootstrap sessions.  Operations
// answer inline; a sleeping queue-mode device answers 202 (queued), shown
// as such.  Write buttons need the operator role.

import uPlot from '../vendor/uPlot.esm.js';
import { api, enc } from '../api.js';
import { html, useState, useEffect, useRef, useEvents, useLoad, useSession, can,
         ErrorBox, Empty, when } from '../ui.js';

const NUMERIC = ['integer', 'unsigned', 'float'];
const TELEMETRY_MAX = 1000;

const modelCache = new Map();
function model(id) {
  if (!modelCache.has(id))
    modelCache.set(id, api(`/api/models/${id}`).catch((e) => (e.status === 404 ? null : Promise.reject(e))));
  return modelCache.get(id);
}

// "/3/0" objects list -> [{id, instances: [0, ...]}]
function objectsOf(links) {
  const byId = new Map();
  for (const l of links || []) {
    const m = /^\/(\d+)(?:\/(\d+))?/.exec(l);
    if (!m) continue;
    const id = Number(m[1]);
    if (!byId.has(id)) byId.set(id, []);
    if (m[2] !== undefined) byId.get(id).push(Number(m[2]));
  }
  return [...byId].map(([id, instances]) => ({ id, instances })).sort((a, b) => a.id - b.id);
}

function show(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// Parses the text of a write input for a resource type.
function typedValue(type, text) {
  if (type === 'integer' || type === 'unsigned' || type === 'time') {
    if (!/^-?\d+$/.test(text.trim())) throw new Error(`${type}: a whole number, please`);
    return Number(text);
  }
  if (type === 'float') {
    const n = Number(text);
    if (text.trim() === '' || Number.isNaN(n)) throw new Error('float: a number, please');
    return n;
  }
  if (type === 'boolean') {
    if (!['true', 'false', '1', '0'].includes(text.trim())) throw new Error('boolean: true or false');
    return text.trim() === 'true' || text.trim() === '1';
  }
  return text;
}

function outcome(r) {
  if (r && r.state === 'queued') return `queued as command ${r.command} (the device sleeps)`;
  if (r && r.cancelled) return 'observation cancelled';
  if (r && r.observation) return `observing (observation ${r.observation})`;
  return r && r.coap ? `device answered ${r.coap}` : 'done';
}

function Resource({ ep, path, res, value, onValues, writable }) {
  const [mode, setMode] = useState(null);   // 'write' | 'exec'
  const [text, setText] = useState('');
  const [msg, setMsg] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ops = res.operations || '';
  const url = `/api/devices/${enc(ep)}${path}`;
  async function run(what, fn) {
    setBusy(true); setError(null); setMsg(null);
    try {
      const r = await fn();
      if (r && r.values) onValues(r.values);
      setMsg(`${what}: ${outcome(r)}`);
      setMode(null);
    } catch (e) { setError(e); }
    setBusy(false);
  }
  const [attrs, setAttrs] = useState({ pmin: '', pmax: '', gt: '', lt: '', st: '' });
  const read = () => run('Read', () => api(url));
  const observe = () => run('Observe', () => api(`${url}/observe`, { method: 'POST' }));
  const cancel = () => run('Cancel', () => api(`${url}/observe`, { method: 'DELETE' }));
  function write(e) {
    e.preventDefault();
    run('Write', () => api(url, { method: 'PUT',
      body: { values: [{ path, type: res.type, value: typedValue(res.type, text) }] } }));
  }
  function writeAttrs(e) {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(attrs)) if (v.trim() !== '') q.set(k, v.trim());
    run('Write-Attributes', () => api(`${url}/attributes?${q}`, { method: 'PUT' }));
  }
  function exec(e) {
    e.preventDefault();
    run('Execute', () => api(url, { method: 'POST', body: text, type: 'text/plain' }));
  }
  return html`<tr data-path=${path}>
    <td class="mono">${path}</td>
    <td>${res.name}${res.mandatory ? '' : html` <span class="muted">(optional)</span>`}</td>
    <td>${res.type || ''}${res.multiple ? '[]' : ''}</td>
    <td>${res.units || ''}</td>
    <td class="value mono">${show(value)}</td>
    <td class="ops">
      ${ops.includes('R') && html`<button type="button" onClick=${read} disabled=${busy}>Read</button>`}
      ${writable && ops.includes('W') && html`<button type="button" onClick=${() => setMode(mode === 'write' ? null : 'write')}>Write</button>`}
      ${writable && ops.includes('E') && html`<button type="button" onClick=${() => setMode(mode === 'exec' ? null : 'exec')}>Execute</button>`}
      ${writable && ops.includes('R') && html`<button type="button" onClick=${observe} disabled=${busy}>Observe</button>
        <button type="button" onClick=${cancel} disabled=${busy}>Cancel</button>
        <button type="button" onClick=${() => setMode(mode === 'attrs' ? null : 'attrs')}>Attributes</button>`}
      ${mode === 'write' && html`<form class="inline" onSubmit=${write}>
          <label class="sr-only" for=${`w${path}`}>Value for ${path}</label>
          ${res.type === 'boolean'
            ? html`<select id=${`w${path}`} value=${text} onChange=${(e) => setText(e.target.value)}>
                <option value="">choose…</option><option>true</option><option>false</option></select>`
            : html`<input id=${`w${path}`} value=${text} autofocus
                type=${NUMERIC.includes(res.type) ? 'number' : 'text'} step="any"
                onInput=${(e) => setText(e.target.value)} placeholder=${res.type} />`}
          <button type="submit" disabled=${busy}>Send</button></form>`}
      ${mode === 'attrs' && html`<form class="inline attrs" onSubmit=${writeAttrs}>
          ${Object.keys(attrs).map((k) => html`<label>${k}<input size="5" inputmode="decimal" value=${attrs[k]}
              name=${k} onInput=${(e) => setAttrs({ ...attrs, [k]: e.target.value })} /></label>`)}
          <button type="submit" disabled=${busy}>Set</button></form>`}
      ${mode === 'exec' && html`<form class="inline" onSubmit=${exec}>
          <label class="sr-only" for=${`x${path}`}>Arguments for ${path}</label>
          <input id=${`x${path}`} value=${text} onInput=${(e) => setText(e.target.value)}
                 placeholder="arguments, e.g. 0='x' (optional)" autofocus />
          <button type="submit" disabled=${busy}>Execute</button></form>`}
      ${msg && html`<div class="ok" role="status">${msg}</div>`}
      <${ErrorBox} error=${error} />
    </td></tr>`;
}

function Instance({ ep, obj, inst, m, values, onValues, writable, onDeleted }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [links, setLinks] = useState(null);
  const path = `/${obj}/${inst}`;
  async function discover() {
    setBusy(true); setError(null);
    try { setLinks((await api(`/api/devices/${enc(ep)}${path}/discover`)).links); }
    catch (e) { setError(e); }
    setBusy(false);
  }
  async function remove() {
    if (!confirm(`Delete the instance ${path} on ${ep}?`)) return;
    setBusy(true); setError(null);
    try { await api(`/api/devices/${enc(ep)}${path}`, { method: 'DELETE' }); onDeleted(inst); }
    catch (e) { setError(e); }
    setBusy(false);
  }
  async function readAll() {
    setBusy(true); setError(null);
    try { const r = await api(`/api/devices/${enc(ep)}${path}`); if (r && r.values) onValues(r.values); }
    catch (e) { setError(e); }
    setBusy(false);
  }
  const resources = m ? m.resources : [];
  return html`<div class="instance">
    <div class="titlebar"><h3 class="mono">${path}</h3>
      <span><button type="button" onClick=${readAll} disabled=${busy} id=${`read-${obj}-${inst}`}>Read instance</button>
        <button type="button" onClick=${discover} disabled=${busy} id=${`discover-${obj}-${inst}`}>Discover</button>
        ${writable && html` <button type="button" class="danger" onClick=${remove} disabled=${busy}
            id=${`delete-${obj}-${inst}`}>Delete</button>`}</span></div>
    <${ErrorBox} error=${error} />
    ${links && html`<pre class="links" aria-label="Discover answer">${links.split(',').join(',\n')}</pre>`}
    ${resources.length === 0
      ? html`<p class="muted">No object model for /${obj}: read the instance to see its raw values.</p>`
      : null}
    ${(resources.length > 0 || Object.keys(values).some((p) => p.startsWith(`${path}/`))) && html`
      <div class="table-wrap"><table class="resources">
        <thead><tr><th>Path</th><th>Name</th><th>Type</th><th>Units</th><th>Value</th><th>Operations</th></tr></thead>
        <tbody>
          ${resources.map((res) => {
            const rp = `${path}/${res.id}`;
            const v = res.multiple
              ? Object.entries(values).filter(([p]) => p.startsWith(`${rp}/`)).map(([p, x]) => `${p.split('/')[4]}: ${show(x)}`).join(', ')
              : values[rp];
            return html`<${Resource} key=${rp} ep=${ep} path=${rp} res=${res} value=${v}
                                     onValues=${onValues} writable=${writable} />`;
          })}
          ${resources.length === 0 && Object.entries(values).filter(([p]) => p.startsWith(`${path}/`)).map(([p, v]) =>
            html`<tr key=${p}><td class="mono">${p}</td><td></td><td></td><td></td><td class="value mono">${show(v)}</td><td></td></tr>`)}
        </tbody></table></div>`}
  </div>`;
}

function ObjectNode({ ep, obj, values, onValues, writable }) {
  const [m, setM] = useState(undefined);
  const [error, setError] = useState(null);
  const [instances, setInstances] = useState(obj.instances);
  const [msg, setMsg] = useState(null);
  useEffect(() => { model(obj.id).then(setM, setError); }, [obj.id]);
  useEffect(() => setInstances(obj.instances), [obj.instances.join()]);
  // Create sends no values: the device picks the id and defaults; the new
  // instance is listed at once (the registration learns it at the next Update).
  async function create() {
    setError(null); setMsg(null);
    try {
      const r = await api(`/api/devices/${enc(ep)}/${obj.id}`, { method: 'POST' });
      if (r && r.state === 'queued') { setMsg(`queued as command ${r.command}`); return; }
      const id = r && r.location ? Number(r.location.split('/')[2]) : NaN;
      if (!Number.isNaN(id)) setInstances((l) => (l.includes(id) ? l : l.concat([id]).sort((a, b) => a - b)));
      setMsg(`created ${r.location}`);
    } catch (e) { setError(e); }
  }
  return html`<details class="object" open=${obj.id !== 1 && obj.id !== 0}>
    <summary><span class="mono">/${obj.id}</span> ${m ? m.name : m === null ? 'unknown object' : '…'}
      <span class="muted">${instances.length} instance${instances.length === 1 ? '' : 's'}</span></summary>
    ${writable && m && m.multiple !== false && html`<p><button type="button" onClick=${create}
        id=${`create-${obj.id}`}>Create instance</button>${msg && html` <span class="ok" role="status">${msg}</span>`}</p>`}
    <${ErrorBox} error=${error} />
    ${instances.length === 0 && html`<p class="muted">No instance of /${obj.id} is listed.</p>`}
    ${instances.map((i) => html`<${Instance} key=${i} ep=${ep} obj=${obj.id} inst=${i} m=${m}
        values=${values} onValues=${onValues} writable=${writable}
        onDeleted=${(x) => { setInstances((l) => l.filter((y) => y !== x)); setMsg(`deleted /${obj.id}/${x}`); }} />`)}
  </details>`;
}

function Plot({ path, points }) {
  const el = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(280, Math.min(el.current.clientWidth || 600, 900));
    plot.current = new uPlot({ width, height: 180, scales: { x: { time: true } },
      series: [{}, { label: path, stroke: '#2563eb', width: 2, points: { show: true, size: 4 } }] },
      [[], []], el.current);
    return () => plot.current.destroy();
  }, [path]);
  useEffect(() => {
    plot.current.setData([points.map((p) => p[0]), points.map((p) => p[1])]);
  }, [points]);
  return html`<figure class="plot" data-path=${path}><figcaption class="mono">${path}
    <span class="muted count">${points.length} point${points.length === 1 ? '' : 's'}</span></figcaption>
    <div ref=${el}></div></figure>`;
}

function Telemetry({ ep }) {
  const [series, setSeries] = useState({});
  const [error, setError] = useState(null);
  const [loaded, setLoaded] = useState(false);
  function add(map, path, ts, value) {
    if (!value || !NUMERIC.includes(value.type)) return map;
    const x = Date.parse(ts) / 1000;
    if (Number.isNaN(x)) return map;
    const pts = (map[path] || []).concat([[x, Number(value.value)]]).slice(-TELEMETRY_MAX);
    return { ...map, [path]: pts };
  }
  useEffect(() => {
    api(`/api/devices/${enc(ep)}/telemetry?limit=${TELEMETRY_MAX}`).then((r) => {
      let m = {};
      for (const t of r.telemetry) m = add(m, t.path, t.ts, t.value);
      setSeries(m); setLoaded(true);
    }, (e) => { setError(e); setLoaded(true); });
  }, [ep]);
  useEvents((kind, ev) => {
    if (ev.endpoint !== ep || (kind !== 'notification' && kind !== 'send')) return;
    const vals = (ev.detail && ev.detail.values) || [];
    setSeries((m) => vals.reduce((acc, v) => add(acc, v.path, v.ts || ev.at, v), m));
  }, [ep]);
  const paths = Object.keys(series).sort();
  return html`<section aria-labelledby="tele-title"><h2 id="tele-title">Telemetry</h2>
    <${ErrorBox} error=${error} />
    ${loaded && !error && paths.length === 0 && html`<${Empty} title="No numeric telemetry yet.">
        <p>Observe a numeric resource above (or let the device Send): its values are plotted here live.</p></${Empty}>`}
    <div class="plots">${paths.map((p) => html`<${Plot} key=${p} path=${p} points=${series[p]} />`)}</div>
  </section>`;
}

function Commands({ ep }) {
  const [data, error, reload] = useLoad(() => api(`/api/devices/${enc(ep)}/commands?limit=50`), [ep]);
  useEvents((kind, ev) => { if (kind === 'command' && ev.endpoint === ep) reload(); }, [ep, reload]);
  const list = data ? data.commands || [] : [];
  return html`<section aria-labelledby="cmd-title"><h2 id="cmd-title">Commands</h2>
    <${ErrorBox} error=${error} onRetry=${reload} />
    ${data && list.length === 0 && html`<${Empty} title="No queued commands.">
      <p>Operations on a sleeping queue-mode device are queued here and delivered when it wakes.</p></${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table><thead><tr><th>#</th><th>Operation</th>
      <th>Path</th><th>State</th><th>Created</th><th>Updated</th><th>CoAP</th></tr></thead>
      <tbody>${list.map((c) => html`<tr key=${c.id}><td>${c.id}</td><td>${c.op}</td>
        <td class="mono">${c.path}</td><td><span class=${`badge cmd-${c.state}`}>${c.state}</span></td>
        <td>${when(c.created_at)}</td><td>${when(c.updated_at)}</td><td>${c.coap || ''}</td></tr>`)}
      </tbody></table></div>`}
  </section>`;
}

function Sessions({ ep }) {
  const [data, error, reload] = useLoad(() => api(`/api/devices/${enc(ep)}/bootstrap-sessions?limit=20`), [ep]);
  const list = data ? data.sessions || [] : [];
  return html`<section aria-labelledby="bs-title"><h2 id="bs-title">Bootstrap sessions</h2>
    <${ErrorBox} error=${error} onRetry=${reload} />
    ${data && list.length === 0 && html`<${Empty} title="This device has not bootstrapped here.">
      <p>Give it a configuration under Bootstrap; its sessions with lodestar-bootstrap show here.</p></${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table><thead><tr><th>Started</th><th>Finished</th>
      <th>Config</th><th>Trigger</th><th>Address</th><th>Outcome</th></tr></thead>
      <tbody>${list.map((s) => html`<tr key=${s.id}><td>${when(s.started_at)}</td><td>${when(s.finished_at)}</td>
        <td>${s.config || ''}</td><td>${s.trigger || ''}</td><td>${s.address || ''}</td>
        <td><span class=${`badge out-${s.outcome}`}>${s.outcome || 'running'}</span></td></tr>`)}
      </tbody></table></div>`}
  </section>`;
}

// Revoke (admin): asks for a reason and a confirmation; the server drops
// the device's sessions and registration and refuses its keys from then on.
function Revoke({ ep, onDone }) {
  const [scope, setScope] = useState('server');
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState(null);
  const [error, setError] = useState(null);
  async function revoke(e) {
    e.preventDefault();
    if (!confirm(`Revoke the ${scope} credentials of ${ep}? It is disconnected and must bootstrap again.`)) return;
    setError(null); setMsg(null);
    try {
      const r = await api(`/api/devices/${enc(ep)}/credentials/revoke`, { method: 'POST', body: { scope, reason } });
      setMsg(`Revoked ${r.revoked} credential${r.revoked === 1 ? '' : 's'}.`);
      setReason('');
      onDone();
    } catch (err) { setError(err); }
  }
  return html`<form class="revoke" onSubmit=${revoke}>
    <label for="rv-scope">Revoke</label>
    <select id="rv-scope" value=${scope} onChange=${(e) => setScope(e.target.value)}>
      <option value="server">server credentials</option><option value="bootstrap">bootstrap credentials</option>
      <option value="all">all credentials</option></select>
    <label class="sr-only" for="rv-reason">Reason</label>
    <input id="rv-reason" required placeholder="reason (kept in the audit log)" value=${reason}
           onInput=${(e) => setReason(e.target.value)} />
    <button type="submit" class="danger">Revoke…</button>
    ${msg && html`<span class="ok" role="status">${msg}</span>`}<${ErrorBox} error=${error} /></form>`;
}

export function Device({ endpoint }) {
  const { me } = useSession();
  const [d, error, reload] = useLoad(() => api(`/api/devices/${enc(endpoint)}`), [endpoint]);
  const [values, setValues] = useState({});
  const onValues = (list) => setValues((v) => {
    const c = { ...v };
    for (const x of list) c[x.path] = x.value;
    return c;
  });
  useEvents((kind, ev) => {
    if (ev.endpoint !== endpoint) return;
    if (['registration', 'update', 'deregistration', 'expiry'].includes(kind)) reload();
    if ((kind === 'notification' || kind === 'send') && ev.detail && ev.detail.values) onValues(ev.detail.values);
  }, [endpoint, reload]);
  const r = d && d.registration;
  return html`<div class="device">
    <p><a href="#/devices">← Devices</a></p>
    <h1 class="mono">${endpoint}</h1>
    <${ErrorBox} error=${error} onRetry=${reload} />
    ${d && html`<section aria-labelledby="reg-title"><h2 id="reg-title">Registration</h2>
      ${!r && html`<${Empty} title="Not registered now.">
        <p>The device is known but not registered; operations answer 404 until it registers again.</p></${Empty}>`}
      ${r && html`<dl class="facts">
        <dt>State</dt><dd><span class="badge state-registered">registered</span></dd>
        <dt>LwM2M</dt><dd>${r.lwm2m}</dd><dt>Security</dt><dd>${r.security}${r.identity ? ` (${r.identity})` : ''}</dd>
        <dt>Binding</dt><dd>${r.binding}${r.queue ? ' · queue mode' : ''}</dd>
        <dt>Lifetime</dt><dd>${r.lifetime} s</dd><dt>Address</dt><dd class="mono">${r.address}</dd>
        <dt>Registered</dt><dd>${when(r.registered_at)}</dd><dt>Last seen</dt><dd>${when(r.last_seen)}</dd>
        <dt>Registration id</dt><dd class="mono">${r.id}</dd></dl>`}
      ${d.credentials && d.credentials.length > 0 && html`<h3>Credentials</h3><div class="table-wrap"><table>
        <thead><tr><th>Scope</th><th>Mode</th><th>Identity</th><th>State</th><th>Created</th><th>Activated</th><th>Revoked</th></tr></thead>
        <tbody>${d.credentials.map((c) => html`<tr key=${c.id}><td>${c.scope}</td><td>${c.mode}</td>
          <td class="mono">${c.identity}</td><td>${c.state}</td><td>${when(c.created_at)}</td>
          <td>${when(c.activated_at)}</td><td>${when(c.revoked_at)}</td></tr>`)}</tbody></table></div>`}
      ${can(me, 'admin') && d.credentials && d.credentials.length > 0 && html`<${Revoke} ep=${endpoint} onDone=${reload} />`}
    </section>`}
    ${d && html`<${Telemetry} ep=${endpoint} />`}
    ${r && html`<section aria-labelledby="obj-title"><h2 id="obj-title">Objects</h2>
      ${!can(me, 'operator') && html`<p class="muted">Your token is a viewer: reads only.</p>`}
      ${objectsOf(r.objects).length === 0 && html`<${Empty} title="The device registered no objects." />`}
      ${objectsOf(r.objects).map((o) => html`<${ObjectNode} key=${o.id} ep=${endpoint} obj=${o}
          values=${values} onValues=${onValues} writable=${can(me, 'operator')} />`)}
    </section>`}
    ${d && html`<${Commands} ep=${endpoint} />`}
    ${d && html`<${Sessions} ep=${endpoint} />`}
  </div>`;
}
