// Headless Debian Chromium driven by playwright-core (LAB.md flags: no downloads, no sandbox as
// root), and signing in through the dev IdP as a user would.
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import path from 'node:path';
import { startTestPortal, TEST_IDP_PASSWORD, type TestPortal } from './portal.ts';
import { seedDemoPlant } from './workflow.ts';
import { startPlantPortal } from './plant-portal.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface TestBrowser {
  browser: Browser;
  /** A first context, ready to use. */
  context: BrowserContext;
  /** Another context: its own cookies, so another user. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext();
  return {
    browser,
    context,
    newContext: () => browser.newContext(),
    close: () => browser.close(),
  };
}

/** Signs in on a fresh page through the portal's sign-in button and the dev IdP form. */
export async function signIn(context: BrowserContext, base: string, username: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(base);
  await page.getByTestId('login-dev').click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(TEST_IDP_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user-name').waitFor();
  return page;
}

export interface Viewport {
  width: number;
  height: number;
}

/**
 * One Chromium for a test file against one portal: `page(user)` signs a user in on a page of its
 * own context (its own cookies, so users never share a session); `close()` closes them all.
 */
export class BrowserSuite {
  private readonly contexts: BrowserContext[] = [];

  readonly browser: TestBrowser;
  private readonly base: string;
  private readonly viewport: Viewport | undefined;

  private constructor(browser: TestBrowser, base: string, viewport: Viewport | undefined) {
    this.browser = browser;
    this.base = base;
    this.viewport = viewport;
  }

  /** `viewport`: the pages' default size (Playwright's own when not given). */
  static async launch(base: string, viewport?: Viewport): Promise<BrowserSuite> {
    return new BrowserSuite(await launchBrowser(), base, viewport);
  }

  /** A context of its own (closed by `close()`), for a test that routes its traffic before signing in. */
  async context(viewport: Viewport | undefined = this.viewport): Promise<BrowserContext> {
    const context = await this.browser.browser.newContext(viewport === undefined ? {} : { viewport });
    this.contexts.push(context);
    return context;
  }

  async page(username: string, viewport: Viewport | undefined = this.viewport): Promise<Page> {
    return signIn(await this.context(viewport), this.base, username);
  }

  async close(): Promise<void> {
    for (const c of this.contexts) await c.close();
    await this.browser.close();
  }
}

/** Saves a screenshot when AIRLOCK_SHOTS_DIR is set (for people to look at; never compared). */
export async function shot(p: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  const dir = process.env['AIRLOCK_SHOTS_DIR'];
  if (dir === undefined || dir === '') return;
  const { width, height } = p.viewportSize() ?? { width: 0, height: 0 };
  await p.screenshot({ path: path.join(dir, `${name}-${width}x${height}.png`), ...options });
}

/** Waits until the session screen is connected (saying what the screen says if it never is); returns the session id. */
export async function connectedSession(p: Page): Promise<string> {
  await p.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 }).catch(async (err: unknown) => {
    throw new Error(`${String(err)}; the session screen says: ${await p.getByTestId('session-screen').textContent().catch(() => null)}`);
  });
  const id = await p.evaluate(() => window.__airlockSession?.sessionId);
  if (id === undefined) throw new Error('no session id on the page');
  return id;
}

/** Opens the session screen of a grant by its address; returns the session id once connected. */
export async function openSession(p: Page, base: string, requestId: string): Promise<string> {
  await p.goto(`${base}/#/session/${requestId}`);
  return connectedSession(p);
}

/** Opens the grant from "My requests"; returns the session id once connected. */
export async function openFromMyRequests(p: Page, requestId: string): Promise<string> {
  await p.getByTestId('nav-my').click();
  await p.getByTestId(`open-${requestId}`).click();
  return connectedSession(p);
}

/** A portal with the demo plant and its real targets, recording into a fresh spool (and store), and a browser on it. */
export interface SessionLab {
  portal: TestPortal;
  browser: BrowserSuite;
  spool: string;
  /** The recording store; '' unless asked for. */
  store: string;
  close(): Promise<void>;
}

export async function startSessionLab(name: string, options: { freshDb: number; store?: boolean; viewport?: Viewport; env?: Record<string, string> }): Promise<SessionLab> {
  const plant = await startPlantPortal(name, options);
  const browser = await BrowserSuite.launch(plant.portal.publicUrl, options.viewport);
  return {
    portal: plant.portal,
    browser,
    spool: plant.spool,
    store: plant.store,
    async close() {
      await browser.close();
      await plant.close();
    },
  };
}

/** The two window sizes every screen must work at (issue 13: usable at 1024×768). */
export const LARGE = { width: 1280, height: 800 } as const;
export const SMALL = { width: 1024, height: 768 } as const;

/**
 * With AIRLOCK_SHOTS_DIR set, saves the page at both sizes as `<name>-<w>x<h>.png` there (for
 * looking at the screens), and puts the page back at LARGE; without it, does nothing.
 */
export async function shots(p: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  const dir = process.env['AIRLOCK_SHOTS_DIR'];
  if (dir === undefined || dir === '') return;
  for (const viewport of [LARGE, SMALL]) {
    await p.setViewportSize(viewport);
    await p.screenshot({ path: `${dir}/${name}-${viewport.width}x${viewport.height}.png`, fullPage: opts.fullPage ?? false });
  }
  await p.setViewportSize(LARGE);
}

/** Contexts opened by a suite, each its own user; `closeAll` in afterAll. */
export class Contexts {
  private readonly open: BrowserContext[] = [];
  private readonly browser: () => Browser;

  constructor(browser: () => Browser) {
    this.browser = browser;
  }

  async context(opts: { viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<BrowserContext> {
    const c = await this.browser().newContext({ viewport: opts.viewport ?? LARGE, ...(opts.timezoneId === undefined ? {} : { timezoneId: opts.timezoneId }) });
    this.open.push(c);
    return c;
  }

  /** A page signed in as `username`. */
  async page(base: string, username: string, opts: { viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<Page> {
    return signIn(await this.context(opts), base, username);
  }

  async closeAll(): Promise<void> {
    for (const c of this.open.splice(0)) await c.close();
  }
}

/** A portal with the demo plant (and its real targets with `targets`) and a browser on it, for the screens' suites. */
export interface ScreenLab {
  portal: TestPortal;
  /** A page signed in as `username`, in a context of its own (LARGE unless `viewport` says otherwise). */
  page(username: string, opts?: { viewport?: Viewport; timezoneId?: string }): Promise<Page>;
  close(): Promise<void>;
}

export async function startScreenLab(env: Record<string, string>, options: { freshDb: number; targets?: boolean }): Promise<ScreenLab> {
  const portal = await startTestPortal(env, { freshDb: options.freshDb });
  try {
    await seedDemoPlant(portal, { targets: options.targets === true });
    const browser = await launchBrowser();
    const contexts = new Contexts(() => browser.browser);
    return {
      portal,
      page: (username, opts) => contexts.page(portal.publicUrl, username, opts),
      async close() {
        await contexts.closeAll();
        await browser.close();
        await portal.close();
      },
    };
  } catch (err) {
    await portal.close();
    throw err;
  }
}
