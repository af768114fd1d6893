// SPDX-License-Identifier: Apache-2.0
//
// tests/e2e/apiref.mjs -- the dashboard's API reference page (#/api) end
// to end: headless Chromium (Debian's /usr/bin/chromium, playwright-core)
// against a real lodestar-server on the test PostgreSQL.
//
// Cases: a viewer finds "API reference" in the navigation; the page lists
// one entry per operation of the document the server serves (GET
// /api/openapi.yaml, counted here from its text), every (method, path) of
// the document by its data attributes, grouped by tag; an operation opens
// to its parameters, request body with example, and responses; the filter
// narrows the list; no script error or CSP violation on the way (js-yaml
// comes from static/vendor/, nothing from a CDN).  A screenshot goes to
// $LODESTAR_E2E_ARTIFACTS and, with LODESTAR_E2E_DOCS_SHOTS=1, to
// docs/screenshots/api-reference.png.
//
// Run by `meson test --suite e2e`.  Prints a Check-style summary.  Exits 77
// (skip) without the test database, chromium, node_modules or
// static/vendor/js-yaml.mjs.

import { requirements, startServer, stopProc, run, assert, shot, launch, finish, fail,
         newAdminToken } from './lib.mjs';

// (method, path) of every operation under "paths:" (the layout
// docs/openapi.yaml promises: path at two spaces, method at four).
function documentedOps(text) {
  const ops = [];
  let inPaths = false; let path = null;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) { inPaths = line === 'paths:'; continue; }
    if (!inPaths) continue;
    let m = /^ {2}(\/\S*):\s*$/.exec(line);
    if (m) { path = m[1]; continue; }
    m = /^ {4}(get|put|post|patch|delete):\s*$/.exec(line);
    if (m && path) ops.push({ method: m[1], path });
  }
  return ops;
}

async function main() {
  requirements('apiref', { vendor: ['preact.module.js', 'js-yaml.mjs'] });
  const admin = newAdminToken();
  const server = await startServer(admin, { models: false });
  const browser = await launch();
  try {
    const auth = (t) => ({ Authorization: `Bearer ${t}` });
    const created = await fetch(`${server.http}/api/tokens`, {
      method: 'POST', headers: { ...auth(admin), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: `apiref-viewer-${process.pid}`, role: 'viewer' }) }).then((r) => r.json());
    const viewer = created.token;
    assert(viewer, `a viewer token: ${JSON.stringify(created)}`);
    const text = await fetch(`${server.http}/api/openapi.yaml`, { headers: auth(viewer) }).then((r) => r.text());
    const ops = documentedOps(text);
    assert(ops.length > 30, `the document has operations (${ops.length})`);

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const errors = [];
    // A refused load is reported with its URL below (a missing favicon is
    // not the page's business); anything else on the console is an error.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.http}/`);
    await page.fill('#token', viewer);
    await page.click('button[type="submit"]');
    await page.waitForSelector('#me');

    await run('nav_link_for_viewer', async () => {
      const link = page.locator('header nav a', { hasText: 'API reference' });
      assert(await link.count() === 1, 'the navigation has "API reference"');
      await link.click();
      await page.waitForSelector('#api-count');
      assert(page.url().endsWith('#/api'), `at #/api: ${page.url()}`);
    });

    await run('every_operation_listed', async () => {
      const n = await page.locator('details.api-op').count();
      assert(n === ops.length, `${n} entries on the page, ${ops.length} operations in the document`);
      for (const o of ops) {
        const sel = `details.api-op[data-method="${o.method}"][data-path="${o.path}"]`;
        assert(await page.locator(sel).count() === 1, `${o.method.toUpperCase()} ${o.path} is on the page`);
      }
      assert(await page.locator('section.api-tag[data-tag="device operations"]').count() === 1,
             'a "device operations" group');
    });

    await run('operation_details', async () => {
      const op = page.locator('details.api-op[data-method="put"][data-path="/api/bootstrap/configs/{name}"]');
      await op.locator('summary').click();
      await op.locator('table.api-params').waitFor();
      const body = await op.innerText();
      assert(/admin/.test(body), 'its role, admin');
      assert(/name/.test(body) && /path/.test(body), 'the path parameter "name"');
      assert(/Request body/.test(body) && /coaps:\/\/lwm2m\.example\.com:5684/.test(body),
             'the request body with its example');
      assert(/201/.test(body) && /409/.test(body), 'responses 201 and 409');
      assert(/"error":/.test(body) && /"code":/.test(body), 'the error shape, resolved from its $ref');
      await shot(page, 'api-reference', { docs: true, fullPage: false });
    });

    await run('filter_narrows', async () => {
      await page.fill('#api-q', 'whoami');
      await page.waitForFunction(() => document.querySelectorAll('details.api-op').length === 1);
      const count = await page.textContent('#api-count');
      assert(/^1 operation$/.test(count.trim()), `"${count}"`);
      await page.fill('#api-q', 'no-such-route-anywhere');
      await page.waitForSelector('p.empty');
      await page.fill('#api-q', '');
      await page.waitForFunction((n) => document.querySelectorAll('details.api-op').length === n, ops.length);
    });

    await run('no_script_errors', async () => {
      assert(errors.length === 0, `console/page errors: ${errors.join(' | ')}`);
    });
    await ctx.close();
  } finally {
    await browser.close().catch(() => {});
    const code = await stopProc(server);
    if (code !== 0) fail('server_exit', `lodestar-server exited ${code}:\n${server.err.slice(-4000)}`);
  }
  finish([server]);
}

main().catch((e) => { console.log(`FAIL setup: ${e.stack || e}`); process.exit(1); });
