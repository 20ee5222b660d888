// Names, not ids, in Chromium (issue 13): the inbox and the vendor's profile name the company;
// the audit log finds "mona" by name, its targets link to what they name (a request opens on the
// site's requests, shown on top), and a click on an actor narrows the log to them.
// With AIRLOCK_SHOTS_DIR set, the screens are saved there at 1280×800 and 1024×768.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { shots, startScreenLab, type ScreenLab } from './support/browser.ts';
import { loginAll, type Browserless } from './support/http.ts';
import { createRequest } from './support/workflow.ts';


let lab: ScreenLab;
let vera: Browserless;
let mona: Browserless;
let approvedId: string;

const page = (username: string): Promise<Page> => lab.page(username, { timezoneId: 'Europe/Paris' });

beforeAll(async () => {
  lab = await startScreenLab({}, { freshDb: 3 });
  [vera, mona] = await loginAll(lab.portal.publicUrl, 'vera', 'mona');
  approvedId = await createRequest(vera, { machineId: 'press-hmi', reason: 'Reload the recipe table' });
  expect((await mona.post(`/api/requests/${approvedId}/approve`, { comment: 'ok for today' })).status).toBe(200);
});

afterAll(async () => {
  await lab?.close();
});

test('the inbox and the profile name the company, not its id', async () => {
  const id = await createRequest(vera, { machineId: 'cnc-07', reason: 'Check the spindle' });
  const m = await page('mona');
  await m.getByTestId('nav-inbox').click();
  const row = m.getByTestId(`inbox-row-${id}`);
  await row.waitFor();
  expect(await row.textContent()).toContain('Acme Automation');
  expect(await row.textContent()).not.toContain('acme-automation');
  const v = await page('vera');
  await v.getByTestId('profile-company').filter({ hasText: 'Acme Automation' }).waitFor();
});

test('the audit log finds "mona" by name; a request target opens that request; an actor click narrows to them', async () => {
  const a = await page('aude');
  await a.getByTestId('nav-audit').click();
  await a.getByTestId('audit-actor').fill('mona');
  await a.getByTestId('audit-apply').click();
  const rows = a.locator('[data-testid^="audit-row-"]');
  await rows.first().waitFor();
  const actors = await a.locator('[data-testid^="audit-actor-"]').allTextContents();
  expect(actors.length).toBeGreaterThan(0);
  expect(new Set(actors)).toEqual(new Set(['Mona Manager']));
  await shots(a, 'audit-search-mona');

  const approved = a.locator('tr', { hasText: 'request.approved' }).first();
  await approved.locator('[data-testid^="audit-target-"]').click();
  await a.getByTestId(`site-focus-${approvedId}`).waitFor();
  const focus = (await a.getByTestId(`site-focus-${approvedId}`).textContent()) ?? '';
  expect(focus).toContain('Press line HMI');
  expect(focus).toContain('Approved by Mona Manager: “ok for today”');
  expect(focus).toContain('Acme Automation');

  await a.getByTestId('nav-audit').click();
  await a.locator('[data-testid^="audit-actor-"]', { hasText: 'Vera Vendor' }).first().click();
  await a.getByTestId('audit-actor').and(a.locator('[value="dev:vera"]')).waitFor();
  const after = await a.locator('[data-testid^="audit-actor-"]').allTextContents();
  expect(new Set(after)).toEqual(new Set(['Vera Vendor']));
});
