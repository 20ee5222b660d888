// Plant time in Chromium (issue 13): a Lyon window seen from a New York browser reads in Lyon
// time with its abbreviation and, beside it, in New York time — never "3:30 AM" with no zone;
// the request form takes times on the plant's clock; an admin sets a site's time zone.
// With AIRLOCK_SHOTS_DIR set, the screens are saved there at 1280×800 and 1024×768.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { shots as saveShots, startScreenLab, type ScreenLab } from './support/browser.ts';
import { loginAll, type Browserless } from './support/http.ts';
import { createRequest, readRequest } from './support/workflow.ts';
import { formatClockSpan, formatSpan, instantOfWallClock, wallClock } from '../server/plant-time.ts';

const LYON = 'Europe/Paris';
const NEW_YORK = 'America/New_York';

let lab: ScreenLab;
let vera: Browserless;
let adam: Browserless;

const page = (username: string, timezoneId: string): Promise<Page> => lab.page(username, { timezoneId });

/** 09:30 Lyon time tomorrow, as an instant. */
function tomorrowInLyon(hour: number, minute: number): Date {
  const today = wallClock(new Date(), LYON);
  const noon = instantOfWallClock({ year: today.year, month: today.month, day: today.day, hour: 12, minute: 0 }, LYON);
  const tomorrow = wallClock(new Date(noon.getTime() + 86_400_000), LYON);
  return instantOfWallClock({ year: tomorrow.year, month: tomorrow.month, day: tomorrow.day, hour, minute }, LYON);
}

beforeAll(async () => {
  lab = await startScreenLab({}, { freshDb: 15 });
  [vera, adam] = await loginAll(lab.portal.publicUrl, 'vera', 'adam');
});

afterAll(async () => {
  await lab?.close();
});

test('a Lyon window seen from New York reads in Lyon time with its zone, and in New York time beside it', async () => {
  const start = tomorrowInLyon(9, 30);
  const end = new Date(start.getTime() + 3_600_000);
  const id = await createRequest(vera, { machineId: 'cnc-07', windowStart: start.toISOString(), windowEnd: end.toISOString(), reason: 'Calibrate the spindle' });
  expect((await readRequest(vera, id)).machine.siteTimeZone).toBe(LYON);

  const v = await page('vera', NEW_YORK);
  await v.getByTestId('nav-my').click();
  const row = v.getByTestId(`request-row-${id}`);
  await row.waitFor();
  const text = (await row.textContent()) ?? '';
  const lyon = formatSpan(start.toISOString(), end.toISOString(), LYON);
  expect(lyon).toMatch(/09:30–10:30 CES?T$/);
  expect(text).toContain(lyon);
  expect(text).toContain(`(${formatClockSpan(start.toISOString(), end.toISOString(), NEW_YORK)} your time)`);
  expect(text).toMatch(/0[34]:30–0[45]:30 EDT|0[34]:30–0[45]:30 EST/);
  expect(text).not.toMatch(/AM|PM/);
  await saveShots(v, 'my-requests-new-york', { fullPage: true });

  // Seen from Lyon there is nothing to convert.
  const mona = await page('mona', LYON);
  await mona.getByTestId('nav-inbox').click();
  const inboxRow = mona.getByTestId(`inbox-row-${id}`);
  await inboxRow.waitFor();
  expect(await inboxRow.textContent()).toContain(lyon);
  expect(await inboxRow.textContent()).not.toContain('your time');
});

test('the request form takes the window on the plant\u2019s clock and shows the viewer\u2019s beside it', async () => {
  const start = tomorrowInLyon(14, 0);
  const w = wallClock(start, LYON);
  const pad = (n: number) => String(n).padStart(2, '0');
  const input = (hour: number) => `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(hour)}:00`;

  const v = await page('vera', NEW_YORK);
  await v.getByTestId('nav-request').click();
  await v.getByTestId('machine-option-cnc-07').check();
  const startLabel = v.locator('label', { has: v.getByTestId('window-start') });
  expect(await startLabel.textContent()).toMatch(/Start \(Plant A \(Lyon\) time, CES?T\)/);
  await v.getByTestId('window-start').fill(input(14));
  await v.getByTestId('window-end').fill(input(15));
  const end = new Date(start.getTime() + 3_600_000);
  expect(await v.getByTestId('window-your-time').textContent()).toBe(`That is ${formatClockSpan(start.toISOString(), end.toISOString(), NEW_YORK)} your time.`);
  await v.getByLabel('Reason').fill('Update the post-processor');
  await saveShots(v, 'request-form-plant-time', { fullPage: true });
  await v.getByTestId('submit-request').click();
  const created = v.getByTestId('request-created');
  await created.waitFor();
  const r = await readRequest(vera, (await created.getAttribute('data-request-id')) ?? '');
  expect(r.windowStart).toBe(start.toISOString());
  expect(r.windowEnd).toBe(end.toISOString());
});

test('an admin sets a site\u2019s time zone in the sites table; renaming the site keeps it', async () => {
  const a = await page('adam', LYON);
  await a.getByTestId('nav-admin').click();
  const select = a.getByTestId('site-zone-site-b');
  await select.waitFor();
  expect(await select.inputValue()).toBe('Europe/Lisbon');
  await select.selectOption('Atlantic/Azores');
  await a.getByRole('status').filter({ hasText: 'saved' }).waitFor();
  const sites = async () => (await adam.get('/api/admin/sites')).json<{ sites: Array<{ id: string; name: string; timeZone: string }> }>().sites;
  expect((await sites()).find((s) => s.id === 'site-b')?.timeZone).toBe('Atlantic/Azores');
  await saveShots(a, 'admin-sites-time-zone', { fullPage: true });
  expect((await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'Plant B (Porto)' } })).status).toBe(200);
  expect((await sites()).find((s) => s.id === 'site-b')?.timeZone).toBe('Atlantic/Azores');
  await select.selectOption('Europe/Lisbon');
  await a.getByRole('status').filter({ hasText: 'saved' }).waitFor();
});

test('a time zone that is not an IANA zone is refused in plain words', async () => {
  const bad = await adam.request('PUT', '/api/admin/sites/site-b/time-zone', { body: { timeZone: 'Europe/Porto' } });
  expect(bad.status).toBe(400);
  expect(bad.json<{ error: { code: string; message: string } }>().error.message).toContain('an IANA time zone such as Europe/Paris');
  const missing = await adam.request('PUT', '/api/admin/sites/no-such-site/time-zone', { body: { timeZone: 'UTC' } });
  expect(missing.status).toBe(404);
  const sites = (await vera.get('/api/sites')).json<{ sites: Array<{ id: string; timeZone: string }> }>().sites;
  expect(sites).toEqual([expect.objectContaining({ id: 'site-a', timeZone: LYON })]);
});
