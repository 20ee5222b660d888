// The admin's inventory screens in a real browser (issue 11 items 8, 9, 12): "Add" over an
// existing id is refused instead of renaming it, a save on a stale copy is refused with the way
// to the latest, every problem of a form shows at once next to its field, an SSH host key is
// fetched and pinned by its fingerprint ("any key" is red), and a key guacd cannot read is
// refused under the key field. The vendor's form and the approver's inbox flag overlaps (item 13).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { BrowserSuite } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, seedDemoPlant } from './support/workflow.ts';
import { testServices } from './support/services.ts';
import { waitFor } from './support/wait.ts';

let portal: TestPortal;
let browser: BrowserSuite;
let admin: Page;
let adam: Browserless;

async function openInventory(page: Page): Promise<void> {
  await page.getByTestId('nav-admin').click();
  await page.getByTestId('inventory').waitFor();
  await page.getByTestId('machine-row-cnc-07').waitFor();
}

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 2 });
  await seedDemoPlant(portal, { targets: true });
  browser = await BrowserSuite.launch(portal.publicUrl);
  adam = await loginAs(portal.publicUrl, 'adam');
  admin = await browser.page('adam');
  await openInventory(admin);
});

afterAll(async () => {
  await browser?.close();
  await portal?.close();
});

test('"Add site" with an existing id is refused and the site keeps its name', async () => {
  await admin.getByTestId('add-site').click();
  await admin.getByTestId('site-id').fill('site-a');
  await admin.getByTestId('site-name').fill('Renamed by mistake');
  await admin.getByTestId('site-save').click();
  await expect(admin.getByTestId('site-form-error').textContent()).resolves.toContain('already exists');
  await expect(admin.getByTestId('site-row-site-a').textContent()).resolves.toContain('Plant A (Lyon)');
});

test('a save on a copy someone else changed meanwhile is refused, with the way to the latest version', async () => {
  await admin.reload();
  await openInventory(admin);
  await admin.getByTestId('edit-site-site-b').click();
  // Another admin renames it while this form is open.
  const current = (await adam.get('/api/admin/sites')).json<{ sites: Array<{ id: string; version: number }> }>().sites.find((s) => s.id === 'site-b');
  expect((await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'Plant B (Porto, hall 2)' }, headers: { 'if-match': `"${current?.version}"` } })).status).toBe(200);
  await admin.getByTestId('site-name').fill('Plant B (Porto, hall 3)');
  await admin.getByTestId('site-save').click();
  await expect(admin.getByTestId('site-form-error').textContent()).resolves.toContain('changed by someone else');
  await admin.getByTestId('site-reload').click();
  await admin.locator('[data-testid="site-row-site-b"]', { hasText: 'hall 2' }).waitFor();
});

test('every problem of the machine form shows at once, next to its field: the browser’s checks, then the server’s', async () => {
  await admin.getByTestId('add-machine').click();
  await admin.getByTestId('machine-port').fill('70000');
  await admin.getByTestId('machine-save').click();
  for (const field of ['id', 'name', 'host', 'port']) await admin.getByTestId(`machine-error-${field}`).waitFor();
  await expect(admin.getByTestId('machine-form-error').textContent()).resolves.toContain('4 fields');

  // What only the server knows: the guacd, and whether a host key is one.
  await admin.getByTestId('machine-id').fill('form-check');
  await admin.getByTestId('machine-name').fill('Form check');
  await admin.getByTestId('machine-protocol').selectOption('ssh');
  await admin.getByTestId('machine-host').fill('10.9.9.9');
  await admin.getByTestId('machine-port').fill('22');
  await admin.getByTestId('machine-guacd').fill('plant-z');
  await admin.getByTestId('machine-host-key').fill('ssh-ed25519 not-a-key');
  await admin.getByTestId('machine-save').click();
  await admin.getByTestId('machine-error-guacd').waitFor();
  await expect(admin.getByTestId('machine-error-guacd').textContent()).resolves.toContain('plant-z');
  await expect(admin.getByTestId('machine-error-hostKey').textContent()).resolves.toContain('base64');
  expect(await admin.getByTestId('machine-error-port').count()).toBe(0);
  expect((await adam.get('/api/admin/machines')).text).not.toContain('form-check');
});

test('an SSH host key is fetched, confirmed by its fingerprint and pinned; "any key" is shown in red', async () => {
  const sshd = testServices().sshd;
  if (sshd === undefined) throw new Error('no sshd');
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: `${sshd.hostKey}\n`, encoding: 'utf8' }).split(' ')[1] ?? '';
  await admin.getByTestId('machine-host').fill(sshd.host);
  await admin.getByTestId('machine-port').fill(String(sshd.port));
  await admin.getByTestId('machine-guacd').fill('default');
  await admin.getByTestId('machine-host-key').fill('');
  await admin.getByTestId('machine-host-key-missing').waitFor();
  await admin.getByTestId('machine-host-key-fetch').click();
  await expect(admin.getByTestId('machine-host-key-scanned-ssh-ed25519').textContent()).resolves.toBe(fingerprint);
  await admin.getByTestId('machine-host-key-use').click();
  await expect(admin.getByTestId('machine-host-key').inputValue()).resolves.toBe(sshd.hostKey);
  await admin.locator('[data-testid="machine-host-key-fingerprint"]', { hasText: fingerprint }).waitFor();

  await admin.getByTestId('machine-host-key-any').check();
  const warning = admin.getByTestId('machine-host-key-any-warning');
  await expect(warning.textContent()).resolves.toContain('impostor');
  expect(await warning.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(140, 29, 23)');
  await admin.getByTestId('machine-host-key-pinned').check();
  await admin.getByTestId('machine-save').click();
  await admin.locator('[data-testid="host-key-form-check"][data-host-key="pinned"]', { hasText: fingerprint }).waitFor();
  await expect(admin.getByTestId('host-key-cnc-07').getAttribute('data-host-key')).resolves.toBe('pinned');
});

test('a private key guacd cannot read is refused under the key field, naming the formats it reads', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-browser-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')]);
    await admin.getByTestId('set-credential-form-check').click();
    await admin.getByTestId('credential-username').fill('op');
    await admin.getByTestId('credential-kind-key').check();
    await admin.getByTestId('credential-private-key').fill(readFileSync(path.join(dir, 'k'), 'utf8'));
    await admin.getByTestId('credential-save').click();
    await expect(admin.getByTestId('credential-error-privateKey').textContent()).resolves.toContain('BEGIN RSA PRIVATE KEY');
    await expect(admin.getByTestId('credential-form-check').getAttribute('data-has-credential')).resolves.toBe('false');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an overlapping request is flagged on the vendor’s form and in the approver’s inbox', async () => {
  const vendor = await loginAs(portal.publicUrl, 'vera');
  const first = await createRequest(vendor, { machineId: 'press-hmi' });
  const vera = await browser.page('vera');
  await vera.getByTestId('nav-request').click();
  await vera.getByTestId('machine-option-press-hmi').check();
  await vera.getByLabel('Reason').fill('Second look at the HMI');
  await vera.getByTestId('submit-request').click();
  await expect(vera.getByTestId('request-overlaps').getAttribute('data-overlaps')).resolves.toBe(first);
  const second = await vera.getByTestId('request-created').getAttribute('data-request-id');
  await vera.getByTestId('go-my-requests').click();
  await expect(vera.getByTestId(`overlaps-${first}`).getAttribute('data-overlaps')).resolves.toBe(second);

  const mona = await browser.page('mona');
  await mona.getByTestId('nav-inbox').click();
  await expect(mona.getByTestId(`overlaps-${second}`).getAttribute('data-overlaps')).resolves.toBe(first);
  await expect(mona.getByTestId(`overlaps-${first}`).getAttribute('data-overlaps')).resolves.toBe(second);
});

test('editing a machine keeps its step-up: the form carries stepUpMinutes through a save', async () => {
  const machine = async () => (await adam.get('/api/admin/machines')).json<{ machines: Array<{ id: string; stepUpMinutes: number | null; version: number }> }>().machines.find((m) => m.id === 'cnc-07');
  const before = await machine();
  expect((await adam.request('PUT', '/api/admin/machines/cnc-07', { body: { ...(await adam.get('/api/admin/machines')).json<{ machines: Array<Record<string, unknown>> }>().machines.find((m) => m['id'] === 'cnc-07'), stepUpMinutes: 20 }, headers: { 'if-match': `"${before?.version}"` } })).status).toBe(200);
  await admin.reload();
  await openInventory(admin);
  await admin.getByTestId('edit-machine-cnc-07').click();
  await expect(admin.getByTestId('machine-step-up').inputValue()).resolves.toBe('20');
  await admin.getByTestId('machine-name').fill('CNC 07 controller (edited)');
  await admin.getByTestId('machine-save').click();
  const named = async () => (await adam.get('/api/admin/machines')).json<{ machines: Array<{ id: string; name: string }> }>().machines.find((m) => m.id === 'cnc-07')?.name;
  await waitFor(async () => (await named()) === 'CNC 07 controller (edited)', { timeoutMs: 10_000, what: 'the save' });
  // Before the fix the form did not carry the field, and a save turned step-up off.
  expect((await machine())?.stepUpMinutes).toBe(20);
});

test('a site’s file rules are set from the sites table (approval or auto-release, downloads held, size limit, blocked types); a bad type is refused under its field', async () => {
  await admin.reload();
  await openInventory(admin);
  await admin.getByTestId('edit-site-files-site-b').click();
  const form = admin.getByTestId('site-files-form');
  await form.waitFor();
  await admin.getByTestId('site-files-release').selectOption('auto');
  await admin.getByTestId('site-files-downloads').selectOption('approval');
  await admin.getByTestId('site-files-max-mb').fill('25');
  await admin.getByTestId('site-files-blocked').fill('.exe, bat  .PS1');
  await admin.getByTestId('site-files-save').click();
  await form.waitFor({ state: 'detached' });
  const saved = (await adam.get('/api/admin/sites')).json<{ sites: Array<{ id: string; files?: Record<string, unknown> }> }>().sites.find((s) => s.id === 'site-b');
  expect(saved?.files).toEqual({ release: 'auto', downloads: 'approval', maxBytes: 25 * 1024 * 1024, allowedTypes: [], blockedTypes: ['.exe', '.bat', '.ps1'] });
  await waitFor(async () => ((await admin.getByTestId('site-files-site-b').textContent()) ?? '').includes('uploads auto-released'), { timeoutMs: 5_000, what: 'the sites table to show the rules' });
  expect(await admin.getByTestId('site-files-site-b').textContent()).toContain('blocks .exe .bat .ps1');
  // The server's check of each type, shown under its field; nothing changes.
  await admin.getByTestId('edit-site-files-site-b').click();
  expect(await admin.getByTestId('site-files-release').inputValue()).toBe('auto');
  await admin.getByTestId('site-files-allowed').fill('.txt, .a/b');
  await admin.getByTestId('site-files-save').click();
  await expect(admin.getByTestId('site-files-error-allowedTypes').textContent()).resolves.toContain('extension');
  expect((await portal.services.inventory.site('site-b'))?.files?.allowedTypes).toEqual([]);
  // Back to approval for uploads, as another run expects nothing of this site.
  await admin.getByTestId('site-files-allowed').fill('');
  await admin.getByTestId('site-files-release').selectOption('approval');
  await admin.getByTestId('site-files-save').click();
  await waitFor(async () => (await portal.services.inventory.site('site-b'))?.files?.release === 'approval', { timeoutMs: 5_000, what: 'the rules saved again' });
});
