// Issue 15: seek anywhere. A vendor's real SSH session (real portal, guacd, sshd), rendered by the
// renderer worker into keyframes; the auditor's player, paused on the first frame, seeks straight
// to the end — a part never played — and draws the live session's last screen, via a keyframe
// and a Range request from its offset; the activity strip and the hover thumbnail are shown;
// with the keyframe data damaged, the player falls back to the replay from the start and says so.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestPortal } from './support/portal.ts';
import { startSessionLab, type BrowserSuite, type SessionLab, openFromMyRequests, shot } from './support/browser.ts';
import { loginAs } from './support/http.ts';
import { grantNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';
import { DERIVED_DIR, DERIVED_FILE_NAMES } from '../recordings/layout.ts';

/** As test/recording-player.test.ts: same tolerance for the remote cursor. */
const CHANNEL_TOLERANCE = 24;
const MAX_DIFFERING_FRACTION = 0.005;
const VENDOR_VIEWPORT = { width: 1000, height: 700 };
const AUDITOR_VIEWPORT = { width: 1600, height: 1000 };
/** Small keyframe spacing, so a short real session has several keyframes to seek between. */
const KEYFRAME_EVERY_KB = 16;
/** The aim of the issue, in a test's terms: a seek into an unplayed part is drawn within this. */
const SEEK_BUDGET_MS = 5_000;

let lab: SessionLab;
let portal: TestPortal;
let browser: BrowserSuite;
let spool: string;
let store: string;

const guacElement = (p: Page, hostTestId: string): Locator => p.locator(`[data-testid="${hostTestId}"] > div`).first();

async function settledShot(el: Locator, what: string): Promise<Buffer> {
  let last = await el.screenshot();
  let settled: Buffer | null = null;
  await waitFor(async () => {
    await new Promise((r) => setTimeout(r, 300));
    const next = await el.screenshot();
    if (Buffer.compare(last, next) === 0) settled = next;
    last = next;
    return settled !== null;
  }, { timeoutMs: 15_000, what });
  if (settled === null) throw new Error('unreachable');
  return settled;
}

async function compare(context: BrowserContext, a: Buffer, b: Buffer): Promise<{ width: [number, number]; height: [number, number]; differing: number; total: number }> {
  const p = await context.newPage();
  return p.evaluate(
    async ({ a, b, tolerance }) => {
      const load = async (b64: string) => createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
      const [ia, ib] = [await load(a), await load(b)];
      const w = Math.min(ia.width, ib.width);
      const h = Math.min(ia.height, ib.height);
      const pixels = (img: ImageBitmap) => {
        const c = new OffscreenCanvas(w, h);
        const ctx = c.getContext('2d');
        if (ctx === null) throw new Error('no 2d context');
        ctx.drawImage(img, 0, 0);
        return ctx.getImageData(0, 0, w, h).data;
      };
      const [pa, pb] = [pixels(ia), pixels(ib)];
      let differing = 0;
      for (let i = 0; i < pa.length; i += 4) {
        for (let c = 0; c < 3; c++) {
          if (Math.abs((pa[i + c] ?? 0) - (pb[i + c] ?? 0)) > tolerance) {
            differing++;
            break;
          }
        }
      }
      return { width: [ia.width, ib.width] as [number, number], height: [ia.height, ib.height] as [number, number], differing, total: w * h };
    },
    { a: a.toString('base64'), b: b.toString('base64'), tolerance: CHANNEL_TOLERANCE },
  );
}

async function setRange(el: Locator, value: 'max' | number): Promise<number> {
  return el.evaluate((input, v) => {
    const range = input as HTMLInputElement;
    const target = v === 'max' ? range.max : String(v);
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set?.call(range, target);
    range.dispatchEvent(new Event('input', { bubbles: true }));
    return Number(target);
  }, value);
}

const timeMs = async (p: Page): Promise<number> => Number(await p.getByTestId('player-time').getAttribute('data-ms'));
const seekCount = (p: Page): Promise<number> => p.evaluate(() => window.__airlockPlayer?.seekTimes.length ?? 0);

// As the other player suites: one retry under load, with the first failure logged.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

beforeAll(async () => {
  lab = await startSessionLab('seek', { freshDb: 5, store: true, env: { AIRLOCK_RENDER_WORKER: 'inprocess', AIRLOCK_KEYFRAME_EVERY_KB: String(KEYFRAME_EVERY_KB) } });
  ({ portal, browser, spool, store } = lab);
});

afterAll(async () => {
  await lab?.close();
});

test('the player seeks into a part never played and draws the right screen from a keyframe; damaged keyframes fall back and say so', async () => {
  // --- the live session: output enough for several keyframes, then a last screen ---
  const vendorApi = await loginAs(portal.publicUrl, 'vera');
  const mona = await loginAs(portal.publicUrl, 'mona');
  const requestId = await grantNow(portal, vendorApi, mona, 'cnc-07');
  const vendor = await browser.page('vera', VENDOR_VIEWPORT);
  const sessionId = await openFromMyRequests(vendor, requestId);
  const typescript = path.join(spool, `${sessionId}.typescript`);
  await waitFor(() => existsSync(typescript) && /[$#] $/m.test(readFileSync(typescript, 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
  await vendor.getByTestId('session-display').focus();
  const marker = `seek${randomBytes(4).toString('hex')}`;
  await vendor.keyboard.type(`for i in $(seq 1 25); do ls -la /usr/bin | head -60; sleep 0.1; done; echo ${marker}-done`);
  await vendor.keyboard.press('Enter');
  await waitFor(() => readFileSync(typescript, 'utf8').includes(`${marker}-done`), { timeoutMs: 20_000, what: 'the long output' });
  await vendor.keyboard.type(`clear; echo ${marker}-$((6*7))`);
  await vendor.keyboard.press('Enter');
  await waitFor(() => readFileSync(typescript, 'utf8').includes(`${marker}-42`), { timeoutMs: 15_000, what: 'the last output' });
  const live = await settledShot(guacElement(vendor, 'session-display'), 'the live screen to settle');
  await vendor.getByTestId('session-disconnect').click();
  await vendor.locator('[data-testid="session-status"][data-status="ended"]').waitFor();

  // --- finalised, then rendered by the worker ---
  const aude = await loginAs(portal.publicUrl, 'aude');
  await waitFor(async () => (await aude.get(`/api/recordings/${sessionId}/seek`)).status === 200, { timeoutMs: 60_000, what: 'the keyframes' });
  const { seek } = (await aude.get(`/api/recordings/${sessionId}/seek`)).json<{ seek: { keyframes: Array<{ t: number; at: number }>; duration: number } }>();
  expect(seek.keyframes.length).toBeGreaterThanOrEqual(3);

  // --- the auditor: paused on the first frame, seeks to the end (never played) ---
  const auditor = await browser.page('aude', AUDITOR_VIEWPORT);
  await auditor.goto(`${portal.publicUrl}/#/recording/${sessionId}`);
  await auditor.locator('[data-testid="player-status"][data-status="ready"]').waitFor({ timeout: 30_000 });
  await expect(auditor.getByTestId('player-seek-fallback').count()).resolves.toBe(0);
  if ((await auditor.getByTestId('player-play').getAttribute('data-playing')) === 'true') await auditor.getByTestId('player-play').click();
  await auditor.locator('[data-testid="player-play"][data-playing="false"]').waitFor();
  const before = await seekCount(auditor);
  const ranges: string[] = [];
  auditor.on('request', (r) => {
    if (r.url().endsWith('/files/recording')) ranges.push(r.headers()['range'] ?? '');
  });
  const started = Date.now();
  const end = await setRange(auditor.getByTestId('player-seek'), 'max');
  await waitFor(async () => (await seekCount(auditor)) > before, { timeoutMs: SEEK_BUDGET_MS, what: 'the seek into the unplayed end' });
  const seekMs = Date.now() - started;
  expect(await timeMs(auditor)).toBeGreaterThanOrEqual(end - 100);
  // It resumed from the last keyframe's byte offset, not from the start.
  const lastKeyframe = seek.keyframes[seek.keyframes.length - 1];
  expect(ranges).toContain(`bytes=${lastKeyframe?.at}-`);
  const replayed = await settledShot(guacElement(auditor, 'player-display'), 'the replayed screen to settle');
  const diff = await compare(auditor.context(), live, replayed);
  expect(diff.width[0]).toBe(diff.width[1]);
  expect(diff.height[0]).toBe(diff.height[1]);
  expect(diff.differing / diff.total).toBeLessThanOrEqual(MAX_DIFFERING_FRACTION);

  // Back into the middle of the long output: another keyframe, another screen.
  const middle = seek.keyframes[Math.floor(seek.keyframes.length / 2)];
  await setRange(auditor.getByTestId('player-seek'), Math.round((middle?.t ?? 0) + 50));
  await waitFor(async () => Math.abs((await timeMs(auditor)) - (middle?.t ?? 0)) < 1_000, { timeoutMs: SEEK_BUDGET_MS, what: 'the seek back into the middle' });
  const mid = await compare(auditor.context(), live, await settledShot(guacElement(auditor, 'player-display'), 'the middle screen to settle'));
  expect(mid.differing / mid.total).toBeGreaterThan(MAX_DIFFERING_FRACTION);

  // --- the activity strip and the hover thumbnail ---
  await expect(auditor.getByTestId('activity-output').count()).resolves.toBeGreaterThan(0);
  await expect(auditor.getByTestId('activity-input').count()).resolves.toBeGreaterThan(0);
  await expect(auditor.locator('[data-testid="activity-event"][data-kind="command"]').count()).resolves.toBeGreaterThan(0);
  await expect(auditor.locator('[data-testid="activity-event"][data-kind="end"]').count()).resolves.toBe(1);
  const bar = await auditor.getByTestId('player-seek').boundingBox();
  if (bar === null) throw new Error('no seek bar');
  await auditor.mouse.move(bar.x + bar.width * 0.75, bar.y + bar.height / 2);
  const thumb = auditor.locator('[data-testid="player-thumb"] img');
  await thumb.waitFor();
  await waitFor(() => thumb.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0), { timeoutMs: 10_000, what: 'the thumbnail to load' });
  await shot(auditor, 'player-activity-strip');
  process.stdout.write(`seek into the unplayed end: ${seekMs} ms (${seek.keyframes.length} keyframes over ${seek.duration} ms)\n`);

  // --- damaged keyframe data: the player replays from the start, and says why ---
  const summary = await portal.services.recordings.catalog.get(sessionId);
  const data = path.join(store, summary?.dir ?? '', DERIVED_DIR, DERIVED_FILE_NAMES.data);
  const bytes = readFileSync(data);
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  writeFileSync(data, bytes);
  await auditor.reload();
  await auditor.locator('[data-testid="player-status"][data-status="ready"]').waitFor({ timeout: 30_000 });
  await expect(auditor.getByTestId('player-seek-fallback').textContent()).resolves.toBe('Seeking replays from the start: the keyframe data does not match its signed index.');
  await expect(auditor.getByTestId('player-activity').count()).resolves.toBe(0);
  await auditor.locator('[data-testid="player-duration"][data-loaded="true"]').waitFor({ timeout: 30_000 });
  // From the start (autoplay may have reached the end already, and an unchanged slider fires nothing).
  if ((await auditor.getByTestId('player-play').getAttribute('data-playing')) === 'true') await auditor.getByTestId('player-play').click();
  await setRange(auditor.getByTestId('player-seek'), 0);
  await waitFor(async () => (await timeMs(auditor)) < 200, { timeoutMs: 30_000, what: 'the fallback seek to the start' });
  const fallbackBefore = await seekCount(auditor);
  await setRange(auditor.getByTestId('player-seek'), 'max');
  await waitFor(async () => (await seekCount(auditor)) > fallbackBefore, { timeoutMs: 30_000, what: 'the fallback seek to the end' });
  // The old replay reports the seek before it has drawn its way to the end: wait for the position,
  // then for its screen to come to the live last frame (it draws the last frames in steps).
  await waitFor(async () => (await timeMs(auditor)) >= seek.duration - 200, { timeoutMs: 30_000, what: 'the fallback replay to reach the end' });
  let fallback = { differing: 1, total: 1 };
  await waitFor(
    async () => {
      fallback = await compare(auditor.context(), live, await settledShot(guacElement(auditor, 'player-display'), 'the fallback screen to settle'));
      return fallback.differing / fallback.total <= MAX_DIFFERING_FRACTION;
    },
    { timeoutMs: 30_000, what: 'the fallback replay to draw the last frame' },
  ).catch(() => undefined);
  expect(fallback.differing / fallback.total).toBeLessThanOrEqual(MAX_DIFFERING_FRACTION);
});
