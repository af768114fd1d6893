// SPDX-License-Identifier: Apache-2.0
//
// static/pages/device.js -- one device: registration, credentials (state
// and dates, never a secret; Rotate = server-initiated bootstrap for
// operators, followed live; Revoke for admins; both ask for a reason and a
// confirmation), composite operations on resources ticked in the tree
// (Read-/Observe-/Write-Composite), Create with typed values, a live plot
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

function Resource({ ep, path, res, value, onValues, writable, selected, onSelect }) {
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
    <td class="mono">${writable && html`<input type="checkbox" class="sel" id=${`sel${path}`}
        aria-label=${`Select ${path} for a composite operation`} checked=${selected}
        onChange=${(e) => onSelect(path, res, e.target.checked)} /> `}${path}</td>
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

function Instance({ ep, obj, inst, m, values, onValues, writable, onDeleted, selection }) {
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
                                     onValues=${onValues} writable=${writable}
                                     selected=${selection.has(rp)} onSelect=${selection.set} />`;
          })}
          ${resources.length === 0 && Object.entries(values).filter(([p]) => p.startsWith(`${path}/`)).map(([p, v]) =>
            html`<tr key=${p}><td class="mono">${p}</td><td></td><td></td><td></td><td class="value mono">${show(v)}</td><td></td></tr>`)}
        </tbody></table></div>`}
  </div>`;
}

// Typed inputs for values of resources (create-with-values, Write-
// Composite): [{path, res}] -> a form; empty inputs are left out.
function ValueInputs({ items, texts, setTexts, idPrefix }) {
  return items.map(({ path, res }) => {
    const id = `${idPrefix}${path}`;
    const on = (e) => setTexts({ ...texts, [path]: e.target.value });
    return html`<label class="field" key=${path} data-path=${path}>
      <span>${res ? `${res.name} ` : ''}<span class="mono">${path}</span> <span class="muted small">${res ? res.type : ''}${res && res.units ? ` · ${res.units}` : ''}</span></span>
      ${res && res.type === 'boolean'
        ? html`<select id=${id} value=${texts[path] || ''} onChange=${on}>
            <option value="">(leave out)</option><option>true</option><option>false</option></select>`
        : html`<input id=${id} value=${texts[path] || ''} onInput=${on} step="any"
            type=${res && NUMERIC.includes(res.type) ? 'number' : 'text'} placeholder=${res ? res.type : 'value'} />`}
    </label>`;
  });
}

// [{path, res}] + texts -> API values (throws naming the path on a bad one).
function valuesOf(items, texts) {
  const out = [];
  for (const { path, res } of items) {
    const t = texts[path];
    if (t === undefined || t === '') continue;
    try { out.push({ path, type: res ? res.type : undefined, value: typedValue(res ? res.type : 'string', t) }); }
    catch (e) { throw new Error(`${path}: ${e.message}`); }
  }
  return out;
}

const CREATE_TYPES = ['string', 'integer', 'unsigned', 'float', 'boolean', 'time'];

// Create an instance, with values for its writable resources (typed by
// the object model; empty ones left for the device's defaults).
function CreateForm({ ep, obj, m, instances, onCreated, onCancel }) {
  const next = instances.length ? Math.max(...instances) + 1 : 0;
  const [inst, setInst] = useState(String(next));
  const [texts, setTexts] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const items = m.resources.filter((r) => (r.operations || '').includes('W') && !r.multiple &&
                                          CREATE_TYPES.includes(r.type))
    .map((res) => ({ res, path: `/${obj}/${inst}/${res.id}` }));
  async function submit(e) {
    e.preventDefault();
    setError(null);
    let values;
    try { values = valuesOf(items, texts); } catch (err) { setError({ message: err.message }); return; }
    if (!/^\d+$/.test(inst.trim())) { setError({ message: 'instance: a whole number, please' }); return; }
    setBusy(true);
    try {
      const r = await api(`/api/devices/${enc(ep)}/${obj}`, { method: 'POST',
        body: values.length ? { values } : undefined });
      onCreated(r);
    } catch (err) { setError(err); }
    setBusy(false);
  }
  // Typed texts are kept by resource id when the instance id changes.
  function changeInst(v) {
    const t = {};
    for (const [p, x] of Object.entries(texts)) t[`/${obj}/${v}/${p.split('/')[3]}`] = x;
    setInst(v); setTexts(t);
  }
  return html`<form class="editor create-form" id=${`create-form-${obj}`} onSubmit=${submit}
      aria-label=${`Create an instance of /${obj}`}>
    <h3>New instance of /${obj} ${m.name}</h3>
    <label class="field"><span>Instance id</span>
      <input id=${`create-${obj}-inst`} value=${inst} inputmode="numeric" onInput=${(e) => changeInst(e.target.value)} /></label>
    ${items.length === 0 && html`<p class="muted">The model lists no writable single resource: the instance is created with the device's defaults.</p>`}
    <div class="form-grid"><${ValueInputs} items=${items} texts=${texts} setTexts=${setTexts} idPrefix="cv" /></div>
    <${ErrorBox} error=${error} />
    <div class="actions"><button type="submit" disabled=${busy}>Create</button>
      <button type="button" onClick=${onCancel}>Cancel</button></div>
  </form>`;
}

function ObjectNode({ ep, obj, values, onValues, writable, selection }) {
  const [m, setM] = useState(undefined);
  const [error, setError] = useState(null);
  const [instances, setInstances] = useState(obj.instances);
  const [msg, setMsg] = useState(null);
  const [creating, setCreating] = useState(false);
  useEffect(() => { model(obj.id).then(setM, setError); }, [obj.id]);
  useEffect(() => setInstances(obj.instances), [obj.instances.join()]);
  // The new instance is listed at once (the registration learns it at the
  // next Update).
  function created(r) {
    setCreating(false);
    if (r && r.state === 'queued') { setMsg(`queued as command ${r.command}`); return; }
    const id = r && r.location ? Number(r.location.split('/')[2]) : NaN;
    if (!Number.isNaN(id)) setInstances((l) => (l.includes(id) ? l : l.concat([id]).sort((a, b) => a - b)));
    setMsg(`created ${r.location}`);
  }
  // Create without values: the device picks the id and the defaults.
  async function create() {
    setError(null); setMsg(null);
    try { created(await api(`/api/devices/${enc(ep)}/${obj.id}`, { method: 'POST' })); }
    catch (e) { setError(e); }
  }
  return html`<details class="object" open=${obj.id !== 1 && obj.id !== 0}>
    <summary><span class="mono">/${obj.id}</span> ${m ? m.name : m === null ? 'unknown object' : '…'}
      <span class="muted">${instances.length} instance${instances.length === 1 ? '' : 's'}</span></summary>
    ${writable && m && m.multiple !== false && html`<p><button type="button" onClick=${create}
        id=${`create-${obj.id}`}>Create instance</button>
      <button type="button" onClick=${() => { setMsg(null); setCreating(!creating); }}
        id=${`create-values-${obj.id}`} aria-expanded=${creating}>Create with values…</button>
      ${msg && html` <span class="ok" role="status">${msg}</span>`}</p>`}
    ${creating && html`<${CreateForm} ep=${ep} obj=${obj.id} m=${m} instances=${instances}
        onCreated=${created} onCancel=${() => setCreating(false)} />`}
    <${ErrorBox} error=${error} />
    ${instances.length === 0 && html`<p class="muted">No instance of /${obj.id} is listed.</p>`}
    ${instances.map((i) => html`<${Instance} key=${i} ep=${ep} obj=${obj.id} inst=${i} m=${m}
        values=${values} onValues=${onValues} writable=${writable} selection=${selection}
        onDeleted=${(x) => { setInstances((l) => l.filter((y) => y !== x)); setMsg(`deleted /${obj.id}/${x}`); }} />`)}
  </details>`;
}

// Composite operations on the resources selected in the tree (or typed):
// Read-, Observe-, Cancel-Observe- and Write-Composite (LwM2M 1.1+).
function Composite({ ep, selected, onSelect, onValues, version }) {
  const [path, setPath] = useState('');
  const [texts, setTexts] = useState({});
  const [writing, setWriting] = useState(false);
  const [msg, setMsg] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const paths = [...selected.keys()];
  async function run(what, body) {
    setBusy(true); setError(null); setMsg(null); setResult(null);
    try {
      const r = await api(`/api/devices/${enc(ep)}/composite`, { method: 'POST', body });
      if (r && r.values) { onValues(r.values); setResult(r.values); }
      setMsg(`${what}: ${outcome(r)}`);
      setWriting(false);
    } catch (e) { setError(e); }
    setBusy(false);
  }
  // A typed path gets its resource's model (type, operations) when known.
  async function add(e) {
    e.preventDefault();
    const p = path.trim();
    if (!/^\/\d+(\/\d+){0,3}$/.test(p)) { setError({ message: `path: "${p}" is not /o, /o/i, /o/i/r or /o/i/r/ri` }); return; }
    setError(null); setPath('');
    const ids = p.split('/').slice(1).map(Number);
    let res = null;
    if (ids.length >= 3) {
      const m = await model(ids[0]).catch(() => null);
      res = (m && m.resources.find((r) => r.id === ids[2])) || null;
    }
    onSelect(p, res, true);
  }
  function write(e) {
    e.preventDefault();
    let values;
    try { values = valuesOf(paths.map((p) => ({ path: p, res: selected.get(p) })), texts); }
    catch (err) { setError({ message: err.message }); return; }
    if (!values.length) { setError({ message: 'values: give at least one value' }); return; }
    run('Write-Composite', { op: 'write', values });
  }
  const writable = paths.filter((p) => { const r = selected.get(p); return !r || (r.operations || '').includes('W'); });
  return html`<section aria-labelledby="comp-title" id="composite"><h2 id="comp-title">Composite operations</h2>
    ${version === '1.0' && html`<p class="muted">This device speaks LwM2M 1.0: composite operations need 1.1 or later.</p>`}
    ${paths.length === 0 && html`<${Empty} title="No resource selected.">
      <p>Tick the box in front of resources in the object tree below (or type a path here), then read,
        observe or write them in one request.</p></${Empty}>`}
    <form class="row" onSubmit=${add}><label for="comp-path">Add a path</label>
      <input id="comp-path" class="mono" placeholder="/3/0/9" value=${path} onInput=${(e) => setPath(e.target.value)} />
      <button type="submit">Add</button></form>
    ${paths.length > 0 && html`<ul class="chips" aria-label="Selected paths">${paths.map((p) => html`<li key=${p}>
        <span class="mono">${p}</span> <button type="button" aria-label=${`Remove ${p}`}
          onClick=${() => onSelect(p, null, false)}>×</button></li>`)}</ul>
      <p class="actions">
        <button type="button" id="comp-read" disabled=${busy} onClick=${() => run('Read-Composite', { op: 'read', paths })}>Read-Composite</button>
        <button type="button" id="comp-observe" disabled=${busy} onClick=${() => run('Observe-Composite', { op: 'observe', paths })}>Observe-Composite</button>
        <button type="button" id="comp-cancel" disabled=${busy} onClick=${() => run('Cancel-Observe-Composite', { op: 'cancel_observe', paths })}>Cancel observe</button>
        <button type="button" id="comp-write" aria-expanded=${writing} onClick=${() => setWriting(!writing)}>Write-Composite…</button>
        <button type="button" onClick=${() => paths.forEach((p) => onSelect(p, null, false))}>Clear</button></p>`}
    ${writing && html`<form class="editor composite-values" onSubmit=${write} aria-label="Write-Composite values">
      ${writable.length === 0 && html`<p class="muted">None of the selected resources is writable.</p>`}
      <div class="form-grid"><${ValueInputs} items=${writable.map((p) => ({ path: p, res: selected.get(p) }))}
          texts=${texts} setTexts=${setTexts} idPrefix="wc" /></div>
      <div class="actions"><button type="submit" disabled=${busy}>Write</button></div></form>`}
    ${msg && html`<p class="ok" role="status" id="comp-msg">${msg}</p>`}
    <${ErrorBox} error=${error} />
    ${result && html`<div class="table-wrap"><table id="comp-result"><thead><tr><th>Path</th><th>Type</th><th>Value</th></tr></thead>
      <tbody>${result.map((v) => html`<tr key=${v.path} data-path=${v.path}><td class="mono">${v.path}</td><td>${v.type || ''}</td>
        <td class="value mono">${show(v.value)}</td></tr>`)}</tbody></table></div>`}
  </section>`;
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
  useEvents((kind, ev) => { if (kind === 'bootstrap' && ev.endpoint === ep) reload(); }, [ep, reload]);
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
    <label class="sr-only" for="rv-reason">Reason for revoking</label>
    <input id="rv-reason" required placeholder="reason (kept in the audit log)" value=${reason}
           onInput=${(e) => setReason(e.target.value)} />
    <button type="submit" class="danger">Revoke…</button>
    ${msg && html`<span class="ok" role="status">${msg}</span>`}<${ErrorBox} error=${error} /></form>`;
}

// Rotate (operator): server-initiated bootstrap; asks for a reason and a
// confirmation, then follows the workflow live (its 'workflow' events).
function Rotate({ ep, registered }) {
  const [reason, setReason] = useState('');
  const [wf, setWf] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEvents((kind, ev) => {
    if (kind === 'workflow' && wf && ev.detail && ev.detail.workflow === wf.id)
      setWf((w) => ({ ...w, state: ev.detail.state, step: ev.detail.step, cause: ev.detail.cause }));
  }, [wf && wf.id]);
  async function rotate(e) {
    e.preventDefault();
    if (!confirm(`Rotate the keys of ${ep}? It is told to bootstrap again and gets fresh credentials.`)) return;
    setError(null); setBusy(true);
    try {
      const r = await api(`/api/devices/${enc(ep)}/bootstrap`, { method: 'POST', body: { reason } });
      setWf({ id: r.workflow, state: r.state });
      setReason('');
      api(`/api/workflows/${r.workflow}`).then((w) => setWf((x) => (x && x.id === w.id && rank(w.state) > rank(x.state) ? { ...x, ...w } : x)), () => {});
    } catch (err) { setError(err); }
    setBusy(false);
  }
  return html`<form class="rotate" onSubmit=${rotate}>
    <label for="rot-reason">Rotate keys</label>
    <input id="rot-reason" required placeholder="reason (kept in the audit log)" value=${reason}
           onInput=${(e) => setReason(e.target.value)} />
    <button type="submit" disabled=${busy || !registered}
            title=${registered ? 'server-initiated bootstrap' : 'the device must be registered'}>Rotate…</button>
    ${wf && html`<span role="status" id="rot-status">workflow <a href="#/workflows">${wf.id}</a>:
      <span class=${`badge wf-${wf.state}`}>${wf.state}</span>${wf.cause ? ` (${wf.step}: ${wf.cause})` : ''}</span>`}
    <${ErrorBox} error=${error} /></form>`;
}

const WF_ORDER = ['pending', 'triggered', 'bootstrap_started', 'bootstrap_finished', 're_registered', 'failed'];
export const rank = (st) => WF_ORDER.indexOf(st);

function Credentials({ d, ep, me, reload }) {
  const list = d.credentials || [];
  return html`<section aria-labelledby="cred-title"><h2 id="cred-title">Credentials</h2>
    ${list.length === 0 && html`<${Empty} title="No credential on record.">
      <p>Credentials appear when a factory batch or lodestar-bootstrap issues them (keys are never shown here).</p></${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table id="cred-table">
      <thead><tr><th>Scope</th><th>Mode</th><th>Identity</th><th>Server</th><th>State</th><th>Issued</th><th>Activated</th><th>Revoked / expires</th></tr></thead>
      <tbody>${list.map((c) => html`<tr key=${c.id} data-cred=${c.id} data-state=${c.state}><td>${c.scope}</td><td>${c.mode}</td>
        <td class="mono">${c.identity}</td><td class="mono small">${c.server_uri || ''}${c.ssid ? ` (ssid ${c.ssid})` : ''}</td>
        <td><span class=${`badge cred-${c.state}`}>${c.state}</span></td><td>${when(c.created_at)}</td>
        <td>${when(c.activated_at)}</td><td>${c.revoked_at ? when(c.revoked_at) : c.state === 'issued' && c.expires_at ? `expires ${when(c.expires_at)} unless used` : ''}</td></tr>`)}</tbody></table></div>`}
    <div class="cred-actions">
      ${can(me, 'operator') && html`<${Rotate} ep=${ep} registered=${!!d.registration} />`}
      ${can(me, 'admin') && list.length > 0 && html`<${Revoke} ep=${ep} onDone=${reload} />`}
    </div>
  </section>`;
}

export function Device({ endpoint }) {
  const { me } = useSession();
  const [d, error, reload] = useLoad(() => api(`/api/devices/${enc(endpoint)}`), [endpoint]);
  const [values, setValues] = useState({});
  const [selected, setSelected] = useState(new Map());   // path -> resource model (or null)
  const onValues = (list) => setValues((v) => {
    const c = { ...v };
    for (const x of list) c[x.path] = x.value;
    return c;
  });
  const selection = {
    has: (p) => selected.has(p),
    set: (p, res, on) => setSelected((m) => {
      const c = new Map(m);
      if (on) c.set(p, res || c.get(p) || null); else c.delete(p);
      return c;
    }),
  };
  useEvents((kind, ev) => {
    if (ev.endpoint !== endpoint) return;
    if (['registration', 'update', 'deregistration', 'expiry', 'bootstrap'].includes(kind)) reload();
    if ((kind === 'notification' || kind === 'send') && ev.detail && ev.detail.values) onValues(ev.detail.values);
  }, [endpoint, reload]);
  const r = d && d.registration;
  return html`<div class="device">
    <p><a href="#/devices">← Devices</a></p>
    <h1 class="mono">${endpoint}</h1>
    <${ErrorBox} error=${error} onRetry=${reload} />
    ${d && html`<section aria-labelledby="reg-title"><h2 id="reg-title">Registration</h2>
      ${!r && html`<div id="reg-state" data-state="offline"><${Empty} title="Not registered now.">
        <p>The device is known but not registered; operations answer 404 until it registers again
          (a device whose keys were revoked bootstraps again by itself).</p></${Empty}></div>`}
      ${r && html`<dl class="facts" id="reg-state" data-state="registered">
        <dt>State</dt><dd><span class="badge state-registered">registered</span></dd>
        <dt>LwM2M</dt><dd>${r.lwm2m}</dd><dt>Security</dt><dd>${r.security}${r.identity ? ` (${r.identity})` : ''}</dd>
        <dt>Binding</dt><dd>${r.binding}${r.queue ? ' · queue mode' : ''}</dd>
        <dt>Lifetime</dt><dd>${r.lifetime} s</dd><dt>Address</dt><dd class="mono">${r.address}</dd>
        <dt>Registered</dt><dd>${when(r.registered_at)}</dd><dt>Last seen</dt><dd>${when(r.last_seen)}</dd>
        <dt>Registration id</dt><dd class="mono">${r.id}</dd></dl>`}
    </section>`}
    ${d && html`<${Credentials} d=${d} ep=${endpoint} me=${me} reload=${reload} />`}
    ${d && html`<${Telemetry} ep=${endpoint} />`}
    ${r && can(me, 'operator') && html`<${Composite} ep=${endpoint} selected=${selected} onSelect=${selection.set}
        onValues=${onValues} version=${r.lwm2m} />`}
    ${r && html`<section aria-labelledby="obj-title"><h2 id="obj-title">Objects</h2>
      ${!can(me, 'operator') && html`<p class="muted">Your token is a viewer: reads only.</p>`}
      ${objectsOf(r.objects).length === 0 && html`<${Empty} title="The device registered no objects." />`}
      ${objectsOf(r.objects).map((o) => html`<${ObjectNode} key=${o.id} ep=${endpoint} obj=${o}
          values=${values} onValues=${onValues} writable=${can(me, 'operator')} selection=${selection} />`)}
    </section>`}
    ${d && html`<${Commands} ep=${endpoint} />`}
    ${d && html`<${Sessions} ep=${endpoint} />`}
  </div>`;
}
