// SPDX-License-Identifier: Apache-2.0
//
// static/pages/audit.js -- the audit log (admin), newest first, paged.

import { api } from '../api.js';
import { html, useState, useEffect, ErrorBox, Empty, when } from '../ui.js';

export function Audit() {
  const [rows, setRows] = useState([]);
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);
  const [loaded, setLoaded] = useState(false);
  async function load(after) {
    try {
      const r = await api(`/api/audit?limit=100${after ? `&after=${after}` : ''}`);
      setRows((old) => (after ? old.concat(r.entries) : r.entries));
      setNext(r.next); setError(null);
    } catch (e) { setError(e); }
    setLoaded(true);
  }
  useEffect(() => { load(null); }, []);
  return html`<section aria-labelledby="audit-title">
    <div class="titlebar"><h1 id="audit-title">Audit log</h1>
      <button type="button" onClick=${() => load(null)}>Refresh</button></div>
    <${ErrorBox} error=${error} onRetry=${() => load(null)} />
    ${loaded && !error && rows.length === 0 && html`<${Empty} title="Nothing audited yet.">
      <p>Device operations, token and bootstrap changes are recorded here.</p></${Empty}>`}
    ${rows.length > 0 && html`<div class="table-wrap"><table><thead><tr><th>When</th><th>Actor</th>
      <th>Action</th><th>Target</th><th>Detail</th></tr></thead>
      <tbody>${rows.map((e) => html`<tr key=${e.id}><td>${when(e.at)}</td><td>${e.actor}</td>
        <td>${e.action}</td><td class="mono">${e.target}</td>
        <td class="mono small">${e.detail ? JSON.stringify(e.detail) : ''}</td></tr>`)}</tbody></table></div>`}
    ${next && html`<button type="button" onClick=${() => load(next)}>Older</button>`}
  </section>`;
}
