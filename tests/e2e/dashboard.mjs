// SPDX-License-Identifier: Apache-2.0
//
// tests/e2e/dashboard.mjs -- the dashboard end to end: headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) against a real
// lodestar-server on the test PostgreSQL, with the harness LwM2M device as
// a process (e2e_device.c, LwM2M 1.1) as the device.
//
// Cases: sign in with the admin token; a bad token (typed, Enter) gets
// the sign-in error; a device registers and its row appears live (no
// reload); Read /3/0 from the device page shows its values; Observe
// /3/0/9 and the plot gets the points the device notifies; Write
// /32769/0/11 and read it back; Write-Attributes pmin on /3/0/9 and
// Discover shows it; Create an instance of 32769 and Delete it;
// Read-Composite of ticked and typed paths, then Write-Composite of two
// typed values; Create with typed values (string, integer, boolean) read
// back; a bootstrap configuration made in the form editor with a bad ssid
// shows the API's message at that field, keeps its data across the
// form/JSON switch, then saves once fixed; bulk import of a JSON file (and
// a bad one names the item); a factory batch is created and its CSV
// downloaded, and a batch device's credentials are revoked from its page;
// the admin pages render without a script error; a viewer token sees no
// admin page or write button; a token deleted mid-session sends the page
// back to sign-in.  Device cases skip, not pass, while the device-operation
// API is not served.  A screenshot of each page goes to
// $LODESTAR_E2E_ARTIFACTS (the main ones to docs/screenshots/ with
// LODESTAR_E2E_DOCS_SHOTS=1).
//
// Run by `meson test --suite e2e` (tests/e2e/meson.build).  Prints a
// Check-style summary ("Checks: N, Failures: F, Errors: 0") that
// scripts/lib/count_tests.py counts case by case; skipped cases are not
// counted.  Exits 77 (skip) when what it needs is not there: the test
// database, chromium, node_modules here, static/vendor/.

import { readFile } from 'node:fs/promises';
import { requirements, startProc, startServer, stopProc, stopDevice, http, run, Skip, assert,
         waitFor, shot, fitsPhone, signIn, launch, finish, fail, newAdminToken, tag, pageErrors } from './lib.mjs';

async function main() {
  requirements('dashboard', { device: true });
  const admin = newAdminToken();
  const server = await startServer(admin);
  const browser = await launch();
  const ep = `e2e-${tag}-dev`;
  let device = null;
  let adminPage = null;
  try {
    await run('sign_in_admin', async () => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const p = await ctx.newPage();
      await p.goto(`${server.http}/`);
      await p.waitForSelector('#token');
      await shot(p, 'signin');
      await ctx.close();
      const { page } = await signIn(browser, server, admin);
      await page.waitForSelector('#me');
      const me = await page.textContent('#me');
      assert(/admin/.test(me), `the header names the role admin: "${me}"`);
      for (const label of ['Devices', 'Bootstrap', 'Factory', 'Audit log', 'Tokens', 'Live events'])
        assert(await page.locator('header nav a', { hasText: label }).count() === 1, `nav has ${label}`);
      adminPage = page;
    });

    await run('bad_token_sign_in_error', async () => {
      // By keyboard: the token field has the focus, Enter submits.
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await ctx.newPage();
      await page.goto(`${server.http}/`);
      await page.waitForSelector('#token:focus');
      await page.keyboard.type('not-a-token-' + tag);
      await page.keyboard.press('Enter');
      const err = await page.waitForSelector('#signin-error');
      assert(/refused/.test(await err.textContent()), 'the error says the token was refused');
      assert(await page.locator('#me').count() === 0, 'not signed in');
      await shot(page, 'signin-error');
      await ctx.close();
    });

    await run('device_registers_live', async () => {
      assert(adminPage, 'signed in');
      const page = adminPage;
      await page.goto(`${server.http}/#/devices`);
      await page.waitForSelector('#device-search');
      await page.fill('#device-search', `e2e-${tag}`);
      await page.waitForSelector('.empty');     // nothing yet under that prefix
      await page.waitForSelector('.live-live'); // the event stream is up
      device = startProc('device', process.env.LODESTAR_E2E_DEVICE,
        [`${server.coapHost}:${server.coapPort}`, ep]);
      const row = await page.waitForSelector(`tr[data-endpoint="${ep}"]`, { timeout: 15000 });
      assert(/registered/.test(await row.textContent()), 'the new row says registered');
      await page.fill('#device-search', '');
      await page.waitForSelector(`tr[data-endpoint="${ep}"]`);
      await shot(page, 'devices', { docs: true });
      await page.setViewportSize({ width: 390, height: 844 });   // a phone
      await shot(page, 'devices-phone', { docs: true });
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    const deviceOpsServed = async (path) => {
      const probe = await http(server, 'GET', `/api/devices/${encodeURIComponent(ep)}${path}`, admin);
      if (probe.status === 503 || (probe.status === 404 && probe.json?.error?.code === 'not_found' &&
                                   /no such resource/.test(probe.json.error.message)))
        throw new Skip(`the device-operation API is not served yet (GET ${path} -> ${probe.status} ${probe.text})`);
    };

    await run('device_page_read_3_0', async () => {
      assert(device, 'the device runs');
      const page = adminPage;
      await page.goto(`${server.http}/#/devices/${encodeURIComponent(ep)}`);
      await page.waitForSelector('#read-3-0');
      await shot(page, 'device');
      await deviceOpsServed('/3/0/0');
      await page.click('#read-3-0');
      const cell = 'tr[data-path="/3/0/0"] td.value';
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'Lodestar',
                                 cell, { timeout: 15000 }).catch(async (e) => {
        const errs = await page.locator('.error').allTextContents();
        throw new Error(`/3/0/0 never showed "Lodestar" (errors on the page: ${errs.join(' | ')}): ${e.message}`);
      });
      assert(await page.textContent('tr[data-path="/3/0/1"] td.value') === 'harness', '/3/0/1 shown');
      assert(await page.textContent('tr[data-path="/3/0/9"] td.value') === '100', '/3/0/9 shown');
      await shot(page, 'device-read');
    });

    await run('observe_plots_notifications', async () => {
      const page = adminPage;
      await deviceOpsServed('/3/0/9');
      await page.click('tr[data-path="/3/0/9"] button:text-is("Observe")');
      await page.waitForSelector('tr[data-path="/3/0/9"] .ok', { timeout: 15000 }).catch(async (e) => {
        const errs = await page.locator('tr[data-path="/3/0/9"] .error').allTextContents();
        if (errs.some((t) => /^50[34]|not served|not_implemented/.test(t)))
          throw new Skip(`observe is not served yet: ${errs.join(' | ')}`);
        throw new Error(`Observe /3/0/9 failed (${errs.join(' | ')}): ${e.message}`);
      });
      for (const v of [80, 60, 40]) {
        device.stdin.write(`set /3/0/9 ${v}\n`);
        await page.waitForFunction((want) => document.querySelector('tr[data-path="/3/0/9"] td.value')?.textContent === want,
                                   String(v), { timeout: 15000 });
      }
      const count = await page.waitForSelector('figure.plot[data-path="/3/0/9"] figcaption .count');
      await waitFor('three plotted points', async () => parseInt(await count.textContent(), 10) >= 3);
      await shot(page, 'device-observe', { docs: true });
    });

    await run('write_and_read_back', async () => {
      const page = adminPage;
      await deviceOpsServed('/32769/0/11');
      const row = 'tr[data-path="/32769/0/11"]';
      await page.click(`${row} button:text-is("Write")`);
      await page.fill(`${row} form.inline input`, `written by ${tag}`);
      await page.keyboard.press('Enter');
      await page.waitForSelector(`${row} .ok`, { timeout: 15000 }).catch(async (e) => {
        throw new Error(`Write failed (${await page.locator(`${row} .error`).allTextContents()}): ${e.message}`);
      });
      await page.click(`${row} button:text-is("Read")`);
      await page.waitForFunction(([sel, want]) => document.querySelector(sel)?.textContent === want,
                                 [`${row} td.value`, `written by ${tag}`], { timeout: 15000 });
      await shot(page, 'device-write');
    });

    await run('attributes_discover_create_delete', async () => {
      const page = adminPage;
      await deviceOpsServed('/3/0/9');
      const row = 'tr[data-path="/3/0/9"]';
      await page.click(`${row} button:text-is("Attributes")`);
      await page.fill(`${row} form.attrs input[name="pmin"]`, '2');
      await page.click(`${row} form.attrs button[type="submit"]`);
      await page.waitForSelector(`${row} .ok:has-text("Write-Attributes")`, { timeout: 15000 }).catch(async (e) => {
        throw new Error(`Write-Attributes failed (${await page.locator(`${row} .error`).allTextContents()}): ${e.message}`);
      });
      await page.click('#discover-3-0');
      const links = await page.waitForSelector('pre.links', { timeout: 15000 });
      const text = await links.textContent();
      assert(/<\/3\/0\/9>;[^\n]*pmin=2/.test(text), `Discover shows pmin=2 on /3/0/9: ${text}`);
      await page.click('#create-32769');
      await page.waitForSelector('#read-32769-1', { timeout: 15000 });
      await page.click('#read-32769-1');
      await page.waitForFunction(() => document.querySelector('tr[data-path="/32769/1/0"] td.value')?.textContent !== undefined);
      await shot(page, 'device-ops');
      page.once('dialog', (d) => d.accept());
      await page.click('#delete-32769-1');
      await page.waitForSelector('#read-32769-1', { state: 'detached', timeout: 15000 });
      const gone = await http(server, 'GET', `/api/devices/${encodeURIComponent(ep)}/32769/1`, admin);
      assert(gone.status === 404, `/32769/1 is gone on the device: ${gone.status} ${gone.text}`);
    });

    await run('composite_read', async () => {
      const page = adminPage;
      await deviceOpsServed('/3/0/0');
      await page.check('input[id="sel/3/0/0"]');
      await page.check('input[id="sel/3/0/1"]');
      await page.fill('#comp-path', '/3/0/9');
      await page.click('#composite form.row button[type="submit"]');
      await page.waitForSelector('#composite ul.chips li:has-text("/3/0/9")');
      await page.click('#comp-read');
      await page.waitForSelector('#comp-result', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`Read-Composite failed (${await pageErrors(page, '#composite')}): ${e.message}`);
      });
      const cell = (p) => page.textContent(`#comp-result tr[data-path="${p}"] td.value`);
      assert(await cell('/3/0/0') === 'Lodestar', `/3/0/0 in the composite answer: ${await cell('/3/0/0')}`);
      assert(await cell('/3/0/1') === 'harness', '/3/0/1 in the composite answer');
      assert(/^\d+$/.test(await cell('/3/0/9')), '/3/0/9 in the composite answer');
      assert(/Read-Composite: device answered 2\.05/.test(await page.textContent('#comp-msg')), 'the outcome is shown');
      await page.locator('#composite').scrollIntoViewIfNeeded();
      await shot(page, 'device-composite', { docs: true, fullPage: false });
      // Write-Composite of two typed values, read back.
      await page.click('#comp-write');
      await page.fill('#comp-path', '/32769/0/1');
      await page.click('#composite form.row button[type="submit"]');
      await page.check('input[id="sel/32769/0/11"]');
      await page.fill('input[id="wc/32769/0/11"]', `composite ${tag}`);
      await page.fill('input[id="wc/32769/0/1"]', '-42');
      await page.click('form.composite-values button[type="submit"]');
      await page.waitForSelector('#comp-msg:has-text("Write-Composite")', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`Write-Composite failed (${await pageErrors(page, '#composite')}): ${e.message}`);
      });
      const back = await http(server, 'GET', `/api/devices/${encodeURIComponent(ep)}/32769/0/11`, admin);
      assert(back.json?.values?.[0]?.value === `composite ${tag}`, `written by Write-Composite: ${back.text}`);
    });

    await run('create_with_values', async () => {
      const page = adminPage;
      await deviceOpsServed('/32769/0/11');
      await page.click('#create-values-32769');
      const form = '#create-form-32769';
      await page.waitForSelector(form);
      await page.fill('#create-32769-inst', '7');
      await page.fill('input[id="cv/32769/7/11"]', `created ${tag}`);
      await page.fill('input[id="cv/32769/7/1"]', '12');
      await page.selectOption('select[id="cv/32769/7/4"]', 'true');
      await shot(page, 'device-create-values');
      await page.click(`${form} button[type="submit"]`);
      await page.waitForSelector('#read-32769-7', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`Create failed (${await pageErrors(page, form)}): ${e.message}`);
      });
      await page.click('#read-32769-7');
      await page.waitForFunction(([sel, want]) => document.querySelector(sel)?.textContent === want,
                                 ['tr[data-path="/32769/7/11"] td.value', `created ${tag}`], { timeout: 15000 });
      assert(await page.textContent('tr[data-path="/32769/7/1"] td.value') === '12', 'the integer was created');
      assert(await page.textContent('tr[data-path="/32769/7/4"] td.value') === 'true', 'the boolean was created');
      page.once('dialog', (d) => d.accept());
      await page.click('#delete-32769-7');
      await page.waitForSelector('#read-32769-7', { state: 'detached', timeout: 15000 });
    });

    await run('bootstrap_form_validation_error_then_fixed', async () => {
      const page = adminPage;
      await page.goto(`${server.http}/#/bootstrap`);
      await page.click('#cfg-new');
      const name = `e2e-${tag}-cfg`;
      await page.fill('#cfg-name', name);
      await page.selectOption('#f-kind', 'template');
      await page.fill('#f-match', `e2e-${tag}-x*`);
      await page.fill('#f-priority', '20');
      await page.check('#f-discover');
      await page.fill('#f-servers-0-uri', 'coaps://127.0.0.1:5684');
      await page.fill('#f-servers-0-ssid', '0');
      await page.fill('#f-servers-0-lifetime', '600');
      await page.click('form.editor button[type="submit"]');
      // The API's message is shown at the field it names.
      const err = await page.waitForSelector('#f-servers-0-ssid-error');
      const text = await err.textContent();
      assert(/ssid/.test(text), `the API's message names the field: "${text}"`);
      assert(await page.getAttribute('#f-servers-0-ssid', 'aria-invalid') === 'true', 'the field is marked invalid');
      await shot(page, 'bootstrap-error', { docs: true });
      await fitsPhone(page, 'bootstrap-form-phone');
      // Switching to JSON and back keeps the data.
      await page.click('#cfg-tab-json');
      const json = JSON.parse(await page.inputValue('#cfg-body'));
      assert(json.match === `e2e-${tag}-x*` && json.priority === 20 && json.discover === true &&
             json.servers[0].ssid === 0 && json.servers[0].lifetime === 600 && json.servers[0].credentials === 'issue',
             `the JSON view has the form's data: ${JSON.stringify(json)}`);
      json.description = 'from the JSON view';
      await page.fill('#cfg-body', JSON.stringify(json, null, 2));
      await page.click('#cfg-tab-form');
      assert(await page.inputValue('#f-description') === 'from the JSON view', 'the form has the JSON edit');
      assert(await page.inputValue('#f-servers-0-ssid') === '0', 'the form kept the ssid');
      await page.fill('#f-servers-0-ssid', '101');
      await page.click('form.editor button[type="submit"]');
      await page.waitForSelector(`tr[data-name="${name}"]`);
      assert(await page.locator('form.editor').count() === 0, 'the editor closed');
      const saved = await http(server, 'GET', `/api/bootstrap/configs/${encodeURIComponent(name)}`, admin);
      assert(saved.json?.body?.servers?.[0]?.ssid === 101 && saved.json.body.description === 'from the JSON view',
             `saved as edited: ${saved.text}`);
      // A JSON error names the field too (shown above the editor in the JSON view).
      await page.click(`tr[data-name="${name}"] button:text-is("Edit")`);
      await page.click('#cfg-tab-json');
      await page.fill('#cfg-body', '{"match": "x*", "sevrers": []}');
      await page.click('form.editor button[type="submit"]');
      assert(/sevrers/.test(await (await page.waitForSelector('#cfg-error .error')).textContent()), 'unknown field named');
      await page.click('form.editor button:text-is("Cancel")');
      await shot(page, 'bootstrap', { docs: true });
    });

    await run('bootstrap_bulk_import', async () => {
      const page = adminPage;
      await page.goto(`${server.http}/#/bootstrap`);
      await page.waitForSelector('#cfg-import');
      const list = [1, 2].map((i) => ({ name: `e2e-${tag}-imp${i}`, endpoint: `e2e-${tag}-imp${i}`,
                                        servers: [{ uri: 'coap://127.0.0.1:5683', ssid: 101 }] }));
      await page.setInputFiles('#cfg-import', { name: 'configs.json', mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify(list)) });
      const ok = await page.waitForSelector('.import .ok, .import .error', { timeout: 15000 });
      assert(/Imported 2 configurations/.test(await ok.textContent()), `imported: ${await ok.textContent()}`);
      await page.waitForSelector(`tr[data-name="e2e-${tag}-imp2"]`);
      // CSV: sent as text/csv.
      await page.setInputFiles('#cfg-import', { name: 'configs.csv', mimeType: 'text/csv',
        buffer: Buffer.from(`endpoint,name,server_uri,ssid,lifetime\ne2e-${tag}-csv1,e2e-${tag}-csv1,coaps://127.0.0.1:5684,101,300\n`) });
      await page.waitForSelector('.import .ok:has-text("1 configuration from configs.csv")', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`CSV import failed (${await pageErrors(page, '.import')}): ${e.message}`);
      });
      await page.waitForSelector(`tr[data-name="e2e-${tag}-csv1"]`);
      // A bad file: the API's message naming the item, nothing imported.
      await page.setInputFiles('#cfg-import', { name: 'bad.json', mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify([{ name: `e2e-${tag}-imp3`, endpoint: `e2e-${tag}-imp3`, servers: [{ uri: 'coap://x', ssid: 0 }] }])) });
      const bad = await page.waitForSelector('.import .error', { timeout: 15000 });
      assert(/\[0\]/.test(await bad.textContent()), `the error names the item: ${await bad.textContent()}`);
    });

    await run('factory_batch_download_and_revoke', async () => {
      const page = adminPage;
      await page.goto(`${server.http}/#/factory`);
      const fac = await http(server, 'GET', '/api/factory/batches/0', admin);
      if (fac.status === 404 && /no such resource/.test(fac.text))
        throw new Skip('the factory API is not served yet');
      const prefix = `e2e-${tag}-f`;
      await page.fill('#fb-prefix', prefix);
      await page.fill('#fb-count', '3');
      await page.click('form.grid-form button[type="submit"]');
      const row = await page.waitForSelector('tr[data-batch]', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`no batch (${await page.locator('.error').allTextContents()}): ${e.message}`);
      });
      const [dl] = await Promise.all([page.waitForEvent('download'), row.$('button:text-is("Download CSV")').then((b) => b.click())]);
      const csv = await readFile(await dl.path(), 'utf8');
      assert(csv.includes(`${prefix}1`) && csv.includes(`${prefix}3`), `the CSV lists the batch: ${csv.slice(0, 200)}`);
      await shot(page, 'factory', { docs: true });
      const ep1 = `${prefix}1`;
      await page.goto(`${server.http}/#/devices/${encodeURIComponent(ep1)}`);
      await page.waitForSelector('#rv-reason');
      await page.fill('#rv-reason', 'e2e: lost in transit');
      page.once('dialog', (d) => d.accept());
      await page.click('form.revoke button[type="submit"]');
      await page.waitForSelector('form.revoke .ok', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`revoke failed (${await page.locator('form.revoke .error').allTextContents()}): ${e.message}`);
      });
      const d = await http(server, 'GET', `/api/devices/${encodeURIComponent(ep1)}`, admin);
      assert(d.json.credentials.length > 0 && d.json.credentials.every((c) => c.state === 'revoked' || c.revoked_at),
             `the server credentials are revoked: ${d.text}`);
      await shot(page, 'device-revoked');
    });

    await run('admin_pages_render', async () => {
      const page = adminPage;
      for (const [hash, sel, name] of [['#/audit', '#audit-title', 'audit'], ['#/tokens', '#tok-title', 'tokens'],
                                       ['#/events', '#ev-title', 'events']]) {
        await page.goto(`${server.http}/${hash}`);
        await page.waitForSelector(sel);
        await page.waitForSelector('main.page :is(table, .empty, .error)');
        assert(await page.locator('.error').count() === 0,
               `${name}: no error shown (${await page.locator('.error').allTextContents()})`);
        await shot(page, name, { docs: name !== 'audit' });
      }
      assert(page.consoleErrors.length === 0, `no console errors: ${page.consoleErrors.join(' | ')}`);
    });

    await run('viewer_sees_no_admin_pages', async () => {
      const created = await http(server, 'POST', '/api/tokens', admin, { name: `e2e-viewer-${tag}`, role: 'viewer' });
      assert(created.status === 201, `viewer token created: ${created.text}`);
      const { ctx, page } = await signIn(browser, server, created.json.token);
      await page.waitForSelector('#me');
      assert(/viewer/.test(await page.textContent('#me')), 'the header says viewer');
      for (const label of ['Bootstrap', 'Factory', 'Audit log', 'Tokens'])
        assert(await page.locator('header nav a', { hasText: label }).count() === 0, `no ${label} link`);
      await page.goto(`${server.http}/#/tokens`);
      const err = await page.waitForSelector('.error');
      assert(/admin role/.test(await err.textContent()), 'the tokens page says it needs admin');
      await page.goto(`${server.http}/#/devices/${encodeURIComponent(ep)}`);
      await page.waitForSelector('#read-3-0');
      assert(await page.locator('button', { hasText: /^(Write|Execute|Observe)$/ }).count() === 0,
             'no write, execute or observe button');
      await shot(page, 'viewer-device');
      // The Rotations page: no admin audit for a viewer, no start form; an empty state.
      await page.goto(`${server.http}/#/workflows`);
      await page.waitForSelector('#wf-title');
      await page.waitForSelector('main.page .empty');
      assert(await page.locator('#rot-form').count() === 0, 'no rotation form for a viewer');
      assert(await page.locator('.error').count() === 0, `no error: ${await pageErrors(page)}`);
      assert(page.consoleErrors.length === 0, `no console errors: ${page.consoleErrors.join(' | ')}`);
      // The token is deleted while the page is open: the next call is 401.
      const del = await http(server, 'DELETE', `/api/tokens/${created.json.id}`, admin);
      assert(del.status === 204, `viewer token deleted: ${del.status}`);
      await page.goto(`${server.http}/#/devices`);
      await page.reload();
      await page.waitForSelector('#token', { timeout: 10000 });
      await ctx.close();
    });
  } finally {
    await browser.close().catch(() => {});
    if (device) {
      const code = await stopDevice(device);
      if (code !== 0) fail('device_exit', `e2e_device exited ${code}:\n${device.err.slice(-3000)}`);
    }
    const code = await stopProc(server);
    if (code !== 0) fail('server_exit', `lodestar-server exited ${code}:\n${server.err.slice(-4000)}`);
  }
  finish([server]);
}

main().catch((e) => { console.log(`FAIL setup: ${e.stack || e}`); process.exit(1); });
