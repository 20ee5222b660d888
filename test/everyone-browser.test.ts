// What every user meets, in Chromium against the real portal: a skip-to-content link first in
// the tab order, a visible focus ring, every screen of every role usable at 1024×768 without
// sideways scrolling, every problem of the request form at once, and what cannot be undone
// (cancel, revoke, delete) confirmed in a dialog that can be left without effect.
// With AIRLOCK_SHOTS_DIR set, each screen is saved there at 1280×800 and 1024×768.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { BrowserSuite, shot } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, grantNow, readRequest, seedDemoPlant } from './support/workflow.ts';

const SMALL = { width: 1024, height: 768 };
const LARGE = { width: 1280, height: 800 };

let portal: TestPortal;
let browser: BrowserSuite;
let vera: Browserless;
let mona: Browserless;

/** Whether anything on the page is wider than the window. */
const overflowsSideways = (p: Page) => p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 9 });
  await seedDemoPlant(portal);
  browser = await BrowserSuite.launch(portal.publicUrl, SMALL);
  vera = await loginAs(portal.publicUrl, 'vera');
  mona = await loginAs(portal.publicUrl, 'mona');
  // Something on every list.
  await createRequest(vera, { machineId: 'cnc-07', reason: 'Replace the spindle encoder; line 2 is stopped until it is done' });
  await grantNow(portal, vera, mona, 'press-hmi');
});

afterAll(async () => {
  await browser?.close();
  await portal?.close();
});

test('the first Tab reaches "Skip to content", which moves the focus to the screen; focus is visible', async () => {
  const p = await browser.page('mona');
  await p.keyboard.press('Tab');
  expect(await p.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('skip-link');
  expect(await p.getByTestId('skip-link').isVisible()).toBe(true);
  await p.keyboard.press('Enter');
  expect(await p.evaluate(() => document.activeElement?.id)).toBe('main');
  expect(p.url()).not.toContain('#main'); // the router's hash is untouched
  // The next Tab lands in the screen, with a ring one can see.
  await p.keyboard.press('Tab');
  const ring = await p.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const style = el === null ? null : getComputedStyle(el);
    return { inMain: el?.closest('main') !== null, outline: style?.outlineStyle ?? 'none', width: parseFloat(style?.outlineWidth ?? '0') };
  });
  expect(ring.inMain).toBe(true);
  expect(ring.outline).not.toBe('none');
  expect(ring.width).toBeGreaterThanOrEqual(2);
});

test.each([
  ['vera', ['request', 'my', 'chat']],
  ['mona', ['inbox', 'site', 'live', 'recordings', 'chat']],
  ['aude', ['site', 'live', 'audit', 'recordings']],
  ['adam', ['site', 'live', 'admin', 'audit', 'recordings']],
])('every screen of %s fits 1024×768 without sideways scrolling', async (user, sections) => {
  for (const viewport of [SMALL, LARGE]) {
    const p = await browser.page(user, viewport);
    await shot(p, `${user}-home`);
    for (const s of sections) {
      await p.getByTestId(`nav-${s}`).click();
      await p.locator('main section, main [data-testid]').first().waitFor();
      await p.getByRole('status').filter({ hasText: 'Loading…' }).waitFor({ state: 'detached' }).catch(() => {});
      if (viewport === SMALL) expect({ section: s, overflows: await overflowsSideways(p) }).toEqual({ section: s, overflows: false });
      await shot(p, `${user}-${s}`);
    }
    await p.context().close();
  }
});

test('the request form shows every problem at once', async () => {
  const p = await browser.page('vera');
  await p.getByTestId('nav-request').click();
  await p.getByTestId('request-form').waitFor();
  await p.getByTestId('window-end').fill('2020-01-01T10:00');
  await p.getByTestId('submit-request').click();
  const errors = p.getByTestId('request-error');
  await errors.waitFor();
  expect(await errors.locator('li').count()).toBe(3); // machine, window, reason
  expect(await errors.textContent()).toContain('Choose a machine');
  expect(await errors.textContent()).toContain('reason');
  await expect(p.getByTestId('reason').getAttribute('aria-invalid')).resolves.toBe('true');
  await shot(p, 'request-form-errors');
});

test('cancel and revoke are confirmed in a dialog; leaving it changes nothing', async () => {
  const pending = await createRequest(vera, { machineId: 'cnc-07', reason: 'Back up the parameters' });
  const v = await browser.page('vera');
  await v.getByTestId('nav-my').click();
  await v.getByTestId(`cancel-${pending}`).click();
  await v.getByTestId(`cancel-dialog-${pending}`).waitFor();
  await shot(v, 'cancel-confirm');
  await v.keyboard.press('Escape');
  await v.getByTestId(`cancel-dialog-${pending}`).waitFor({ state: 'detached' });
  expect((await readRequest(vera, pending)).state).toBe('pending');
  await v.getByTestId(`cancel-${pending}`).click();
  await v.getByTestId(`confirm-cancel-${pending}`).click();
  await v.locator(`[data-testid="state-${pending}"][data-state="cancelled"]`).waitFor();

  const granted = await grantNow(portal, vera, mona, 'cnc-07');
  const m = await browser.page('mona');
  await m.getByTestId('nav-site').click();
  await m.getByTestId(`revoke-${granted}`).click();
  await m.getByTestId(`revoke-reason-${granted}`).waitFor();
  // The reason field has the focus, so typing goes there.
  await m.keyboard.type('line handed back');
  await shot(m, 'revoke-confirm');
  await m.getByTestId(`revoke-form-${granted}-keep`).click();
  expect((await readRequest(mona, granted)).state).toBe('approved');
  await m.getByTestId(`revoke-${granted}`).click();
  await m.getByTestId(`revoke-reason-${granted}`).fill('line handed back');
  await m.getByTestId(`confirm-revoke-${granted}`).click();
  await m.getByTestId('site-notice').waitFor();
  const revoked = await readRequest(mona, granted);
  expect(revoked.state).toBe('revoked');
  expect(revoked.revocation?.reason).toBe('line handed back');
});
