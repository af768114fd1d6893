// SPDX-License-Identifier: Apache-2.0
//
// tests/e2e/lifecycle.mjs -- a device's key lifecycle from the dashboard,
// end to end: headless Chromium against lodestar-server and
// lodestar-bootstrap (processes, the test PostgreSQL), with e2e_device in
// --bootstrap mode as the device: straight from a factory batch it has only
// a bootstrap account (DTLS-PSK); a template configuration (created through
// the form editor) issues it server keys; it bootstraps, registers over
// DTLS-PSK, and from then on sends an Update every second, bootstrapping
// again by itself when one fails or when told to (Execute /1/x/9).
//
// Cases: the device bootstraps and registers with issued keys (its page
// shows the session and the credential, never a key); revoking its
// credentials from its page (reason + confirmation) drops it -- the
// devices list and its page show it offline live -- and it comes back
// registered with new keys after re-bootstrapping; Rotate on its page
// (server-initiated bootstrap) is followed live to re_registered; a bulk
// rotation started on the Rotations page reaches 100 % live.  Screenshots
// go to $LODESTAR_E2E_ARTIFACTS (and docs/screenshots/ with
// LODESTAR_E2E_DOCS_SHOTS=1).
//
// Run by `meson test --suite e2e`; exits 77 (skip) without the test
// database, chromium, node_modules, static/vendor/ or the binaries.

import { requirements, startProc, startServer, startBootstrap, stopProc, stopDevice, http, run,
         assert, waitFor, shot, fitsPhone, signIn, launch, finish, fail, newAdminToken, tag, pageErrors } from './lib.mjs';

const STEP_MS = 30000;   // one bootstrap + registration, with keys loading, under ASan

// The device's stdout lines "registered rd/x" so far.
const registrations = (dev) => (dev.out.match(/^registered /gm) || []).length;

async function main() {
  requirements('lifecycle', { device: true, bootstrap: true });
  const admin = newAdminToken();
  const server = await startServer(admin);
  let bs = null; let device = null; let browser = null;
  const ep = `e2e-${tag}-lc-1`;
  const enc = encodeURIComponent;
  try {
    bs = await startBootstrap();
    browser = await launch();
    const { page } = await signIn(browser, server, admin);
    const watcher = (await signIn(browser, server, admin)).page;   // the devices list, watched live

    await run('bootstrap_with_issued_keys', async () => {
      // The template, made in the form editor: keys issued for lodestar-server.
      await page.goto(`${server.http}/#/bootstrap`);
      await page.click('#cfg-new');
      await page.fill('#cfg-name', `e2e-${tag}-lc`);
      await page.selectOption('#f-kind', 'template');
      await page.fill('#f-match', `e2e-${tag}-lc-*`);
      await page.fill('#f-priority', '1');
      await page.uncheck('#f-allow_nosec');
      await page.fill('#f-servers-0-uri', `coaps://${server.coaps}`);
      await page.fill('#f-servers-0-ssid', '101');
      await page.selectOption('#f-servers-0-security', 'psk');
      await page.selectOption('#f-servers-0-credentials', 'issue');
      await page.fill('#f-servers-0-lifetime', '300');
      await page.fill('#f-servers-0-binding', 'U');
      await page.click('form.editor button[type="submit"]');
      await page.waitForSelector(`tr[data-name="e2e-${tag}-lc"]`).catch(async (e) => {
        throw new Error(`config not saved (${await pageErrors(page)}): ${e.message}`);
      });
      // The factory account: bootstrap PSK only.
      const batch = await http(server, 'POST', '/api/factory/batches', admin,
        { endpoints: [ep], bootstrap: { uri: `coaps://${bs.coaps}`, security: 'psk' } });
      assert(batch.status === 201, `factory batch: ${batch.status} ${batch.text}`);
      const doc = await http(server, 'GET', `/api/factory/batches/${batch.json.id}`, admin);
      const acc = doc.json.devices[0].bootstrap;
      await watcher.goto(`${server.http}/#/devices`);
      await watcher.fill('#device-search', `e2e-${tag}-lc`);
      await watcher.waitForSelector('.live-live');
      device = startProc('e2e_device', process.env.LODESTAR_E2E_DEVICE,
        ['--bootstrap', bs.coaps, ep, acc.identity, acc.key]);
      await waitFor('the device to bootstrap and register', () => {
        if (device.exitCode !== null) throw new Error(`e2e_device exited ${device.exitCode}:\n${device.err}`);
        return registrations(device) >= 1;
      }, STEP_MS);
      await watcher.waitForSelector(`tr[data-endpoint="${ep}"]:has(.state-registered)`, { timeout: 15000 });
      await page.goto(`${server.http}/#/devices/${enc(ep)}`);
      await page.waitForSelector('#reg-state[data-state="registered"]');
      const reg = await page.textContent('#reg-state');
      assert(/psk/.test(reg), `registered over DTLS-PSK: ${reg}`);
      await page.waitForSelector('#cred-table tr[data-state="active"]', { timeout: 15000 });
      await page.waitForSelector('#bs-title ~ .table-wrap .out-success', { timeout: 15000 });
      const html = await page.content();
      assert(!html.includes(acc.key), 'the page never shows a key');
      await shot(page, 'device-bootstrapped');
      await page.locator('#reg-title').scrollIntoViewIfNeeded();
      await shot(page, 'device-credentials', { docs: true, fullPage: false });
      await fitsPhone(page, 'device-phone');
    });

    await run('revoke_drop_and_come_back', async () => {
      assert(registrations(device) >= 1, 'the device is registered');
      const before = registrations(device);
      // The device holds its Updates until the drop is on screen, so that
      // its re-bootstrap cannot race the pages.
      const oks = () => (device.out.match(/^ok$/gm) || []).length;
      const okBefore = oks();
      device.stdin.write('hold\n');
      await waitFor('the device to hold', () => oks() > okBefore);
      await page.fill('#rv-reason', 'e2e: suspected leak');
      let asked = '';
      page.once('dialog', (d) => { asked = d.message(); d.accept(); });
      await page.click('form.revoke button[type="submit"]');
      await page.waitForSelector('form.revoke .ok', { timeout: 15000 }).catch(async (e) => {
        throw new Error(`revoke failed (${await pageErrors(page, 'form.revoke')}): ${e.message}`);
      });
      assert(/Revoke the server credentials/.test(asked), `a confirmation was asked: "${asked}"`);
      // Dropped: both pages show it live.
      await page.waitForSelector('#reg-state[data-state="offline"]', { timeout: 15000 });
      await watcher.waitForSelector(`tr[data-endpoint="${ep}"]:has(.state-offline)`, { timeout: 15000 });
      await shot(page, 'device-revoked-offline');
      device.stdin.write('go\n');
      // It re-bootstraps by itself and is back, with new keys.
      await waitFor('the device to come back', () => registrations(device) > before, STEP_MS);
      assert(/dropped/.test(device.out), `the device saw the drop: ${device.out}`);
      await page.waitForSelector('#reg-state[data-state="registered"]', { timeout: 15000 });
      await watcher.waitForSelector(`tr[data-endpoint="${ep}"]:has(.state-registered)`, { timeout: 15000 });
      await page.waitForSelector('#cred-table tr[data-state="revoked"]');
      await page.waitForSelector('#cred-table tr[data-state="active"]', { timeout: 15000 });
      await shot(page, 'device-back');
    });

    await run('rotate_one_device', async () => {
      const before = registrations(device);
      // By keyboard: type the reason, Enter, accept the confirmation.
      await page.focus('#rot-reason');
      await page.keyboard.type('e2e: yearly rotation');
      page.once('dialog', (d) => d.accept());
      await page.keyboard.press('Enter');
      await page.waitForSelector('#rot-status .wf-re_registered', { timeout: STEP_MS }).catch(async (e) => {
        throw new Error(`no re_registered (${await page.locator('form.rotate').textContent()}; device: ${device.out}): ${e.message}`);
      });
      assert(registrations(device) > before, 'the device registered again');
    });

    await run('rotation_progress_100', async () => {
      await page.goto(`${server.http}/#/workflows`);
      await page.waitForSelector('#rot-form');
      await page.fill('#rot-match', `e2e-${tag}-lc-*`);
      await page.fill('#rot-rate', '5');
      await page.fill('#rot-why', 'e2e: bulk rotation');
      page.once('dialog', (d) => d.accept());
      await page.click('#rot-form button[type="submit"]');
      const ok = await page.waitForSelector('#rot-form + p.ok, #rot-form .error', { timeout: 15000 });
      const m = /Rotation (\d+) started: 1 device/.exec(await ok.textContent());
      assert(m, `the rotation started: ${await ok.textContent()}`);
      const row = `tr[data-rotation="${m[1]}"]`;
      await page.waitForSelector(row);
      await shot(page, 'rotations-running');
      await page.waitForSelector(`${row}[data-done="true"]`, { timeout: STEP_MS }).catch(async (e) => {
        throw new Error(`the rotation did not finish (${await page.textContent(row)}; device: ${device.out}): ${e.message}`);
      });
      assert(/100 %/.test(await page.textContent(`${row} .pct`)), 'the bar says 100 %');
      assert((await page.textContent(`${row}`)).includes('e2e: bulk rotation'), 'the reason is shown');
      // Finished rotations are hidden unless asked for.
      await page.check('#wf-all');
      await page.waitForSelector('#wf-table tr[data-workflow]');
      await shot(page, 'rotations', { docs: true });
      await fitsPhone(page, 'rotations-phone');
      assert(page.consoleErrors.length === 0, `no console errors: ${page.consoleErrors.join(' | ')}`);
    });

    await run('bootstrap_page_sessions', async () => {
      await page.goto(`${server.http}/#/bootstrap`);
      // The page lists the sessions seen since sign-in, with their outcome.
      await page.waitForSelector(`#bs-sessions tr[data-endpoint="${ep}"] .out-success`);
      await shot(page, 'bootstrap-sessions');
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (device) {
      const code = await stopDevice(device);
      if (code !== 0) fail('device_exit', `e2e_device exited ${code}:\n${device.err.slice(-3000)}`);
    }
    if (bs) {
      const code = await stopProc(bs);
      if (code !== 0) fail('bootstrap_exit', `lodestar-bootstrap exited ${code}:\n${bs.err.slice(-4000)}`);
    }
    const code = await stopProc(server);
    if (code !== 0) fail('server_exit', `lodestar-server exited ${code}:\n${server.err.slice(-4000)}`);
  }
  finish([server, bs, device]);
}

main().catch((e) => { console.log(`FAIL setup: ${e.stack || e}`); process.exit(1); });
