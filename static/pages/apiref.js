// SPDX-License-Identifier: Apache-2.0
//
// static/pages/apiref.js -- the API reference (viewer): the server's own
// OpenAPI document (GET /api/openapi.yaml, docs/openapi.yaml compiled in)
// rendered readably: routes grouped by tag, each with its least role,
// parameters, request body and responses, with their examples and schemas.
//
// The YAML is parsed by js-yaml (static/vendor/js-yaml.mjs, pinned in
// static/package.json like the other libraries): nothing comes from a CDN.
// $refs are resolved here (local "#/..." only; a cycle stops at the ref).
// The page renders whatever the document says, so it cannot disagree with
// the document; the document is checked against the server's route table
// by the unit test web_openapi.

import { load } from '../vendor/js-yaml.mjs';
import { download, token, ApiError } from '../api.js';
import { useMemo } from '../vendor/hooks.module.js';
import { html, useState, useLoad, ErrorBox } from '../ui.js';

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

async function fetchDocument() {
  const res = await fetch('/api/openapi.yaml', { headers: { Authorization: `Bearer ${token.get() || ''}` } });
  if (!res.ok) {
    const doc = await res.json().catch(() => null);
    throw new ApiError(res.status, doc?.error?.code || 'http', doc?.error?.message || `HTTP ${res.status}`);
  }
  const text = await res.text();
  try {
    return load(text);
  } catch (e) {
    throw new ApiError(0, 'bad_yaml', `The document is not valid YAML: ${e.message}`);
  }
}

// The node a local $ref names; the node itself when it is not a ref.
export function deref(doc, node, seen = new Set()) {
  if (!node || typeof node !== 'object' || typeof node.$ref !== 'string') return node;
  if (seen.has(node.$ref) || !node.$ref.startsWith('#/')) return { unresolved: node.$ref };
  seen.add(node.$ref);
  let n = doc;
  for (const k of node.$ref.slice(2).split('/')) n = n?.[k.replace(/~1/g, '/').replace(/~0/g, '~')];
  return deref(doc, n, seen);
}

// A schema as a short, JSON-like outline: {"id": integer, "tags": [string]}.
export function outline(doc, schema, depth = 0, seen = new Set()) {
  if (!schema) return 'any';
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop();
    if (seen.has(name) || depth > 4) return name;
    return outline(doc, deref(doc, schema), depth, new Set([...seen, name]));
  }
  if (schema.allOf) {
    const parts = schema.allOf.map((s) => deref(doc, s));
    const merged = { type: 'object', properties: {} };
    for (const p of parts) Object.assign(merged.properties, p?.properties || {});
    return outline(doc, merged, depth, seen);
  }
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const types = [].concat(schema.type || (schema.properties ? 'object' : 'any'));
  const pad = '  '.repeat(depth + 1);
  const main = types.filter((t) => t !== 'null');
  let text;
  if (main[0] === 'object' && schema.properties) {
    const req = new Set(schema.required || []);
    const lines = Object.entries(schema.properties).map(([k, v]) =>
      `${pad}"${k}"${req.has(k) ? '' : '?'}: ${outline(doc, v, depth + 1, seen)}`);
    text = lines.length ? `{\n${lines.join(',\n')}\n${'  '.repeat(depth)}}` : 'object';
  } else if (main[0] === 'array') {
    text = `[${outline(doc, schema.items, depth, seen)}]`;
  } else {
    text = main.join(' | ') || 'null';
  }
  return types.includes('null') ? `${text} | null` : text;
}

// Every operation: {method, path, op, tags}, in document order.
export function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths || {}))
    for (const m of METHODS)
      if (item[m]) out.push({ method: m, path, op: item[m], shared: item.parameters || [] });
  return out;
}

const json = (v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

function Text({ text }) {
  if (!text) return null;
  // `code` spans become <code>; the rest stays text (no HTML from the document).
  const parts = String(text).split(/(`[^`]+`)/);
  return html`<p class="api-text">${parts.map((p) => (p.startsWith('`') && p.endsWith('`') && p.length > 1
    ? html`<code>${p.slice(1, -1)}</code>` : p))}</p>`;
}

function Content({ doc, content }) {
  if (!content) return null;
  return Object.entries(content).map(([type, media]) => html`<div class="api-media">
    <div class="muted small">${type}</div>
    ${media.schema && html`<pre class="api-schema">${outline(doc, media.schema)}</pre>`}
    ${media.example !== undefined && html`<div class="muted small">Example</div>
      <pre class="api-example">${json(media.example)}</pre>`}
  </div>`);
}

function Parameters({ doc, params }) {
  if (!params.length) return null;
  return html`<h4>Parameters</h4><div class="table-wrap"><table class="api-params">
    <thead><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr></thead>
    <tbody>${params.map((p) => html`<tr key=${p.in + p.name}>
      <td><code>${p.name}</code>${p.required && html` <span class="badge">required</span>`}</td>
      <td>${p.in}</td>
      <td class="mono">${outline(doc, p.schema)}${p.schema?.default !== undefined
        ? html` <span class="muted">(default ${json(p.schema.default)})</span>` : ''}</td>
      <td><${Text} text=${p.description} /></td></tr>`)}</tbody></table></div>`;
}

function Operation({ doc, entry }) {
  const { method, path, op } = entry;
  const params = [...entry.shared, ...(op.parameters || [])].map((p) => deref(doc, p));
  const body = deref(doc, op.requestBody);
  const responses = Object.entries(op.responses || {});
  const role = op['x-lodestar-role'] || 'viewer';
  return html`<details class="api-op" id=${op.operationId} data-method=${method} data-path=${path}>
    <summary>
      <span class=${`api-method api-${method}`}>${method.toUpperCase()}</span>
      <code class="api-path">${path}</code>
      <span class="api-summary">${op.summary || ''}</span>
      <span class=${`badge api-role api-role-${role}`} title="least role">${role === 'none' ? 'no token' : role}</span>
    </summary>
    <${Text} text=${op.description} />
    <${Parameters} doc=${doc} params=${params} />
    ${body && html`<h4>Request body${body.required ? '' : html` <span class="muted">(optional)</span>`}</h4>
      <${Content} doc=${doc} content=${body.content} />`}
    <h4>Responses</h4>
    <dl class="api-responses">${responses.map(([status, r0]) => {
      const r = deref(doc, r0);
      return html`<dt key=${status}><span class=${`api-status api-s${status[0]}`}>${status}</span></dt>
        <dd><${Text} text=${r.description} /><${Content} doc=${doc} content=${r.content} /></dd>`;
    })}</dl>
  </details>`;
}

export function ApiReference() {
  const [doc, error, reload] = useLoad(fetchDocument, []);
  const [q, setQ] = useState('');
  const [saveError, setSaveError] = useState(null);
  const groups = useMemo(() => {
    if (!doc) return [];
    const needle = q.trim().toLowerCase();
    const ops = operations(doc).filter((e) => !needle ||
      `${e.method} ${e.path} ${e.op.summary || ''}`.toLowerCase().includes(needle));
    const names = [...(doc.tags || []).map((t) => t.name)];
    for (const e of ops) for (const t of e.op.tags || ['other']) if (!names.includes(t)) names.push(t);
    return names.map((name) => ({
      name,
      description: (doc.tags || []).find((t) => t.name === name)?.description,
      ops: ops.filter((e) => (e.op.tags || ['other']).includes(name)),
    })).filter((g) => g.ops.length);
  }, [doc, q]);
  async function save() {
    setSaveError(null);
    try { await download('/api/openapi.yaml', 'lodestar-openapi.yaml'); } catch (e) { setSaveError(e); }
  }
  if (error) return html`<${ErrorBox} error=${error} onRetry=${reload} />`;
  if (!doc) return html`<p class="loading">Loading the API document…</p>`;
  const count = groups.reduce((n, g) => n + g.ops.length, 0);
  return html`<section aria-labelledby="api-title" class="api-ref">
    <div class="titlebar">
      <h1 id="api-title">${doc.info?.title || 'API'} <span class="muted small">${doc.info?.version || ''}
        · OpenAPI ${doc.openapi}</span></h1>
      <div class="search">
        <label class="sr-only" for="api-q">Filter routes</label>
        <input id="api-q" type="search" placeholder="Filter: path, method or summary" value=${q}
               onInput=${(e) => setQ(e.target.value)} />
        <button type="button" onClick=${save}>Download openapi.yaml</button>
      </div>
    </div>
    <${ErrorBox} error=${saveError} />
    <details class="api-intro"><summary>About this API</summary>
      ${String(doc.info?.description || '').split(/\n\s*\n/).map((p) => html`<${Text} text=${p} />`)}
    </details>
    <p class="muted" id="api-count">${count} operation${count === 1 ? '' : 's'}</p>
    ${groups.map((g) => html`<section key=${g.name} class="api-tag" data-tag=${g.name}>
      <h2>${g.name}</h2>
      <${Text} text=${g.description} />
      ${g.ops.map((e) => html`<${Operation} key=${e.method + e.path} doc=${doc} entry=${e} />`)}
    </section>`)}
    ${count === 0 && html`<p class="empty">No route matches “${q}”.</p>`}
  </section>`;
}
