// Sign-in through the real dev IdP: the browser round trip, session fixation, and refused
// callbacks (tampered state, tampered code, wrong issuer) that must create no session.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { startTestPortal, TEST_IDP_PASSWORD, type TestPortal } from './support/portal.ts';
import { launchBrowser, type TestBrowser } from './support/browser.ts';
import { Browserless, loginAs, startLogin, submitLogin } from './support/http.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import { keys } from '../server/keys.ts';
import { sharedRedisUrl } from './support/services.ts';

let portal: TestPortal;
let browser: TestBrowser;
const redis = createClient({ url: sharedRedisUrl() });

/** The session id inside a signed express-session cookie value (s:<id>.<signature>). */
function sessionId(cookieValue: string | undefined): string | undefined {
  if (cookieValue === undefined) return undefined;
  return /^s:([^.]+)\./.exec(decodeURIComponent(cookieValue))?.[1];
}

async function signedInSessions(): Promise<number> {
  let count = 0;
  for await (const batch of redis.scanIterator({ MATCH: `${keys.sessionPrefix}*` })) {
    for (const key of batch) {
      const value = await redis.get(key);
      if (value?.includes('"passport"')) count++;
    }
  }
  return count;
}

beforeAll(async () => {
  await redis.connect();
  portal = await startTestPortal();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await portal?.close();
  redis.destroy();
});

describe('sign-in in the browser', () => {
  test('a vendor signs in through the dev IdP, sees name and role, and signs out for good', async () => {
    const page = await browser.context.newPage();
    await page.goto(portal.publicUrl);
    await page.getByTestId('login-dev').click();
    await page.getByLabel('Username').fill('vera');
    await page.getByLabel('Password').fill(TEST_IDP_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('profile').waitFor();
    expect(await page.getByTestId('user-name').textContent()).toBe('Vera Vendor');
    expect(await page.getByTestId('role').textContent()).toBe('Vendor');
    expect(new URL(page.url()).origin).toBe(portal.publicUrl);

    const cookie = (await browser.context.cookies(portal.publicUrl)).find((c) => c.name === SESSION_COOKIE);
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Lax');
    const stolen = new Browserless(portal.publicUrl);
    stolen.setCookie(SESSION_COOKIE, cookie?.value ?? '');
    expect((await stolen.get('/api/me')).status).toBe(200);

    await page.getByTestId('sign-out').click();
    await page.getByTestId('login-dev').waitFor();
    // The old cookie is worthless once signed out: the session is gone server-side.
    const after = await stolen.get('/api/me');
    expect(after.status).toBe(401);
    expect(after.json()).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
    expect(await redis.exists(`${keys.sessionPrefix}${sessionId(cookie?.value) ?? ''}`)).toBe(0);
    await page.close();
  });

  test('a wrong password stays on the IdP form with an error and signs nobody in', async () => {
    await browser.context.clearCookies(); // forget the IdP's own session from the previous test
    const page = await browser.context.newPage();
    await page.goto(`${portal.publicUrl}/auth/login`);
    await page.getByLabel('Username').fill('mona');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('wrong password');
    const res = await page.request.get(`${portal.publicUrl}/api/me`);
    expect(res.status()).toBe(401);
    await page.close();
  });
});

describe('sessions and callbacks', () => {
  test('each demo role maps to its Airlock role and sites', async () => {
    const cases: Array<[string, string[], string[], string | null]> = [
      ['vera', ['vendor'], [], 'acme-automation'],
      ['mona', ['approver'], ['site-a'], null],
      ['bruno', ['approver'], ['site-b'], null],
      ['aude', ['auditor'], [], null],
      ['adam', ['admin'], [], null],
    ];
    for (const [username, roles, sites, company] of cases) {
      const agent = await loginAs(portal.publicUrl, username);
      const me = (await agent.get('/api/me')).json<{ user: { roles: string[]; sites: string[]; company: string | null } }>();
      expect(me.user).toMatchObject({ roles, sites, company });
    }
  });

  test('the session id changes at sign-in (no fixation) and the pre-login id is useless', async () => {
    const agent = new Browserless(portal.publicUrl);
    const action = await startLogin(agent);
    const before = agent.cookie(SESSION_COOKIE);
    expect(before).toBeDefined();
    const callback = await submitLogin(agent, action, 'mona');
    const done = await agent.get(callback, { accept: 'text/html' });
    expect(done.status).toBe(303);
    const after = agent.cookie(SESSION_COOKIE);
    expect(sessionId(after)).toBeDefined();
    expect(sessionId(after)).not.toBe(sessionId(before));
    expect((await agent.get('/api/me')).status).toBe(200);

    const fixated = new Browserless(portal.publicUrl);
    fixated.setCookie(SESSION_COOKIE, before ?? '');
    expect((await fixated.get('/api/me')).status).toBe(401);
  });

  test.each([
    ['state', (u: URL) => u.searchParams.set('state', `${u.searchParams.get('state') ?? ''}x`), 'login_state_mismatch'],
    ['code', (u: URL) => u.searchParams.set('code', 'forged-code'), 'login_failed'],
    ['issuer', (u: URL) => u.searchParams.set('iss', 'http://localhost:1/evil-idp'), 'login_issuer_mismatch'],
  ])('a tampered %s is refused with an error page and creates no session', async (_what, tamper, code) => {
    const sessionsBefore = await signedInSessions();
    const agent = new Browserless(portal.publicUrl);
    const callback = new URL(await submitLogin(agent, await startLogin(agent), 'vera'), portal.publicUrl);
    tamper(callback);
    const res = await agent.get(callback.pathname + callback.search, { accept: 'text/html' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.text).toContain(`<code id="error-code">${code}</code>`);
    expect((await agent.get('/api/me')).status).toBe(401);
    expect(await signedInSessions()).toBe(sessionsBefore);
  });

  test('a callback without a started sign-in is refused', async () => {
    const agent = new Browserless(portal.publicUrl);
    const res = await agent.get('/auth/callback/dev?code=abc&state=def', { accept: 'application/json' });
    expect(res.status).toBe(400);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('login_failed');
  });

  test('an unknown provider is a clear 400', async () => {
    const res = await new Browserless(portal.publicUrl).get('/auth/login?provider=nope', { accept: 'application/json' });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'unknown_provider', message: expect.any(String) } });
  });

  test('state-changing calls from another origin are refused', async () => {
    const agent = await loginAs(portal.publicUrl, 'vera');
    const res = await agent.post('/auth/logout', {}, { origin: 'http://evil.example' });
    expect(res.status).toBe(403);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('bad_origin');
    expect((await agent.get('/api/me')).status).toBe(200);
  });

  test('no OIDC code, state, cookie or password reaches the logs', async () => {
    await loginAs(portal.publicUrl, 'aude');
    const logs = portal.logLines.join('\n');
    expect(logs).toContain('/auth/callback/dev');
    expect(logs).not.toMatch(/code=|state=|airlock\.sid=/);
    expect(logs).not.toContain(TEST_IDP_PASSWORD);
  });
});
