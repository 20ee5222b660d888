// Request timing in Chromium (issue 13): the request form's "now" and "when approved" windows,
// the vendor's home with live countdowns, a request still pending after its window started and
// approved late, and an expired request that says why, with "Ask again".
// With AIRLOCK_SHOTS_DIR set, the screens are saved there at 1280×800 and 1024×768.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { LARGE, SMALL, shots as saveShots, startScreenLab, type ScreenLab } from './support/browser.ts';
import { loginAll, type Browserless } from './support/http.ts';
import { createRequest, readRequest, windowFromNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';


let lab: ScreenLab;
let vera: Browserless;
let mona: Browserless;

const page = (username: string, viewport: { width: number; height: number } = LARGE): Promise<Page> => lab.page(username, { viewport });

beforeAll(async () => {
  lab = await startScreenLab({ AIRLOCK_SWEEP_INTERVAL_MS: '200' }, { freshDb: 14 });
  [vera, mona] = await loginAll(lab.portal.publicUrl, 'vera', 'mona');
});

afterAll(async () => {
  await lab?.close();
});

test('"when approved": the form files a length; the home page counts down to the decision, then to the window\u2019s end once approved', async () => {
  const v = await page('vera');
  await v.getByTestId('nav-request').click();
  await v.getByTestId('machine-option-cnc-07').check();
  await v.getByTestId('start-mode-on_approval').check();
  await v.getByTestId('window-length').fill('30');
  await v.getByLabel('Reason').fill('Swap the spindle encoder as soon as the line stops');
  await saveShots(v, 'request-form-when-approved', { fullPage: true });
  await v.getByTestId('submit-request').click();
  const created = v.getByTestId('request-created');
  await created.waitFor();
  expect(await created.textContent()).toContain('starting when approved, for 30 min');
  const id = (await created.getAttribute('data-request-id')) ?? '';
  expect((await readRequest(vera, id)).timing).toMatchObject({ start: 'on_approval', durationMinutes: 30 });

  await v.getByRole('link', { name: 'Airlock' }).click();
  const item = v.getByTestId(`home-item-${id}`);
  await item.waitFor();
  expect(await item.getAttribute('data-standing')).toBe('pending');
  expect(await v.getByTestId(`home-line-${id}`).textContent()).toMatch(/expires undecided in (12:00:00|11:5\d:\d\d)/);
  expect(await item.textContent()).toContain('Starts when approved · 30 min');
  expect(await item.textContent()).toContain('Swap the spindle encoder');

  expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200);
  // Live: the page changes by itself, and the one action is "Open session".
  await v.locator(`[data-testid="home-item-${id}"][data-standing="open"]`).waitFor({ timeout: 10_000 });
  await v.getByTestId(`home-open-${id}`).waitFor();
  const first = await v.getByTestId(`home-countdown-${id}`).textContent();
  expect(first).toMatch(/^(30:00|29:[45]\d)$/);
  await waitFor(async () => (await v.getByTestId(`home-countdown-${id}`).textContent()) !== first, { timeoutMs: 3_000, what: 'the countdown to tick' });
  await saveShots(v, 'vendor-home', { fullPage: true });
});

test('a request still undecided when its window starts stays pending, and approved late it opens at once', async () => {
  const id = await createRequest(vera, { machineId: 'press-hmi', ...windowFromNow(1_000, 20 * 60_000), reason: 'Check the HMI alarm history' });
  const filed = await readRequest(vera, id);
  await waitFor(() => Date.now() > Date.parse(filed.windowStart) + 500, { timeoutMs: 5_000, what: 'the window to start' });
  const v = await page('vera');
  await v.getByTestId('nav-my').click();
  await expect(v.getByTestId(`state-${id}`).getAttribute('data-state')).resolves.toBe('pending');
  expect(await v.getByTestId(`decide-by-${id}`).textContent()).toContain('waits until');

  // The plant manager still has it in the inbox, and approves it there.
  const m = await page('mona');
  await m.getByTestId('nav-inbox').click();
  await m.getByTestId(`approve-${id}`).click();
  await m.getByTestId(`request-row-${id}`).waitFor({ state: 'detached' });

  await v.getByRole('link', { name: 'Airlock' }).click();
  await v.locator(`[data-testid="home-item-${id}"][data-standing="open"]`).waitFor({ timeout: 10_000 });
  const approved = await readRequest(vera, id);
  expect(Date.parse(approved.grant?.start ?? '')).toBeGreaterThan(Date.parse(filed.windowStart));
  expect(approved.grant?.end).toBe(filed.windowEnd);
});

test('an expired request says why on "My requests" and at home, where "Ask again" opens the form for that machine', async () => {
  const id = await createRequest(vera, { machineId: 'press-hmi', ...windowFromNow(300, 700), reason: 'Look at the recipe table' });
  await waitFor(async () => (await readRequest(vera, id)).state === 'expired', { timeoutMs: 5_000, what: 'the request to expire' });
  const v = await page('vera');
  await v.getByTestId('nav-my').click();
  expect(await v.getByTestId(`expired-reason-${id}`).textContent()).toBe('Nobody decided before the window ended.');
  await v.getByRole('link', { name: 'Airlock' }).click();
  const item = v.getByTestId(`home-item-${id}`);
  await item.waitFor();
  expect(await item.getAttribute('data-standing')).toBe('outcome');
  expect(await item.textContent()).toContain('Nobody decided before the window ended.');
  await v.getByTestId(`home-again-${id}`).click();
  await v.getByTestId('request-form').waitFor();
  expect(await v.getByTestId('machine-option-press-hmi').isChecked()).toBe(true);
});

test('"now": the window starts when the request is filed', async () => {
  const v = await page('vera', SMALL);
  await v.getByTestId('nav-request').click();
  await v.getByTestId('machine-option-press-hmi').check();
  await v.getByTestId('start-mode-now').check();
  await v.getByTestId('window-length').fill('45');
  await v.getByLabel('Reason').fill('Operator reports a frozen screen');
  const before = Date.now();
  await v.getByTestId('submit-request').click();
  const created = v.getByTestId('request-created');
  await created.waitFor();
  const r = await readRequest(vera, (await created.getAttribute('data-request-id')) ?? '');
  expect(r.timing.start).toBe('now');
  expect(Date.parse(r.windowStart)).toBeGreaterThanOrEqual(before - 1_000);
  expect(Date.parse(r.windowEnd) - Date.parse(r.windowStart)).toBe(45 * 60_000);
  expect(await v.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
});
