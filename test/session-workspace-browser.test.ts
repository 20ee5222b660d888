// The vendor's session screen as a workspace, in Chromium through the real portal, guacd and
// targets: the remote display fills the window and a Space typed into a Telnet session reaches
// the machine without scrolling the page (it scrolled 172 px before); when a manager revokes the
// grant or terminates the session, or the window runs out, a dialog over the display says why,
// in view without scrolling, with no Reconnect and a stopped countdown. The toolbar's keys,
// key panel, terminal paste and scaling work; a dropped connection reconnects by itself.
// With AIRLOCK_SHOTS_DIR set, the screens are also saved there as PNGs (1280×800 and 1024×768).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestPortal } from './support/portal.ts';
import { startSessionLab, type BrowserSuite, type SessionLab, openSession as openSessionAt, shot, signIn } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, windowFromNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';

const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1024, height: 768 },
] as const;
/** The thin bar above the display: at most this tall, so the display keeps nearly all the window. */
const MAX_BAR_PX = 48;
/** Long enough that no end-of-window warning shows (those start 10 minutes before the end). */
const NO_WARNING_MS = 30 * 60_000;

let lab: SessionLab;
let portal: TestPortal;
let browser: BrowserSuite;
let spool: string;
const agents: Record<string, Browserless> = {};

async function agent(name: string): Promise<Browserless> {
  agents[name] ??= await loginAs(portal.publicUrl, name);
  return agents[name];
}

/** A grant valid now for `lengthMs`, filed and approved over the API. */
async function grant(vendor: string, machineId: string, approver: string, lengthMs = 10 * 60_000): Promise<string> {
  const v = await agent(vendor);
  const id = await createRequest(v, { machineId, ...windowFromNow(1_200, lengthMs) });
  const res = await (await agent(approver)).post(`/api/requests/${id}/approve`, {});
  if (res.status !== 200) throw new Error(`approve failed (${res.status}): ${res.text}`);
  await waitFor(async () => (await portal.services.requests.grantFor(`dev:${vendor}`, machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
  return id;
}

const openSession = (p: Page, requestId: string): Promise<string> => openSessionAt(p, portal.publicUrl, requestId);

const typescriptOf = (id: string): string => path.join(spool, `${id}.typescript`);

async function waitForPrompt(id: string): Promise<void> {
  await waitFor(() => existsSync(typescriptOf(id)) && /[$#] $/m.test(readFileSync(typescriptOf(id), 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
}

/** The element's box lies entirely inside the viewport: seen without scrolling. */
async function inView(p: Page, testId: string): Promise<boolean> {
  const box = await p.getByTestId(testId).boundingBox();
  const vp = p.viewportSize();
  if (box === null || vp === null) return false;
  return box.x >= 0 && box.y >= 0 && box.x + box.width <= vp.width && box.y + box.height <= vp.height;
}

/** RECONNECT_DELAYS_MS[0] of the session screen. */
const RECONNECT_FIRST_DELAY_MS = 1_000;

const scrollOf = (p: Page) => p.evaluate(() => ({ y: window.scrollY, root: document.scrollingElement?.scrollTop ?? 0, tall: document.documentElement.scrollHeight > window.innerHeight }));

beforeAll(async () => {
  lab = await startSessionLab('workspace', { freshDb: 6 });
  ({ portal, browser, spool } = lab);
});

afterAll(async () => {
  await lab?.close();
});

describe.each(VIEWPORTS)('at $width×$height', (viewport) => {
  test('the display fills the window; a Space in a Telnet session reaches the machine and does not scroll the page', async () => {
    const requestId = await grant('victor', 'plc-gateway', 'bruno', NO_WARNING_MS);
    const p = await browser.page('victor', viewport);
    const id = await openSession(p, requestId);
    await waitForPrompt(id);
    await shot(p, 'session-telnet-connected');

    const display = await p.getByTestId('session-display').boundingBox();
    if (display === null) throw new Error('no display box');
    expect(display.x).toBe(0);
    expect(display.width).toBe(viewport.width);
    expect(display.y).toBeLessThanOrEqual(MAX_BAR_PX);
    expect(display.y + display.height).toBe(viewport.height);
    expect(await scrollOf(p)).toEqual({ y: 0, root: 0, tall: false });

    // Whether the browser was told not to act on the key: Chromium scrolls on a Space's
    // keypress (its keydown waits for the keypress to learn the character).
    await p.evaluate(() => {
      const w = window as unknown as { __spaces: boolean[] };
      w.__spaces = [];
      window.addEventListener('keypress', (e) => {
        if (e.key === ' ') w.__spaces.push(e.defaultPrevented);
      });
    });
    await p.getByTestId('session-display').click();
    const marker = randomBytes(3).toString('hex');
    await p.keyboard.type(`echo space ${marker}  done`);
    await p.keyboard.press('Enter');
    await waitFor(() => readFileSync(typescriptOf(id), 'utf8').includes(`space ${marker} done`), { timeoutMs: 15_000, what: 'the output with spaces' });
    const spaces = await p.evaluate(() => (window as unknown as { __spaces: boolean[] }).__spaces);
    expect(spaces.length).toBeGreaterThanOrEqual(3);
    expect(spaces.every((prevented) => prevented)).toBe(true);
    expect(await scrollOf(p)).toEqual({ y: 0, root: 0, tall: false });
    expect(await p.getByTestId('session-display').boundingBox()).toEqual(display);
    await shot(p, 'session-telnet');

    await p.getByTestId('session-disconnect').click();
    await p.locator('[data-testid="session-end"][data-kind="disconnected"]').waitFor();
    // After a disconnect of one's own, reconnecting is possible.
    expect(await p.getByTestId('session-reconnect').count()).toBe(1);
  });

  test('after a revoke the reason, who revoked and why, is in view; no Reconnect; the countdown stops', async () => {
    const requestId = await grant('vera', 'cnc-07', 'mona');
    const p = await browser.page('vera', viewport);
    await openSession(p, requestId);
    const reason = `line stop ${randomBytes(2).toString('hex')}`;
    const res = await (await agent('mona')).post(`/api/requests/${requestId}/revoke`, { reason });
    expect(res.status).toBe(200);

    const dialog = p.locator('[data-testid="session-end"][data-kind="revoked"]');
    await dialog.waitFor({ timeout: 10_000 });
    await p.getByTestId('session-end-revocation').waitFor();
    expect(await p.getByTestId('session-end-revocation').textContent()).toContain('Mona Manager');
    expect(await p.getByTestId('session-end-revocation').textContent()).toContain(reason);
    expect(await inView(p, 'session-end')).toBe(true);
    expect(await scrollOf(p)).toEqual({ y: 0, root: 0, tall: false });
    expect(await p.getByTestId('session-reconnect').count()).toBe(0);
    await expect(p.getByTestId('session-countdown').getAttribute('data-stopped')).resolves.toBe('true');
    const countdown = await p.getByTestId('session-countdown').textContent();
    // Checking that something does not happen takes a wait: the countdown ticks every second when it runs.
    await p.waitForTimeout(1_500);
    expect(await p.getByTestId('session-countdown').textContent()).toBe(countdown);
    await shot(p, 'session-revoked');
  });

  test('after a terminate the manager and their reason are in view, with no Reconnect', async () => {
    const requestId = await grant('vera', 'cnc-07', 'mona');
    const p = await browser.page('vera', viewport);
    const id = await openSession(p, requestId);
    const res = await (await agent('mona')).post(`/api/sessions/${id}/terminate`, { reason: 'unsafe spindle speed' });
    expect([200, 204]).toContain(res.status);
    const dialog = p.locator('[data-testid="session-end"][data-kind="terminated"]');
    await dialog.waitFor({ timeout: 10_000 });
    expect(await dialog.getByTestId('session-message').textContent()).toContain('terminated by Mona Manager: unsafe spindle speed');
    expect(await inView(p, 'session-end')).toBe(true);
    expect(await p.getByTestId('session-reconnect').count()).toBe(0);
    await shot(p, 'session-terminated');
  });
});

test('when the window runs out the dialog says so and offers more time, not a reconnect', async () => {
  const requestId = await grant('vera', 'cnc-07', 'mona', 8_000);
  const p = await browser.page('vera', VIEWPORTS[1]);
  await openSession(p, requestId);
  await p.getByTestId('session-warning').waitFor(); // well inside the last 2 minutes
  await expect(p.getByTestId('session-warning').getAttribute('data-level')).resolves.toBe('final');
  const dialog = p.locator('[data-testid="session-end"][data-kind="window_over"]');
  await dialog.waitFor({ timeout: 20_000 });
  expect(await p.getByTestId('session-reconnect').count()).toBe(0);
  expect(await p.getByTestId('session-request-more').count()).toBe(1);
  expect(await inView(p, 'session-end')).toBe(true);
});

test('the toolbar sends special keys, types from the key panel, pastes into the terminal, rescales, and Ctrl+Alt+Shift gives the keyboard back', async () => {
  const requestId = await grant('vera', 'cnc-07', 'mona', NO_WARNING_MS);
  const p = await browser.page('vera', VIEWPORTS[0]);
  const id = await openSession(p, requestId);
  await waitForPrompt(id);
  const events = () => readFileSync(path.join(spool, `${id}.events.jsonl`), 'utf8');

  // Ctrl+C from the special keys: a chord the browser would otherwise keep (copy).
  await p.getByTestId('session-tool-keys').click();
  await shot(p, 'session-keys');
  await p.getByTestId('session-key-ctrl-c').click();
  await waitFor(() => events().includes('"keysym":65507,"pressed":true') && events().includes('"keysym":99,"pressed":true'), { timeoutMs: 5_000, what: 'Ctrl+C in the input log' });

  // The key panel's text field types into the session, its Enter runs the line.
  await p.getByTestId('session-tool-keyboard').click();
  await shot(p, 'session-keyboard');
  const typed = `typed-${randomBytes(3).toString('hex')}`;
  await p.getByTestId('session-type-input').fill(`echo ${typed}-$((40+2))`);
  await p.getByTestId('session-type-send').click();
  await p.getByTestId('session-type-enter').click();
  await waitFor(() => readFileSync(typescriptOf(id), 'utf8').includes(`${typed}-42`), { timeoutMs: 15_000, what: 'the typed line to run' });

  // "Paste into terminal": to the remote clipboard, then the terminal's paste keys.
  await p.getByTestId('session-tool-clipboard').click();
  await expect(p.getByTestId('session-paste-hint').textContent()).resolves.toContain('Ctrl+Shift+V');
  const pasted = `pasted-${randomBytes(3).toString('hex')}`;
  await p.getByTestId('session-clipboard-input').fill(`echo ${pasted}-$((50+8))`);
  await p.getByTestId('session-clipboard-paste').click();
  await p.getByTestId('session-display').focus();
  await p.keyboard.press('Enter');
  await waitFor(() => readFileSync(typescriptOf(id), 'utf8').includes(`${pasted}-58`), { timeoutMs: 15_000, what: 'the pasted line to run' });

  // Scaling: 100 % for readable text on screens larger than the window.
  await p.getByTestId('session-scale').selectOption('actual');
  await expect(p.getByTestId('session-display').getAttribute('data-scale')).resolves.toBe('actual');

  // The display captures Tab; Ctrl+Alt+Shift is the way out (as in Guacamole).
  await p.getByTestId('session-display').focus();
  await p.keyboard.down('Control');
  await p.keyboard.down('Alt');
  await p.keyboard.down('Shift');
  await p.keyboard.up('Shift');
  await p.keyboard.up('Alt');
  await p.keyboard.up('Control');
  await waitFor(() => p.evaluate(() => document.activeElement?.closest('[role="toolbar"]') != null), { timeoutMs: 2_000, what: 'the focus to move to the bar' });
});

test('a dropped connection reconnects by itself, showing that it does; a revoke afterwards does not', async () => {
  const requestId = await grant('vera', 'cnc-07', 'mona', NO_WARNING_MS);
  const context = await browser.context(VIEWPORTS[0]);
  // Every tunnel goes through the test, which can cut it as a network failure would.
  const tunnels: Array<{ cut: () => Promise<void> }> = [];
  await context.routeWebSocket(/\/tunnel/, (ws) => {
    const server = ws.connectToServer();
    tunnels.push({
      cut: async () => {
        await ws.close({ code: 1011 });
        await server.close();
      },
    });
  });
  const p = await signIn(context, portal.publicUrl, 'vera');
  const first = await openSession(p, requestId);
  expect(tunnels).toHaveLength(1);

  await tunnels[0]?.cut();
  await p.getByTestId('session-reconnecting').waitFor({ timeout: 5_000 });
  await expect(p.getByTestId('session-status').getAttribute('data-reconnecting')).resolves.toBe('true');
  expect(await p.getByTestId('session-end').count()).toBe(0);
  await shot(p, 'session-reconnecting');
  await p.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 20_000 });
  const second = await p.evaluate(() => window.__airlockSession?.sessionId);
  expect(second).toBeDefined();
  expect(second).not.toBe(first);
  expect(tunnels).toHaveLength(2);

  // A revoke ends it for good: no automatic retry, no new tunnel.
  await (await agent('mona')).post(`/api/requests/${requestId}/revoke`, { reason: 'done for today' });
  await p.locator('[data-testid="session-end"][data-kind="revoked"]').waitFor({ timeout: 10_000 });
  // Checking that something does not happen takes a wait: past the first automatic retry's delay.
  await p.waitForTimeout(RECONNECT_FIRST_DELAY_MS + 1_000);
  expect(tunnels).toHaveLength(2);
  expect(await p.getByTestId('session-reconnecting').count()).toBe(0);
});
