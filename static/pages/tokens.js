// SPDX-License-Identifier: Apache-2.0
//
// static/pages/tokens.js -- API tokens (admin): list, create (the secret is
// shown once, here, and never again), delete.

import { api } from '../api.js';
import { html, useState, useLoad, ErrorBox, when } from '../ui.js';

export function Tokens() {
  const [data, error, reload] = useLoad(() => api('/api/tokens'), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [created, setCreated] = useState(null);
  const [opError, setOpError] = useState(null);
  async function create(e) {
    e.preventDefault();
    setOpError(null); setCreated(null);
    try { setCreated(await api('/api/tokens', { method: 'POST', body: { name: name.trim(), role } })); setName(''); reload(); }
    catch (err) { setOpError(err); }
  }
  async function remove(t) {
    if (!confirm(`Delete the token "${t.name}"? Whoever uses it is refused from now on.`)) return;
    setOpError(null);
    try { await api(`/api/tokens/${t.id}`, { method: 'DELETE' }); reload(); }
    catch (err) { setOpError(err); }
  }
  const list = data ? data.tokens : [];
  return html`<section aria-labelledby="tok-title">
    <h1 id="tok-title">API tokens</h1>
    <form class="row" onSubmit=${create}>
      <label for="tok-name">Name</label>
      <input id="tok-name" required value=${name} onInput=${(e) => setName(e.target.value)} placeholder="ci, grafana, alice…" />
      <label for="tok-role">Role</label>
      <select id="tok-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
        <option value="viewer">viewer (read)</option><option value="operator">operator (device operations)</option>
        <option value="admin">admin (everything)</option></select>
      <button type="submit">Create token</button>
    </form>
    ${created && html`<div class="ok secret" role="status">Token "${created.name}" (${created.role}) created.
      Copy it now, it is not shown again: <code id="new-token">${created.token}</code></div>`}
    <${ErrorBox} error=${error || opError} onRetry=${reload} />
    ${list.length > 0 && html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>Role</th>
      <th>Created</th><th>Last used</th><th></th></tr></thead>
      <tbody>${list.map((t) => html`<tr key=${t.id}><td>${t.name}</td><td>${t.role}</td>
        <td>${when(t.created_at)}</td><td>${when(t.last_used_at) || 'never'}</td>
        <td><button type="button" class="danger" onClick=${() => remove(t)}>Delete</button></td></tr>`)}</tbody></table></div>`}
  </section>`;
}
