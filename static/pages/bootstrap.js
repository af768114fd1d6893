// SPDX-License-Identifier: Apache-2.0
//
// static/pages/bootstrap.js -- bootstrap configurations (admin): the list,
// a JSON editor (the API validates: its message, which names the field, is
// shown above the editor), delete, and bulk import of a JSON list or CSV
// file.  Keys come back masked ("********"); saving a masked key keeps it.

import { api, enc } from '../api.js';
import { html, useState, useLoad, ErrorBox, Empty, when } from '../ui.js';

const TEMPLATE = {
  endpoint: 'dev-1',
  servers: [{ uri: 'coap://127.0.0.1:5683', ssid: 101, security: 'nosec', lifetime: 300, binding: 'U' }],
};

function Editor({ name: initialName, body, onSaved, onCancel }) {
  const [name, setName] = useState(initialName || '');
  const [text, setText] = useState(JSON.stringify(body, null, 2));
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function save(e) {
    e.preventDefault();
    setError(null);
    let doc;
    try { doc = JSON.parse(text); } catch (err) {
      setError({ code: 'bad_json', status: 0, message: `The body is not JSON: ${err.message}` });
      return;
    }
    if (!name.trim()) { setError({ message: 'Give the configuration a name.' }); return; }
    setBusy(true);
    try { await api(`/api/bootstrap/configs/${enc(name.trim())}`, { method: 'PUT', body: doc }); onSaved(name.trim()); }
    catch (err) { setError(err); }
    setBusy(false);
  }
  return html`<form class="editor" onSubmit=${save} aria-labelledby="editor-title">
    <h2 id="editor-title">${initialName ? `Edit ${initialName}` : 'New configuration'}</h2>
    <label for="cfg-name">Name</label>
    <input id="cfg-name" value=${name} readOnly=${!!initialName} onInput=${(e) => setName(e.target.value)}
           placeholder="dev-1, a template name, or default" />
    <label for="cfg-body">Configuration (JSON; see docs/bootstrap.md)</label>
    <div id="cfg-error"><${ErrorBox} error=${error} /></div>
    <textarea id="cfg-body" rows="18" spellcheck="false" class=${error ? 'invalid' : ''}
              aria-invalid=${error ? 'true' : 'false'} aria-describedby="cfg-error"
              value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
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
  return html`<div class="import">
    <label for="cfg-import">Import a file (JSON list or CSV, one transaction)</label>
    <input id="cfg-import" type="file" accept=".json,.csv,application/json,text/csv" onChange=${upload} />
    ${msg && html`<p class="ok" role="status">${msg}</p>`}<${ErrorBox} error=${error} /></div>`;
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
      <button type="button" onClick=${() => setEditing({ body: TEMPLATE })}>New configuration</button></div>
    <${ErrorBox} error=${error || opError} onRetry=${reload} />
    ${editing && html`<${Editor} key=${editing.name || 'new'} name=${editing.name} body=${editing.body}
        onSaved=${() => { setEditing(null); reload(); }} onCancel=${() => setEditing(null)} />`}
    ${data && list.length === 0 && html`<${Empty} title="No bootstrap configuration yet.">
      <p>Create one (a device's own, a template with "match", or "default"), or import a file.</p></${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>Kind</th>
      <th>Endpoint / match</th><th>Priority</th><th>Updated</th><th></th></tr></thead>
      <tbody>${list.map((c) => html`<tr key=${c.name} data-name=${c.name}><td>${c.name}</td><td>${c.kind}</td>
        <td class="mono">${c.endpoint || c.match || ''}</td><td>${c.priority ?? ''}</td><td>${when(c.updated_at)}</td>
        <td class="ops"><button type="button" onClick=${() => edit(c.name)}>Edit</button>
          <button type="button" class="danger" onClick=${() => remove(c.name)}>Delete</button></td></tr>`)}
      </tbody></table></div>`}
    <${Import} onDone=${reload} />
  </section>`;
}
