// SPDX-License-Identifier: Apache-2.0
//
// static/pages/workflows.js -- rotations and server-initiated bootstraps:
// each rotation with a progress bar (re-registered / failed / sent of its
// total), the single-device workflows with their state, a form to start a
// bulk rotation (admin: a list of endpoints or a name pattern, a rate, a
// reason), live from the 'workflow' events of /api/events.
//
// The newest come from GET /api/bootstrap/rotations and GET /api/workflows
// ?rotation=none (single-device ones); a 'workflow' event re-reads the one
// it names with GET /api/bootstrap/rotations/{id} or /api/workflows/{id}.

import { api, enc } from '../api.js';
import { html, useState, useEffect, useRef, useEvents, useSession, can, ErrorBox, Empty, when } from '../ui.js';

const ROTATIONS_MAX = 20;
const WORKFLOWS_MAX = 50;
const FINAL = ['re_registered', 'failed'];

export const rotationDone = (r) => r.finished + r.failed >= r.total;

function Progress({ r }) {
  const pct = (n) => (r.total ? (100 * n) / r.total : 0);
  const sent = Math.max(0, r.total - r.pending - r.finished - r.failed);
  const done = r.total ? Math.floor((100 * (r.finished + r.failed)) / r.total) : 100;
  return html`<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${done}
      aria-label=${`rotation ${r.id}: ${done} %`}>
    <div class="bar"><span class="done" style=${{ width: `${pct(r.finished)}%` }}></span>
      <span class="failed" style=${{ width: `${pct(r.failed)}%` }}></span>
      <span class="sent" style=${{ width: `${pct(sent)}%` }}></span></div>
    <span class="pct">${done} %</span></div>`;
}

function StartRotation({ onStarted }) {
  const [by, setBy] = useState('match');
  const [match, setMatch] = useState('');
  const [list, setList] = useState('');
  const [rate, setRate] = useState('10');
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    const body = { rate: Number(rate), reason };
    if (by === 'match') body.match = match.trim();
    else body.endpoints = list.split(/[\s,]+/).filter(Boolean);
    if (by === 'list' && body.endpoints.length === 0) { setError({ message: 'endpoints: name at least one device' }); return; }
    const what = by === 'match' ? `every device matching "${body.match}"` : `${body.endpoints.length} device(s)`;
    if (!confirm(`Rotate the keys of ${what} at ${rate} per second? Each is told to bootstrap again.`)) return;
    setBusy(true);
    try {
      const r = await api('/api/bootstrap/rotations', { method: 'POST', body });
      onStarted(r);
      setReason('');
    } catch (err) { setError(err); }
    setBusy(false);
  }
  return html`<form class="grid-form" id="rot-form" onSubmit=${submit} aria-labelledby="rot-new-title">
    <h2 id="rot-new-title" class="span-all">Start a rotation</h2>
    <span>Devices</span>
    <span role="radiogroup" aria-label="Which devices">
      <label><input type="radio" name="rot-by" value="match" checked=${by === 'match'} onChange=${() => setBy('match')} /> name pattern</label>
      <label><input type="radio" name="rot-by" id="rot-by-list" value="list" checked=${by === 'list'} onChange=${() => setBy('list')} /> list</label></span>
    ${by === 'match'
      ? html`<label for="rot-match">Pattern</label><input id="rot-match" class="mono" required placeholder="urn:imei:35*  (* = all)"
          value=${match} onInput=${(e) => setMatch(e.target.value)} />`
      : html`<label for="rot-list">Endpoints</label><textarea id="rot-list" rows="4" required placeholder="one per line"
          value=${list} onInput=${(e) => setList(e.target.value)}></textarea>`}
    <label for="rot-rate">Rate (devices/s)</label>
    <input id="rot-rate" type="number" min="0.001" max="10000" step="any" required value=${rate} onInput=${(e) => setRate(e.target.value)} />
    <label for="rot-why">Reason</label>
    <input id="rot-why" placeholder="kept in the audit log" value=${reason} onInput=${(e) => setReason(e.target.value)} />
    <div class="actions"><button type="submit" disabled=${busy}>Start rotation</button></div>
    <div class="span-all"><${ErrorBox} error=${error} /></div>
  </form>`;
}

export function Workflows() {
  const { me } = useSession();
  const [rotations, setRotations] = useState(new Map());   // id -> rotation
  const [flows, setFlows] = useState(new Map());           // id -> workflow (no parent)
  const [error, setError] = useState(null);
  const [loaded, setLoaded] = useState(false);
  const [showAll, setShowAll] = useState(false);
  const [msg, setMsg] = useState(null);
  const pending = useRef(new Map());                        // rotation id -> timer

  // What was seen running on this page stays shown when it finishes (the
  // operator sees it reach 100 %); "show finished" adds the older ones.
  const watched = useRef(new Set());
  const putRotation = (r) => {
    if (!rotationDone(r)) watched.current.add(`r${r.id}`);
    setRotations((m) => new Map(m).set(r.id, r));
  };
  const putFlow = (w) => {
    if (!FINAL.includes(w.state)) watched.current.add(`w${w.id}`);
    setFlows((m) => new Map(m).set(w.id, w));
  };
  const loadRotation = (id) => api(`/api/bootstrap/rotations/${id}`).then(putRotation, setError);
  const loadFlow = (id) => api(`/api/workflows/${id}`).then(putFlow, setError);

  useEffect(() => {
    (async () => {
      try {
        const [r, w] = await Promise.all([
          api(`/api/bootstrap/rotations?limit=${ROTATIONS_MAX}`),
          api(`/api/workflows?rotation=none&limit=${WORKFLOWS_MAX}`)]);
        r.rotations.forEach(putRotation);
        w.workflows.forEach(putFlow);
      } catch (e) { setError(e); }
      setLoaded(true);
    })();
    return () => { for (const t of pending.current.values()) clearTimeout(t); };
  }, []);

  // A rotation's counts are re-read at most every 300 ms while its devices move.
  useEvents((kind, ev) => {
    if (kind !== 'workflow' || !ev.detail) return;
    const rid = ev.detail.rotation;
    if (!rid) { loadFlow(ev.detail.workflow); return; }
    if (pending.current.has(rid)) return;
    pending.current.set(rid, setTimeout(() => { pending.current.delete(rid); loadRotation(rid); }, 300));
  }, []);

  function started(r) {
    watched.current.add(`r${r.rotation}`);
    setMsg(`Rotation ${r.rotation} started: ${r.total} device${r.total === 1 ? '' : 's'} at ${r.rate}/s.`);
    loadRotation(r.rotation);
  }

  const rots = [...rotations.values()].sort((a, b) => b.id - a.id)
    .filter((r) => showAll || !rotationDone(r) || watched.current.has(`r${r.id}`));
  const wfs = [...flows.values()].sort((a, b) => b.id - a.id)
    .filter((w) => showAll || !FINAL.includes(w.state) || watched.current.has(`w${w.id}`));
  const hidden = rotations.size + flows.size - rots.length - wfs.length;
  return html`<section aria-labelledby="wf-title">
    <div class="titlebar"><h1 id="wf-title">Rotations and workflows</h1>
      <label><input type="checkbox" id="wf-all" checked=${showAll} onChange=${(e) => setShowAll(e.target.checked)} />
        show finished${hidden > 0 ? ` (${hidden})` : ''}</label></div>
    <${ErrorBox} error=${error} />
    ${can(me, 'admin') && html`<${StartRotation} onStarted=${started} />`}
    ${msg && html`<p class="ok" role="status">${msg}</p>`}
    <h2>Rotations</h2>
    ${!loaded && html`<p class="loading">Loading…</p>`}
    ${loaded && rots.length === 0 && html`<${Empty} title=${rotations.size ? 'No rotation in progress.' : 'No rotation yet.'}>
      <p>${can(me, 'admin') ? 'Start one above: every device named is told to bootstrap again and gets fresh keys.'
        : 'An admin starts rotations; they show here with their progress.'}
        ${rotations.size > 0 && ' Tick "show finished" to see the ones that are done.'}</p></${Empty}>`}
    ${rots.length > 0 && html`<div class="table-wrap"><table id="rot-table"><thead><tr><th>#</th><th>Devices</th>
      <th>Rate</th><th>Progress</th><th>Re-registered</th><th>Failed</th><th>Waiting</th><th>Started</th><th>By / reason</th></tr></thead>
      <tbody>${rots.map((r) => html`<tr key=${r.id} data-rotation=${r.id} data-done=${rotationDone(r) ? 'true' : 'false'}>
        <td>${r.id}</td><td class="mono">${r.match || 'list'} <span class="muted">(${r.total})</span></td><td>${r.rate}/s</td>
        <td><${Progress} r=${r} /></td><td>${r.finished}</td><td>${r.failed}</td><td>${r.pending}</td>
        <td>${when(r.first_trigger_at || r.created_at)}</td><td>${r.actor || ''}${r.reason ? html` <span class="muted">· ${r.reason}</span>` : ''}</td></tr>`)}
      </tbody></table></div>`}
    <h2>Device workflows</h2>
    ${loaded && wfs.length === 0 && html`<${Empty} title="No single-device workflow in progress.">
      <p>Rotate one device from its page (Credentials → Rotate); the workflow follows it through
        bootstrap to its new registration here.</p></${Empty}>`}
    ${wfs.length > 0 && html`<div class="table-wrap"><table id="wf-table"><thead><tr><th>#</th><th>Device</th><th>State</th>
      <th>Step / cause</th><th>Created</th><th>Updated</th><th>By / reason</th></tr></thead>
      <tbody>${wfs.map((w) => html`<tr key=${w.id} data-workflow=${w.id}><td>${w.id}</td>
        <td><a href=${`#/devices/${enc(w.endpoint)}`}>${w.endpoint}</a></td>
        <td><span class=${`badge wf-${w.state}`}>${w.state}</span></td><td>${w.cause ? `${w.step}: ${w.cause}` : ''}</td>
        <td>${when(w.created_at)}</td><td>${when(w.updated_at)}</td>
        <td>${w.actor || ''}${w.reason ? html` <span class="muted">· ${w.reason}</span>` : ''}</td></tr>`)}
      </tbody></table></div>`}
  </section>`;
}
