// Sessions in the browser, through the real UI, portal, guacd and targets: the vendor opens each
// demo machine and types; the result shows (typescript for SSH/Telnet, a changed screen for
// VNC/RDP) and the recording exists. The manager watches live and cuts the session.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestPortal } from './support/portal.ts';
import { startSessionLab, type BrowserSuite, type SessionLab, openFromMyRequests } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, windowFromNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';

let lab: SessionLab;
let portal: TestPortal;
let browser: BrowserSuite;
let spool: string;
const approvers: Record<string, Browserless> = {};

/** A grant valid now, filed and approved over the API (the workflow UI has its own test). */
async function grant(vendor: string, machineId: string, approverNames: string[]): Promise<string> {
  const agent = await loginAs(portal.publicUrl, vendor);
  const id = await createRequest(agent, { machineId, ...windowFromNow(1_200, 10 * 60_000) });
  for (const name of approverNames) {
    approvers[name] ??= await loginAs(portal.publicUrl, name);
    await approvers[name].post(`/api/requests/${id}/approve`, {});
  }
  await waitFor(async () => (await portal.services.requests.grantFor(`dev:${vendor}`, machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
  return id;
}

const file = (id: string, suffix = ''): string => path.join(spool, `${id}${suffix}`);

beforeAll(async () => {
  lab = await startSessionLab('browser', { freshDb: 11 });
  ({ portal, browser, spool } = lab);
});

afterAll(async () => {
  await lab?.close();
});

describe('a vendor types into each protocol', () => {
  test.each([
    ['SSH', 'vera', 'cnc-07', ['mona']],
    ['Telnet', 'victor', 'plc-gateway', ['bruno']],
  ])('%s: the command runs and its output is recorded', async (_name, vendor, machineId, approverNames) => {
    const requestId = await grant(vendor, machineId, approverNames);
    const p = await browser.page(vendor);
    const id = await openFromMyRequests(p, requestId);
    await waitFor(() => existsSync(file(id, '.typescript')) && /[$#] $/m.test(readFileSync(file(id, '.typescript'), 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
    const before = await p.getByTestId('session-display').screenshot();
    await p.getByTestId('session-display').click();
    const marker = randomBytes(3).toString('hex');
    await p.keyboard.type(`echo browser-${marker}-$((20+22))`);
    await p.keyboard.press('Enter');
    await waitFor(() => readFileSync(file(id, '.typescript'), 'utf8').includes(`browser-${marker}-42`), { timeoutMs: 15_000, what: 'the output in the typescript' });
    expect(Buffer.compare(before, await p.getByTestId('session-display').screenshot())).not.toBe(0);
    await p.getByTestId('session-disconnect').click();
    await p.locator('[data-testid="session-status"][data-status="ended"]').waitFor();
    expect(statSync(file(id)).size).toBeGreaterThan(0);
    const log = readFileSync(file(id, '.events.jsonl'), 'utf8');
    expect(log).toContain(`"keysym":${'+'.codePointAt(0)}`);
    expect(log).not.toContain('"blocked"');
  });

  test.each([
    ['VNC', 'vera', 'press-hmi', ['mona']],
    ['RDP', 'vera', 'scada-historian', ['mona', 'olga']],
  ])('%s: the screen changes after typing into the xterm, and input is logged', async (_name, vendor, machineId, approverNames) => {
    const requestId = await grant(vendor, machineId, approverNames);
    const p = await browser.page(vendor);
    const id = await openFromMyRequests(p, requestId);
    const display = p.getByTestId('session-display');
    // Wait for a painted desktop: the first screenshots can still be blank.
    let before = await display.screenshot();
    await waitFor(async () => {
      const next = await display.screenshot();
      const settled = Buffer.compare(before, next) === 0 && next.length > 2_000;
      before = next;
      return settled;
    }, { timeoutMs: 20_000, what: 'the remote screen to settle' });
    // No window manager on the VNC target: focus follows the pointer, so hover the xterm first.
    const box = await display.boundingBox();
    if (box === null) throw new Error('no display box');
    await p.mouse.move(box.x + 60, box.y + 60);
    await display.click({ position: { x: 60, y: 60 } });
    await p.keyboard.type('echo airlock was here');
    await p.keyboard.press('Enter');
    await waitFor(async () => Buffer.compare(before, await display.screenshot()) !== 0, { timeoutMs: 15_000, what: 'the screen to change' });
    await waitFor(() => readFileSync(file(id, '.events.jsonl'), 'utf8').includes(`"keysym":${'w'.codePointAt(0)}`), { timeoutMs: 5_000, what: 'keys in the input log' });
    await p.getByTestId('session-disconnect').click();
    expect(statSync(file(id)).size).toBeGreaterThan(1_000);
  });
});

test('the manager sees the live session, watches it, and cuts it; the vendor is told who did', async () => {
  const requestId = await grant('vera', 'cnc-07', ['mona']);
  const vendorPage = await browser.page('vera');
  const id = await openFromMyRequests(vendorPage, requestId);
  const manager = await browser.page('mona');
  await manager.getByTestId('nav-live').click();
  await manager.getByTestId(`live-row-${id}`).waitFor();
  await manager.getByTestId(`watch-${id}`).click();
  await manager.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
  await manager.getByTestId(`terminate-${id}`).click();
  await manager.getByTestId(`terminate-reason-${id}`).fill('unsafe spindle speed');
  await manager.getByTestId(`confirm-terminate-${id}`).click();
  await vendorPage.getByTestId('session-message').filter({ hasText: 'terminated by Mona Manager' }).waitFor({ timeout: 10_000 });
  expect(await vendorPage.getByTestId('session-message').textContent()).toContain('unsafe spindle speed');
});
