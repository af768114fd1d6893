// SPDX-License-Identifier: Apache-2.0
//
// tests/e2e/dashboard.mjs -- the dashboard end to end: headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) against a real
// lodestar-server on the test PostgreSQL, with the harness LwM2M device as
// a process (e2e_device.c, LwM2M 1.1) as the device.
//
// Cases: sign in with the admin token; a bad token (typed, Enter) gets
// the sign-in error; a device registers and its row appears live (no
// reload); Read /3/0 from the device page shows its values; Write
// /32769/0/11 and read it back; Write-Attributes pmin on /3/0/9 and
// Discover shows it; Create an instance of 32769 and Delete it; Observe
// /3/0/9 and the plot gets the points the device notifies (device cases
// skip, not pass, while the device-operation API is not served); a
// bootstrap configuration with a validation error shows the API's message,
// then saves once fixed; a factory batch is created and its CSV downloaded,
// and a batch device's credentials are revoked from its page; the admin
// pages render without a script error; a viewer token sees no admin page
// or write button; a token deleted mid-session sends the page back to
// sign-in.  A screenshot of each page goes to $LODESTAR_E2E_ARTIFACTS.
//
// Run by `meson test --suite e2e` (tests/e2e/meson.build).  Prints a
// Check-style summary ("Checks: N, Failures: F, Errors: 0") that
// scripts/lib/count_tests.py counts case by case; skipped cases are not
// counted.  Exits 77 (skip) when what it needs is not there: the test
// database, chromium, node_modules here, static/vendor/.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 77;
const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.LODESTAR_SOURCE_ROOT || join(here, '..', '..');
const artifacts = process.env.LODESTAR_E2E_ARTIFACTS || join(here, 'artifacts');
const CHROMIUM = '/usr/bin/chromium';
const KEY = '8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e';
const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`;

function skip(why) {
  console.log(`dashboard e2e: ${why}; skipped`);
  process.exit(SKIP);
}

function requirements() {
  if (!process.env.LODESTAR_TEST_PGURI) skip('LODESTAR_TEST_PGURI is not set (scripts/test.sh sets it)');
  if (!process.env.LODESTAR_SERVER_BIN) skip('LODESTAR_SERVER_BIN is not set (run through meson test)');
  if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium)`);
  if (!existsSync(join(here, 'node_modules', 'playwright-core')))
    skip('tests/e2e/node_modules is missing (npm ci in tests/e2e; scripts/test.sh does)');
  if (!process.env.LODESTAR_E2E_DEVICE) skip('LODESTAR_E2E_DEVICE is not set (run through meson test)');
  if (!existsSync(join(root, 'static', 'vendor', 'preact.module.js')))
    skip('static/vendor/ is empty (scripts/lib/ui.sh ui_vendor_install; run.sh and test.sh do)');
}

// ---- processes ----

function startProc(name, bin, args, env) {
  const p = spawn(bin, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  p.out = ''; p.err = '';
  p.stdout.on('data', (d) => { p.out += d; });
  p.stderr.on('data', (d) => { p.err += d; });
  p.exited = new Promise((res) => p.on('exit', (code, sig) => res(code ?? sig)));
  p.label = name;
  return p;
}

async function waitFor(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startServer(admin) {
  const s = startProc('server', process.env.LODESTAR_SERVER_BIN,
    ['--coap', '127.0.0.1:0', '--coaps', '127.0.0.1:0', '--http', '127.0.0.1:0',
     '--admin-token', admin, '--static', join(root, 'static'),
     '--models', join(root, 'tests', 'data', 'models')],
    { LODESTAR_DB: process.env.LODESTAR_TEST_PGURI, LODESTAR_MASTER_KEY: KEY,
      ASAN_OPTIONS: process.env.ASAN_OPTIONS || '', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || '' });
  let dead = false;
  s.exited.then(() => { dead = true; });
  const addr = (proto) => {
    const m = new RegExp(`event=listening proto=${proto} addr="?([^\\s"]+)`).exec(s.err);
    return m && m[1];
  };
  await waitFor('lodestar-server to listen', () => {
    if (dead) throw new Error(`lodestar-server exited:\n${s.err}`);
    return addr('http') && addr('coap') && /event=started /.test(s.err);
  }, 30000);
  s.http = `http://${addr('http')}`;
  const coap = addr('coap');
  s.coapHost = coap.slice(0, coap.lastIndexOf(':'));
  s.coapPort = coap.slice(coap.lastIndexOf(':') + 1);
  return s;
}

async function stopProc(p, sig = 'SIGTERM') {
  if (p.exitCode !== null || p.signalCode !== null) return p.exited;
  p.kill(sig);
  const t = setTimeout(() => p.kill('SIGKILL'), 10000);
  const r = await p.exited;
  clearTimeout(t);
  return r;
}

async function http(server, method, path, tok, body) {
  const headers = { Authorization: `Bearer ${tok}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(server.http + path, { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json, text };
}

// ---- the cases ----

const results = [];
class Skip extends Error {}

async function run(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    if (e instanceof Skip) {
      results.push({ name, skipped: true });
      console.log(`SKIP ${name}: ${e.message}`);
    } else {
      results.push({ name, ok: false });
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function signIn(browser, server, tok) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.consoleErrors = [];
  // A refused call is logged by the browser ("Failed to load resource"):
  // the page shows those itself; anything else is a script error.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  await page.goto(`${server.http}/`);
  await page.fill('#token', tok);
  await page.click('button[type="submit"]');
  return { ctx, page };
}

async function main() {
  requirements();
  mkdirSync(artifacts, { recursive: true });
  const { chromium } = await import('playwright-core');
  const admin = randomBytes(32).toString('hex');
  const server = await startServer(admin);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
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
        [`${server.coapHost}:${server.coapPort}`, ep],
        { ASAN_OPTIONS: process.env.ASAN_OPTIONS || '', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || '' });
      const row = await page.waitForSelector(`tr[data-endpoint="${ep}"]`, { timeout: 15000 });
      assert(/registered/.test(await row.textContent()), 'the new row says registered');
      await page.fill('#device-search', '');
      await page.waitForSelector(`tr[data-endpoint="${ep}"]`);
      await shot(page, 'devices');
      await page.setViewportSize({ width: 390, height: 844 });   // a phone
      await shot(page, 'devices-phone');
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
      await shot(page, 'device-observe');
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

    await run('bootstrap_validation_error_then_saved', async () => {
      const page = adminPage;
      await page.goto(`${server.http}/#/bootstrap`);
      await page.click('text=New configuration');
      const name = `e2e-${tag}-cfg`;
      await page.fill('#cfg-name', name);
      const bad = { endpoint: name, servers: [{ uri: 'coap://127.0.0.1:5683', ssid: 0, security: 'nosec' }] };
      await page.fill('#cfg-body', JSON.stringify(bad, null, 2));
      await page.click('form.editor button[type="submit"]');
      const err = await page.waitForSelector('#cfg-error .error');
      const text = await err.textContent();
      assert(/ssid/.test(text), `the API's message names the field: "${text}"`);
      await shot(page, 'bootstrap-error');
      bad.servers[0].ssid = 101;
      await page.fill('#cfg-body', JSON.stringify(bad, null, 2));
      await page.click('form.editor button[type="submit"]');
      await page.waitForSelector(`tr[data-name="${name}"]`);
      assert(await page.locator('form.editor').count() === 0, 'the editor closed');
      await shot(page, 'bootstrap');
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
      const csv = await (await import('node:fs/promises')).readFile(await dl.path(), 'utf8');
      assert(csv.includes(`${prefix}1`) && csv.includes(`${prefix}3`), `the CSV lists the batch: ${csv.slice(0, 200)}`);
      await shot(page, 'factory');
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
        await shot(page, name);
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
      device.stdin.end('quit\n');
      const t = setTimeout(() => device.kill('SIGKILL'), 15000);
      const code = await device.exited;
      clearTimeout(t);
      if (code !== 0) {
        results.push({ name: 'device_exit', ok: false });
        console.log(`FAIL device_exit: e2e_device exited ${code}:\n${device.err.slice(-3000)}`);
      }
    }
    const code = await stopProc(server);
    if (code !== 0) {
      results.push({ name: 'server_exit', ok: false });
      console.log(`FAIL server_exit: lodestar-server exited ${code}:\n${server.err.slice(-4000)}`);
    }
  }
  const run_ = results.filter((r) => !r.skipped);
  const failed = run_.filter((r) => !r.ok).length;
  const pct = run_.length ? Math.floor((100 * (run_.length - failed)) / run_.length) : 100;
  console.log(`${pct}%: Checks: ${run_.length}, Failures: ${failed}, Errors: 0`);
  if (failed) console.log(`lodestar-server log (tail):\n${server.err.slice(-3000)}`);
  console.log(`screenshots: ${artifacts}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.log(`FAIL setup: ${e.stack || e}`); process.exit(1); });
