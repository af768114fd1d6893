// SPDX-License-Identifier: Apache-2.0
//
// static/pages/factory.js -- factory provisioning (admin): create a batch
// of devices with fresh PSK accounts (POST /api/factory/batches), then
// download its export as CSV or JSON.  The export is the one answer that
// carries keys: the server audits it before sending; the page saves it as
// a file and keeps nothing.

import { api, download } from '../api.js';
import { html, useState, ErrorBox } from '../ui.js';

export function Factory() {
  const [f, setF] = useState({ prefix: 'dev-', count: '10', start: '1', server_uri: 'coaps://127.0.0.1:5684',
                               ssid: '101', bootstrap_uri: '', key_bytes: '16' });
  const [batches, setBatches] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  async function create(e) {
    e.preventDefault();
    setError(null); setBusy(true);
    const body = { prefix: f.prefix, count: Number(f.count), start: Number(f.start), key_bytes: Number(f.key_bytes) };
    if (f.server_uri.trim()) body.server = { uri: f.server_uri.trim(), ssid: Number(f.ssid), security: 'psk' };
    if (f.bootstrap_uri.trim()) body.bootstrap = { uri: f.bootstrap_uri.trim(), security: 'psk' };
    try { const r = await api('/api/factory/batches', { method: 'POST', body }); setBatches((b) => [r, ...b]); }
    catch (err) { setError(err); }
    setBusy(false);
  }
  async function save(id, format) {
    setError(null);
    try { await download(`/api/factory/batches/${id}?format=${format}`, `lodestar-batch-${id}.${format}`); }
    catch (err) { setError(err); }
  }
  const field = (k, label, attrs = {}) => html`<label for=${`fb-${k}`}>${label}</label>
    <input id=${`fb-${k}`} value=${f[k]} onInput=${set(k)} ...${attrs} />`;
  return html`<section aria-labelledby="fac-title">
    <h1 id="fac-title">Factory batches</h1>
    <p class="muted">Creates devices named prefix + number with new PSK accounts, for flashing at the factory.
      Leave a URI empty to skip that account.</p>
    <form class="grid-form" onSubmit=${create}>
      ${field('prefix', 'Name prefix', { required: true })}
      ${field('count', 'Count', { type: 'number', min: 1, required: true })}
      ${field('start', 'First number', { type: 'number', min: 0 })}
      ${field('server_uri', 'Server URI')}
      ${field('ssid', 'Server short id', { type: 'number', min: 1, max: 65534 })}
      ${field('bootstrap_uri', 'Bootstrap-Server URI', { placeholder: 'coaps://bootstrap.example:5784' })}
      ${field('key_bytes', 'Key bytes (16..32)', { type: 'number', min: 16, max: 32 })}
      <div class="actions"><button type="submit" disabled=${busy}>Create batch</button></div>
    </form>
    <${ErrorBox} error=${error} />
    ${batches.length > 0 && html`<h2>Created in this session</h2><div class="table-wrap"><table>
      <thead><tr><th>Batch</th><th>Devices</th><th>Accounts</th><th>Export (holds keys)</th></tr></thead>
      <tbody>${batches.map((b) => html`<tr key=${b.id} data-batch=${b.id}><td>${b.id}</td><td>${b.count}</td>
        <td>${(b.accounts || []).join(', ')}</td>
        <td class="ops"><button type="button" onClick=${() => save(b.id, 'csv')}>Download CSV</button>
          <button type="button" onClick=${() => save(b.id, 'json')}>Download JSON</button></td></tr>`)}
      </tbody></table></div>`}
  </section>`;
}
