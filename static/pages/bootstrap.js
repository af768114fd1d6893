// SPDX-License-Identifier: Apache-2.0
//
// static/pages/bootstrap.js -- bootstrap configurations (admin): the list,
// an editor with two views of one body (a form for the common parts: kind,
// endpoint or pattern, priority, the bootstrap sequence options, server
// accounts; and the whole JSON), delete, bulk import of a JSON list or CSV
// file, and the fleet's recent bootstrap sessions (GET /api/bootstrap/
// sessions, reloaded live on every 'bootstrap' event).
//
// The body is the editor's one state: the form edits members of it and
// keeps every member it has no field for; switching view keeps the data
// (JSON -> form parses the text first and stays in JSON when it does not
// parse).  The API validates and its message names the field
// ("servers[0].ssid: must be 1..65534"): the form shows it at that field
// when it has one, else above the form.  Keys come back masked
// ("********"); saving a masked key keeps it.

import { api, enc } from '../api.js';
import { html, useState, useLoad, useEvents, ErrorBox, Empty, when } from '../ui.js';

const TEMPLATE = {
  endpoint: 'dev-1',
  servers: [{ uri: 'coaps://127.0.0.1:5684', ssid: 101, security: 'psk', credentials: 'issue',
              lifetime: 300, binding: 'U' }],
};
const NEW_SERVER = { uri: 'coaps://127.0.0.1:5684', ssid: 101, security: 'psk', credentials: 'issue', lifetime: 300, binding: 'U' };

// The field an API message names: "servers[0].ssid: must be ..." ->
// "servers[0].ssid"; null when it names none.
export function fieldOf(message) {
  const m = /^([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): /.exec(message || '');
  return m ? m[1] : null;
}

// The fields the form shows (a message naming another goes above it).
const FORM_FIELDS = /^(kind|endpoint|match|priority|description|delete|discover|read|format|pack|allow_nosec|servers\[\d+\]\.(uri|ssid|security|credentials|lifetime|binding))$/;

const kindOf = (b) => (b.endpoint !== undefined ? 'device' : b.match !== undefined ? 'template' : 'default');

// "101" -> 101 (a number when it reads as one; else the text, which the API
// then refuses naming the field); "" -> undefined (the member is dropped).
function numberOrText(text) {
  const t = text.trim();
  if (t === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

function setMember(obj, key, value) {
  const c = { ...obj };
  if (value === undefined) delete c[key]; else c[key] = value;
  return c;
}

// One labelled input with the API's message under it when it names this
// field.  id: a DOM id derived from the field ("servers[0].ssid" ->
// "f-servers-0-ssid").
const fid = (field) => `f-${field.replace(/[[\].]+/g, '-').replace(/-$/, '')}`;

function Field({ field, id: given, label, error, hint, children }) {
  const bad = error && fieldOf(error.message) === field;
  const id = given || fid(field);
  return html`<div class=${`field${bad ? ' bad' : ''}`} data-field=${field}>
    <label for=${id}>${label}</label>
    ${children({ id, 'aria-invalid': bad ? 'true' : 'false',
                 'aria-describedby': bad ? `${id}-error` : undefined })}
    ${hint && html`<span class="muted small">${hint}</span>`}
    ${bad && html`<span class="field-error" role="alert" id=${`${id}-error`}>${error.message}</span>`}
  </div>`;
}

function TextField({ field, label, value, onChange, error, hint, placeholder, type = 'text' }) {
  return html`<${Field} field=${field} label=${label} error=${error} hint=${hint}>${(a) => html`
    <input ...${a} type=${type} value=${value ?? ''} placeholder=${placeholder}
           onInput=${(e) => onChange(e.target.value)} />`}</${Field}>`;
}

function SelectField({ field, label, value, options, onChange, error, hint }) {
  return html`<${Field} field=${field} label=${label} error=${error} hint=${hint}>${(a) => html`
    <select ...${a} value=${value} onChange=${(e) => onChange(e.target.value)}>
      ${options.map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select>`}</${Field}>`;
}

function CheckField({ field, label, checked, onChange, error, hint }) {
  return html`<${Field} field=${field} label=${label} error=${error} hint=${hint}>${(a) => html`
    <input ...${a} type="checkbox" checked=${checked} onChange=${(e) => onChange(e.target.checked)} />`}</${Field}>`;
}

function ServerForm({ i, s, error, onChange, onRemove }) {
  const p = `servers[${i}]`;
  const set = (k, v) => onChange(setMember(s, k, v));
  const creds = s.credentials === 'issue' ? 'issue' : s.credentials === undefined ? 'none' : 'configured';
  return html`<fieldset class="server" data-server=${i}>
    <legend>Server account ${i + 1}</legend>
    <div class="form-grid">
      <${TextField} field=${`${p}.uri`} label="URI" value=${s.uri} error=${error}
        placeholder="coaps://lwm2m.example.com:5684" onChange=${(v) => set('uri', v.trim() || undefined)} />
      <${TextField} field=${`${p}.ssid`} label="Short server id (SSID)" value=${s.ssid} error=${error}
        hint="1..65534, unique" onChange=${(v) => set('ssid', numberOrText(v))} />
      <${SelectField} field=${`${p}.security`} label="Security mode" value=${s.security || ''} error=${error}
        options=${[['', 'from the URI scheme'], ['psk', 'PSK'], ['rpk', 'RPK'], ['x509', 'X.509'], ['nosec', 'NoSec']]}
        onChange=${(v) => set('security', v || undefined)} />
      <${SelectField} field=${`${p}.credentials`} label="Credentials" value=${creds} error=${error}
        options=${[['issue', 'issue fresh keys on every bootstrap'], ['none', 'none'],
                   ...(creds === 'configured' ? [['configured', 'configured keys (edit in JSON)']] : [])]}
        onChange=${(v) => v !== 'configured' && set('credentials', v === 'issue' ? 'issue' : undefined)} />
      <${TextField} field=${`${p}.lifetime`} label="Lifetime (s)" value=${s.lifetime} error=${error}
        hint="default 86400" onChange=${(v) => set('lifetime', numberOrText(v))} />
      <${TextField} field=${`${p}.binding`} label="Binding" value=${s.binding} error=${error}
        hint="letters of UMHTSNQ; default U" onChange=${(v) => set('binding', v.trim() || undefined)} />
    </div>
    <button type="button" class="danger" onClick=${onRemove}>Remove server ${i + 1}</button>
  </fieldset>`;
}

// The form view of body: edits the common members, keeps the others.
function ConfigForm({ body, setBody, error }) {
  const kind = kindOf(body);
  const set = (k, v) => setBody(setMember(body, k, v));
  function setKind(k) {
    const b = { ...body };
    const key = b.endpoint ?? b.match ?? '';
    delete b.endpoint; delete b.match;
    if (k === 'device') b.endpoint = key;
    if (k === 'template') b.match = key || '*';
    if (k !== 'template') delete b.priority;
    setBody(b);
  }
  const servers = Array.isArray(body.servers) ? body.servers : [];
  const setServer = (i, s) => set('servers', servers.map((x, j) => (j === i ? s : x)));
  const read = body.read === true ? '/1' : body.read || '';
  return html`<div class="cfg-form">
    <div class="form-grid">
      <${SelectField} field="kind" label="Kind" value=${kind} error=${error}
        options=${[['device', 'device: one endpoint'], ['template', 'template: a name pattern'], ['default', 'default: everything else']]}
        onChange=${setKind} />
      ${kind === 'device' && html`<${TextField} field="endpoint" label="Endpoint name" value=${body.endpoint}
        error=${error} placeholder="urn:imei:350000000000001" onChange=${(v) => set('endpoint', v)} />`}
      ${kind === 'template' && html`<${TextField} field="match" label="Name pattern (glob)" value=${body.match}
        error=${error} placeholder="urn:imei:35*" hint="* any, ? one, [a-z] a set" onChange=${(v) => set('match', v)} />`}
      ${kind === 'template' && html`<${TextField} field="priority" label="Priority" value=${body.priority}
        error=${error} hint="lower first; default 100" onChange=${(v) => set('priority', numberOrText(v))} />`}
      <${TextField} field="description" label="Description" value=${body.description} error=${error}
        onChange=${(v) => set('description', v || undefined)} />
    </div>
    <fieldset><legend>Bootstrap sequence</legend><div class="form-grid">
      <${TextField} field="delete" label="Delete first (paths)" error=${error}
        value=${Array.isArray(body.delete) ? body.delete.join(', ') : body.delete}
        placeholder="/0, /1" hint="comma separated; empty = the default /0, /1"
        onChange=${(v) => set('delete', v.trim() ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined)} />
      <${CheckField} field="discover" label="BS-Discover / first" checked=${!!body.discover} error=${error}
        onChange=${(v) => set('discover', v || undefined)} />
      <${SelectField} field="read" label="BS-Read first" value=${read} error=${error}
        options=${[['', 'no'], ['/1', '/1 (servers)'], ['/2', '/2 (access control)']]}
        onChange=${(v) => set('read', v || undefined)} />
      <${SelectField} field="format" label="Write format" value=${body.format || ''} error=${error}
        options=${[['', 'TLV (default)'], ['senml-json', 'SenML JSON'], ['senml-cbor', 'SenML CBOR'], ['lwm2m-cbor', 'LwM2M CBOR'], ['tlv', 'TLV']]}
        onChange=${(v) => set('format', v || undefined)} />
      <${CheckField} field="pack" label="Answer GET /bspack" checked=${body.pack !== false} error=${error}
        onChange=${(v) => set('pack', v ? undefined : false)} />
      <${CheckField} field="allow_nosec" label="Serve NoSec requests" checked=${body.allow_nosec !== false} error=${error}
        hint="turn off when devices have a bootstrap account" onChange=${(v) => set('allow_nosec', v ? undefined : false)} />
    </div></fieldset>
    ${servers.map((s, i) => html`<${ServerForm} key=${i} i=${i} s=${s} error=${error}
        onChange=${(x) => setServer(i, x)}
        onRemove=${() => set('servers', servers.length > 1 ? servers.filter((_, j) => j !== i) : undefined)} />`)}
    ${servers.length === 0 && html`<p class="muted">No server account: the device gets none from this configuration.</p>`}
    <p><button type="button" id="cfg-add-server"
        onClick=${() => set('servers', servers.concat([{ ...NEW_SERVER, ssid: 101 + servers.length }]))}>Add a server account</button></p>
    ${Object.keys(body).some((k) => ['acl', 'instances', 'bootstrap_account', 'ack_timeout_ms', 'max_retransmit', 'session_timeout_s'].includes(k))
      && html`<p class="muted">This configuration has members the form does not show (${Object.keys(body).filter((k) =>
        ['acl', 'instances', 'bootstrap_account', 'ack_timeout_ms', 'max_retransmit', 'session_timeout_s'].includes(k)).join(', ')}): they are kept; edit them in JSON.</p>`}
  </div>`;
}

function Editor({ name: initialName, body: initialBody, onSaved, onCancel }) {
  const [name, setName] = useState(initialName || '');
  const [body, setBody] = useState(initialBody);
  const [view, setView] = useState('form');
  const [text, setText] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // The body as it stands in the current view; null (and the error shown)
  // when the JSON text does not parse.
  function current() {
    if (view === 'form') return body;
    try { return JSON.parse(text); } catch (err) {
      setError({ code: 'bad_json', status: 0, message: `json: the body is not JSON: ${err.message}` });
      return null;
    }
  }
  function switchTo(v) {
    if (v === view) return;
    if (v === 'json') { setText(JSON.stringify(body, null, 2)); setView('json'); return; }
    const b = current();
    if (!b) return;
    if (typeof b !== 'object' || Array.isArray(b)) {
      setError({ message: 'json: the body must be an object ({...})' });
      return;
    }
    setError(null); setBody(b); setView('form');
  }
  async function save(e) {
    e.preventDefault();
    setError(null);
    const doc = current();
    if (!doc) return;
    if (!name.trim()) { setError({ message: 'name: give the configuration a name.' }); return; }
    setBusy(true);
    try {
      await api(`/api/bootstrap/configs/${enc(name.trim())}`, { method: 'PUT', body: doc });
      setBusy(false);
      onSaved(name.trim());
      return;
    } catch (err) { setError(err); }
    setBusy(false);
  }
  const field = error && fieldOf(error.message);
  // A message for a field the form shows goes there; any other above.
  const atField = view === 'form' && field && FORM_FIELDS.test(field);
  return html`<form class="editor" onSubmit=${save} aria-labelledby="editor-title" noValidate>
    <h2 id="editor-title">${initialName ? `Edit ${initialName}` : 'New configuration'}</h2>
    <${Field} field="name" id="cfg-name" label="Name" error=${error}>${(a) => html`<input ...${a} value=${name}
        readOnly=${!!initialName} onInput=${(e) => setName(e.target.value)}
        placeholder="dev-1, a template name, or default" />`}</${Field}>
    <div class="tabs" role="group" aria-label="Edit as">
      <button type="button" id="cfg-tab-form" aria-pressed=${view === 'form' ? 'true' : 'false'}
              onClick=${() => switchTo('form')}>Form</button>
      <button type="button" id="cfg-tab-json" aria-pressed=${view === 'json' ? 'true' : 'false'}
              onClick=${() => switchTo('json')}>JSON</button>
    </div>
    <div id="cfg-error">${error && !atField && field !== 'name' && html`<${ErrorBox} error=${error} />`}</div>
    ${view === 'form'
      ? html`<${ConfigForm} body=${body} setBody=${setBody} error=${error} />`
      : html`<label for="cfg-body">Configuration (JSON; see docs/bootstrap.md)</label>
        <textarea id="cfg-body" rows="18" spellcheck="false" class=${error ? 'invalid' : ''}
              aria-invalid=${error ? 'true' : 'false'} aria-describedby="cfg-error"
              value=${text} onInput=${(e) => setText(e.target.value)}></textarea>`}
    <div class="actions"><button type="submit" disabled=${busy}>Save</button>
      <button type="button" onClick=${onCancel}>Cancel</button></div>
  </form>`;
}

function Import({ onDone }) {
  const [msg, setMsg] = useState(null);
  const [error, setError] = useState(null);
  async function upload(e) {
    const f = e.target.files[0];
    if (!f) return;
    setMsg(null); setError(null);
    const csv = /\.csv$/i.test(f.name) || f.type === 'text/csv';
    try {
      const r = await api('/api/bootstrap/configs:import', { method: 'POST', body: f,
        type: csv ? 'text/csv' : 'application/json' });
      setMsg(`Imported ${r.imported} configuration${r.imported === 1 ? '' : 's'} from ${f.name}.`);
      onDone();
    } catch (err) { setError(err); }
    e.target.value = '';
  }
  return html`<section class="import" aria-labelledby="imp-title">
    <h2 id="imp-title">Bulk import</h2>
    <label for="cfg-import">A JSON list of configurations or a CSV file (one transaction: all or nothing;
      formats in docs/bootstrap.md)</label>
    <input id="cfg-import" type="file" accept=".json,.csv,application/json,text/csv" onChange=${upload} />
    ${msg && html`<p class="ok" role="status">${msg}</p>`}<${ErrorBox} error=${error} /></section>`;
}

// The fleet's last 50 bootstrap sessions, newest first, reloaded on every
// 'bootstrap' event (a device's whole history is on its page); a filter by
// outcome finds the failures.
function RecentSessions() {
  const [outcome, setOutcome] = useState('');
  const [data, error, reload] = useLoad(
    () => api(`/api/bootstrap/sessions?limit=50${outcome ? `&outcome=${outcome}` : ''}`), [outcome]);
  useEvents((kind) => kind === 'bootstrap' && reload(), [outcome]);
  const list = data ? data.sessions : [];
  return html`<section aria-labelledby="bss-title"><h2 id="bss-title">Recent bootstrap sessions</h2>
    <label for="bss-outcome">Outcome </label>
    <select id="bss-outcome" value=${outcome} onChange=${(e) => setOutcome(e.target.value)}>
      <option value="">any</option><option value="success">success</option>
      <option value="failed">failed</option><option value="timeout">timeout</option>
      <option value="refused">refused</option></select>
    <${ErrorBox} error=${error} />
    ${data && list.length === 0 && html`<${Empty} title=${outcome ? `No ${outcome} bootstrap session yet.` : 'No bootstrap session yet.'}>
      <p>Sessions appear here live as devices bootstrap with lodestar-bootstrap (e.g.
        <code>lodestar-sim --scenario bootstrap</code>); a device's history is on its page.</p></${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table id="bs-sessions"><thead><tr><th>When</th><th>Endpoint</th>
      <th>Config</th><th>Address</th><th>Duration</th><th>Outcome</th></tr></thead>
      <tbody>${list.map((d) => html`<tr key=${d.id} data-endpoint=${d.endpoint}>
        <td>${when(d.started_at)}</td><td><a href=${`#/devices/${enc(d.endpoint)}`}>${d.endpoint}</a></td>
        <td>${d.config || ''}</td><td class="mono">${d.address || ''}</td>
        <td>${d.duration_ms !== undefined ? `${d.duration_ms} ms` : ''}</td>
        <td><span class=${`badge out-${d.outcome}`}>${d.outcome || ''}</span>${d.cause ? html` <span class="muted small">${typeof d.cause === 'string' ? d.cause : JSON.stringify(d.cause)}</span>` : ''}</td></tr>`)}
      </tbody></table></div>`}
  </section>`;
}

export function Bootstrap() {
  const [data, error, reload] = useLoad(() => api('/api/bootstrap/configs?limit=1000'), []);
  const [editing, setEditing] = useState(null);    // {name, body} | {body} (new)
  const [opError, setOpError] = useState(null);
  async function edit(name) {
    setOpError(null);
    try { const c = await api(`/api/bootstrap/configs/${enc(name)}`); setEditing({ name, body: c.body }); }
    catch (e) { setOpError(e); }
  }
  async function remove(name) {
    if (!confirm(`Delete the bootstrap configuration "${name}"?`)) return;
    setOpError(null);
    try { await api(`/api/bootstrap/configs/${enc(name)}`, { method: 'DELETE' }); reload(); }
    catch (e) { setOpError(e); }
  }
  const list = data ? data.configs : [];
  return html`<section aria-labelledby="bs-title">
    <div class="titlebar"><h1 id="bs-title">Bootstrap configurations</h1>
      <button type="button" id="cfg-new" onClick=${() => setEditing({ body: TEMPLATE })}>New configuration</button></div>
    <${ErrorBox} error=${error || opError} onRetry=${reload} />
    ${editing && html`<${Editor} key=${editing.name || 'new'} name=${editing.name} body=${editing.body}
        onSaved=${() => { setEditing(null); reload(); }} onCancel=${() => setEditing(null)} />`}
    ${data && list.length === 0 && html`<${Empty} title="No bootstrap configuration yet.">
      <p>Create one (a device's own, a template with a name pattern, or "default"), or import a file below.</p></${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>Kind</th>
      <th>Endpoint / pattern</th><th>Priority</th><th>Updated</th><th></th></tr></thead>
      <tbody>${list.map((c) => html`<tr key=${c.name} data-name=${c.name}><td>${c.name}</td><td>${c.kind}</td>
        <td class="mono">${c.endpoint || c.match || ''}</td><td>${c.priority ?? ''}</td><td>${when(c.updated_at)}</td>
        <td class="ops"><button type="button" onClick=${() => edit(c.name)}>Edit</button>
          <button type="button" class="danger" onClick=${() => remove(c.name)}>Delete</button></td></tr>`)}
      </tbody></table></div>`}
    <${Import} onDone=${reload} />
    <${RecentSessions} />
  </section>`;
}
