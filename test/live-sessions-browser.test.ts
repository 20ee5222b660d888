// Live sessions in Chromium (issue 13): the plant manager's list names the vendor, the company
// and the site, shows elapsed and remaining time and who watches; the vendor's session screen
// shows, live, who is watching; "Terminate session" (the access stays: the vendor may reconnect)
// and "Terminate and revoke access" (nothing can be reopened), each confirmed, from the list
// and the watch screen. With AIRLOCK_SHOTS_DIR set, the screens are saved there.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestPortal } from './support/portal.ts';
import { LARGE, SMALL, shots, startScreenLab, type ScreenLab } from './support/browser.ts';
import { loginAll, type Browserless } from './support/http.ts';
import { grantNow, readRequest } from './support/workflow.ts';


let portal: TestPortal;
let spool: string;
let lab: ScreenLab;
let vera: Browserless;
let mona: Browserless;

const page = (username: string, viewport: { width: number; height: number } = LARGE): Promise<Page> => lab.page(username, { viewport, timezoneId: 'Europe/Paris' });

/** The vendor opens the grant from the home page; returns the session id. */
async function openSession(p: Page, requestId: string): Promise<string> {
  await p.getByTestId(`home-open-${requestId}`).click();
  await p.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
  const id = await p.evaluate(() => window.__airlockSession?.sessionId);
  if (id === undefined) throw new Error('no session id on the page');
  return id;
}

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-live-browser-spool-'));
  lab = await startScreenLab({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 10, targets: true });
  portal = lab.portal;
  [vera, mona] = await loginAll(portal.publicUrl, 'vera', 'mona');
});

afterAll(async () => {
  await lab?.close();
  rmSync(spool, { recursive: true, force: true });
});

test('the list names vendor, company and site and who watches; the vendor sees the watcher live; terminate leaves the access', async () => {
  const requestId = await grantNow(portal, vera, mona, 'cnc-07');
  const vendor = await page('vera');
  const id = await openSession(vendor, requestId);
  expect(await vendor.getByTestId('session-watchers').count()).toBe(0);

  const olga = await page('olga');
  await olga.getByTestId('nav-live').click();
  const row = olga.getByTestId(`live-row-${id}`);
  await row.waitFor();
  const text = (await row.textContent()) ?? '';
  expect(text).toContain('Vera Vendor');
  expect(text).toContain('Acme Automation');
  expect(text).toContain('Plant A (Lyon)');
  expect(text).not.toMatch(/acme-automation|site-a/);
  expect(await olga.getByTestId(`live-watchers-${id}`).textContent()).toBe('nobody');

  const manager = await page('mona');
  await manager.getByTestId('nav-live').click();
  await manager.getByTestId(`watch-${id}`).click();
  await manager.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
  // The vendor is told at once, and the other manager's list follows.
  await vendor.getByTestId('session-watchers').filter({ hasText: 'Mona Manager is watching' }).waitFor({ timeout: 5_000 });
  await olga.getByTestId(`live-watchers-${id}`).filter({ hasText: 'Mona Manager' }).waitFor({ timeout: 10_000 });
  await shots(vendor, 'session-watched');
  await shots(olga, 'live-sessions');

  // "Terminate session" from the watch screen says that the access stays.
  await manager.getByTestId(`terminate-${id}`).click();
  const consequence = manager.getByTestId(`terminate-consequence-${id}`);
  await consequence.waitFor();
  expect(await consequence.textContent()).toContain('The access stays');
  await shots(manager, 'terminate-confirm');
  await manager.getByTestId(`terminate-reason-${id}`).fill('wrong program loaded');
  await manager.getByTestId(`confirm-terminate-${id}`).click();
  await vendor.getByTestId('session-message').filter({ hasText: 'terminated by Mona Manager' }).waitFor({ timeout: 10_000 });
  expect(await vendor.getByTestId('session-watchers').count()).toBe(0);
  expect((await readRequest(vera, requestId)).state).toBe('active');
  // The access stays: the vendor may open the machine again (from "My requests", after checking with the manager).
  await vendor.getByTestId('session-back').click();
  await vendor.getByTestId(`open-${requestId}`).waitFor();
});

test('"Terminate and revoke access" from the list says nothing can be reopened, and revokes', async () => {
  const requestId = await grantNow(portal, vera, mona, 'press-hmi');
  const vendor = await page('vera');
  const id = await openSession(vendor, requestId);
  const manager = await page('mona', SMALL);
  await manager.getByTestId('nav-live').click();
  await manager.getByTestId(`terminate-revoke-${id}`).click();
  const consequence = manager.getByTestId(`terminate-revoke-consequence-${id}`);
  await consequence.waitFor();
  expect(await consequence.textContent()).toContain('cannot reconnect');
  await shots(manager, 'terminate-revoke-confirm');
  // Leaving the dialog changes nothing.
  await manager.keyboard.press('Escape');
  await consequence.waitFor({ state: 'detached' });
  expect((await readRequest(vera, requestId)).state).toBe('active');

  await manager.getByTestId(`terminate-revoke-${id}`).click();
  await manager.getByTestId(`terminate-revoke-reason-${id}`).fill('line stopped for inspection');
  await manager.getByTestId(`confirm-terminate-revoke-${id}`).click();
  await manager.getByTestId('live-notice').filter({ hasText: 'cannot be reopened' }).waitFor();
  await vendor.locator('[data-testid="session-end"][data-kind="revoked"]').waitFor({ timeout: 10_000 });
  expect(await vendor.getByTestId('session-reconnect').count()).toBe(0);
  expect(await readRequest(vera, requestId)).toMatchObject({ state: 'revoked', revocation: { by: { name: 'Mona Manager' }, reason: 'line stopped for inspection' } });
  expect(await manager.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
});
