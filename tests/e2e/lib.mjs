// SPDX-License-Identifier: Apache-2.0
//
// tests/e2e/lib.mjs -- what every e2e spec shares: the requirement checks
// (exit 77 = skip when the database, chromium, node_modules or
// static/vendor/ is missing), the daemons as processes (lodestar-server,
// lodestar-bootstrap, e2e_device), HTTP calls with a token, the case
// runner with its Check-style summary ("Checks: N, Failures: F, Errors: 0",
// counted by scripts/lib/count_tests.py), screenshots and sign-in.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SKIP = 77;
export const here = dirname(fileURLToPath(import.meta.url));
export const root = process.env.LODESTAR_SOURCE_ROOT || join(here, '..', '..');
export const artifacts = process.env.LODESTAR_E2E_ARTIFACTS || join(here, 'artifacts');
export const CHROMIUM = '/usr/bin/chromium';
export const KEY = '8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e';
export const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`;
const SAN = () => ({ ASAN_OPTIONS: process.env.ASAN_OPTIONS || '', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || '' });

// requirements('dashboard', {device, bootstrap, vendor}) exits 77 with a
// reason when something the spec needs is missing.
export function requirements(spec, need = {}) {
  const skip = (why) => { console.log(`${spec} e2e: ${why}; skipped`); process.exit(SKIP); };
  if (!process.env.LODESTAR_TEST_PGURI) skip('LODESTAR_TEST_PGURI is not set (scripts/test.sh sets it)');
  if (!process.env.LODESTAR_SERVER_BIN) skip('LODESTAR_SERVER_BIN is not set (run through meson test)');
  if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium)`);
  if (!existsSync(join(here, 'node_modules', 'playwright-core')))
    skip('tests/e2e/node_modules is missing (npm ci in tests/e2e; scripts/test.sh does)');
  if (need.device && !process.env.LODESTAR_E2E_DEVICE) skip('LODESTAR_E2E_DEVICE is not set (run through meson test)');
  if (need.bootstrap && !process.env.LODESTAR_BOOTSTRAP_BIN) skip('LODESTAR_BOOTSTRAP_BIN is not set (run through meson test)');
  for (const f of need.vendor || ['preact.module.js'])
    if (!existsSync(join(root, 'static', 'vendor', f)))
      skip(`static/vendor/${f} is missing (scripts/lib/ui.sh ui_vendor_install; run.sh and test.sh do)`);
  mkdirSync(artifacts, { recursive: true });
}

// ---- processes ----

export function startProc(name, bin, args, env) {
  const p = spawn(bin, args, { env: { PATH: process.env.PATH, ...SAN(), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  p.out = ''; p.err = '';
  p.stdout.on('data', (d) => { p.out += d; });
  p.stderr.on('data', (d) => { p.err += d; });
  p.exited = new Promise((res) => p.on('exit', (code, sig) => res(code ?? sig)));
  p.label = name;
  return p;
}

export async function waitFor(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// "event=listening proto=coap addr=127.0.0.1:40000" -> "127.0.0.1:40000"
function listening(p, proto) {
  const m = new RegExp(`event=listening proto=${proto} addr="?([^\\s"]+)`).exec(p.err);
  return m && m[1];
}

async function started(p, protos) {
  let dead = false;
  p.exited.then(() => { dead = true; });
  await waitFor(`${p.label} to listen`, () => {
    if (dead) throw new Error(`${p.label} exited:\n${p.err}`);
    return protos.every((x) => listening(p, x)) && /event=started /.test(p.err);
  }, 30000);
  for (const x of protos) p[x] = listening(p, x);
}

const DB_ENV = () => ({ LODESTAR_DB: process.env.LODESTAR_TEST_PGURI, LODESTAR_MASTER_KEY: KEY });

// lodestar-server on ephemeral ports: .http (URL), .coap/.coaps
// (HOST:PORT), .coapHost, .coapPort.
export async function startServer(admin, { models = true } = {}) {
  const args = ['--coap', '127.0.0.1:0', '--coaps', '127.0.0.1:0', '--http', '127.0.0.1:0',
                '--admin-token', admin, '--static', join(root, 'static')];
  if (models) args.push('--models', join(root, 'tests', 'data', 'models'));
  const s = startProc('lodestar-server', process.env.LODESTAR_SERVER_BIN, args, DB_ENV());
  await started(s, ['http', 'coap', 'coaps']);
  s.http = `http://${s.http}`;
  s.coapHost = s.coap.slice(0, s.coap.lastIndexOf(':'));
  s.coapPort = s.coap.slice(s.coap.lastIndexOf(':') + 1);
  return s;
}

// lodestar-bootstrap on ephemeral ports: .coap / .coaps (HOST:PORT).
export async function startBootstrap() {
  const b = startProc('lodestar-bootstrap', process.env.LODESTAR_BOOTSTRAP_BIN,
    ['--coap', '127.0.0.1:0', '--coaps', '127.0.0.1:0'], DB_ENV());
  await started(b, ['coap', 'coaps']);
  return b;
}

export async function stopProc(p, sig = 'SIGTERM') {
  if (p.exitCode !== null || p.signalCode !== null) return p.exited;
  p.kill(sig);
  const t = setTimeout(() => p.kill('SIGKILL'), 10000);
  const r = await p.exited;
  clearTimeout(t);
  return r;
}

// e2e_device stops on "quit" (de-registers); a non-zero exit is a failure.
export async function stopDevice(device) {
  if (device.exitCode === null && device.signalCode === null) device.stdin.end('quit\n');
  const t = setTimeout(() => device.kill('SIGKILL'), 15000);
  const code = await device.exited;
  clearTimeout(t);
  return code;
}

export async function http(server, method, path, tok, body) {
  const headers = { Authorization: `Bearer ${tok}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(server.http + path, { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json, text };
}

export const newAdminToken = () => randomBytes(32).toString('hex');

// ---- the cases ----

export class Skip extends Error {}
export const results = [];

export async function run(name, fn) {
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

export function fail(name, msg) {
  results.push({ name, ok: false });
  console.log(`FAIL ${name}: ${msg}`);
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }

// Prints the summary and exits 0 (all passed) or 1.
export function finish(logs = []) {
  const run_ = results.filter((r) => !r.skipped);
  const failed = run_.filter((r) => !r.ok).length;
  const pct = run_.length ? Math.floor((100 * (run_.length - failed)) / run_.length) : 100;
  console.log(`${pct}%: Checks: ${run_.length}, Failures: ${failed}, Errors: 0`);
  if (failed) for (const p of logs) if (p) console.log(`${p.label} log (tail):\n${p.err.slice(-3000)}`);
  console.log(`screenshots: ${artifacts}`);
  process.exit(failed ? 1 : 0);
}

// A full-page screenshot in $LODESTAR_E2E_ARTIFACTS; with
// LODESTAR_E2E_DOCS_SHOTS=1 and docs set, also docs/screenshots/<name>.png.
export async function shot(page, name, { docs = false, fullPage = true } = {}) {
  const file = join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  if (docs && process.env.LODESTAR_E2E_DOCS_SHOTS === '1')
    copyFileSync(file, join(root, 'docs', 'screenshots', `${name}.png`));
}

export async function launch() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

// A new browser context signed in with tok; page.consoleErrors collects
// script errors (a refused call's "Failed to load resource" is the page's
// own business: it shows those).
export async function signIn(browser, server, tok, viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  await page.goto(`${server.http}/`);
  await page.fill('#token', tok);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#me');
  return { ctx, page };
}

// Asserts the page fits a phone (390 px: nothing wider than the screen but
// the tables' own horizontal scroll), screenshots it as name, and goes back
// to the laptop size.
export async function fitsPhone(page, name) {
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  await shot(page, name);
  await page.setViewportSize({ width: 1280, height: 800 });
  assert(wide <= 390, `${name}: the page fits a phone (${wide} px wide)`);
}

// The text of every .error on the page (for failure messages).
export async function pageErrors(page, scope = '') {
  return (await page.locator(`${scope} .error`).allTextContents()).join(' | ');
}
