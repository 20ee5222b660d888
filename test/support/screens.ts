// The recording player's browser suites: a vendor's live SSH screen and the auditor's replay of
// it, taken as settled screenshots and compared pixel by pixel, and the player driven as a user would.
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openFromMyRequests, type SessionLab, type Viewport } from './browser.ts';
import { loginAs, type Browserless } from './http.ts';
import { grantNow } from './workflow.ts';
import { waitFor } from './wait.ts';

/**
 * Both screenshots come from Chromium drawing the same Guacamole layers at scale 1, so they
 * should be identical but for the remote mouse cursor (the live display shows guacd's cursor
 * image at its last known position; playback hides it until a recorded mouse position). A pixel
 * "differs" when any channel is off by more than 24; at most 0.5 % of pixels may differ (a
 * 32×32 cursor on a ~900×490 screen is ~0.23 %). A wrong frame (say the screen before the
 * command, or a blank one) differs in many thousands of pixels.
 */
const CHANNEL_TOLERANCE = 24;
export const MAX_DIFFERING_FRACTION = 0.005;
/** Vendor viewport: the live remote screen takes the size of its box (~920×490 here). */
export const VENDOR_VIEWPORT = { width: 1000, height: 700 };
/** Auditor viewport: large enough that the player's box holds that screen at scale 1. */
export const AUDITOR_VIEWPORT = { width: 1600, height: 1000 };

/** The Guacamole display element the library mounts in a host (its size is the scaled screen). */
export const guacElement = (p: Page, hostTestId: string): Locator => p.locator(`[data-testid="${hostTestId}"] > div`).first();

/** Screenshots until two in a row are identical: the screen has settled. */
export async function settledShot(el: Locator, what: string): Promise<Buffer> {
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

/** Pixel comparison inside Chromium (no PNG decoder needed in Node), on a blank page: no CSP. */
export async function compare(context: BrowserContext, a: Buffer, b: Buffer): Promise<{ width: [number, number]; height: [number, number]; differing: number; total: number }> {
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

/** Sets an `<input type=range>` the way a drag does (React listens to `input`); resolves with the value set. */
export async function setRange(el: Locator, value: 'max' | number): Promise<number> {
  return el.evaluate((input, v) => {
    const range = input as HTMLInputElement;
    const target = v === 'max' ? range.max : String(v);
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set;
    setter?.call(range, target);
    range.dispatchEvent(new Event('input', { bubbles: true }));
    return Number(target);
  }, value);
}

/** Where the player is, in ms into the recording. */
export const timeMs = async (p: Page): Promise<number> => Number(await p.getByTestId('player-time').getAttribute('data-ms'));
/** How many seeks the player has finished (its test hook counts them). */
export const seekCount = (p: Page): Promise<number> => p.evaluate(() => window.__airlockPlayer?.seekTimes.length ?? 0);

/** A vendor's live SSH session on cnc-07, at a shell prompt, with the keyboard on the remote screen. */
export interface VendorShell {
  /** The vendor's API agent (signed in apart from the page). */
  vendorApi: Browserless;
  requestId: string;
  /** The vendor's page, on the session screen. */
  vendor: Page;
  sessionId: string;
  /** The session's typescript in the spool: what the shell printed. */
  typescript: string;
}

/**
 * Vera's grant on cnc-07 (approved by Mona), opened in the browser (`open`: from "My requests"
 * unless told otherwise); resolves at the shell prompt, focused without a click (a click would
 * move the remote mouse cursor onto the screen).
 */
export async function openVendorShell(
  lab: SessionLab,
  options: { viewport?: Viewport; open?: (p: Page, requestId: string) => Promise<string> } = {},
): Promise<VendorShell> {
  const { portal, browser, spool } = lab;
  const vendorApi = await loginAs(portal.publicUrl, 'vera');
  const mona = await loginAs(portal.publicUrl, 'mona');
  const requestId = await grantNow(portal, vendorApi, mona, 'cnc-07');
  const vendor = await browser.page('vera', options.viewport);
  const sessionId = await (options.open ?? openFromMyRequests)(vendor, requestId);
  const typescript = path.join(spool, `${sessionId}.typescript`);
  await waitFor(() => existsSync(typescript) && /[$#] $/m.test(readFileSync(typescript, 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
  await vendor.getByTestId('session-display').focus();
  return { vendorApi, requestId, vendor, sessionId, typescript };
}

/** Types a command line into the vendor's shell and waits until the shell has printed `printed`. */
export async function runCommand(shell: VendorShell, line: string, printed: string, wait: { timeoutMs: number; what: string }): Promise<void> {
  await shell.vendor.keyboard.type(line);
  await shell.vendor.keyboard.press('Enter');
  await waitFor(() => readFileSync(shell.typescript, 'utf8').includes(printed), wait);
}

/** The live screen once it has settled (what the recording must end on); then the vendor disconnects and the session ends. */
export async function lastLiveScreen(shell: VendorShell): Promise<Buffer> {
  const live = await settledShot(guacElement(shell.vendor, 'session-display'), 'the live screen to settle');
  await shell.vendor.getByTestId('session-disconnect').click();
  await shell.vendor.locator('[data-testid="session-status"][data-status="ended"]').waitFor();
  return live;
}
