// Issue 11, item 10: MFA is checked, not assumed (NERC CIP-005 R2.3, IEC 62443-3-3 SR 1.1 RE2).
// A provider with `requireMfa` refuses a sign-in whose ID token shows no second factor (a real
// OpenID provider minting the amr/acr each test account stands for); a machine with
// `stepUpMinutes` opens only for a sign-in with a second factor that recent: the ticket API
// answers 401 step_up_required, the login route re-authenticates with max_age and acr_values,
// the dev IdP asks for its TOTP (computed here from the account's secret), and the browser
// comes back to the session.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWTPayload } from 'jose';
import { generate as totp } from 'otplib';
import { startTestPortal, TEST_IDP_PASSWORD, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs, startLogin, submitLogin, type HttpResponse } from './support/http.ts';
import { startTestIdp, type TestIdp } from './support/test-idp.ts';
import { grantNow, seedDemoPlant } from './support/workflow.ts';
import { freePort } from '../dev/probes.ts';
import { keys } from '../server/keys.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import type { IdentityRecord } from '../server/auth/identity-store.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import type { DevIdpAdmin } from '../server/auth/dev-idp.ts';
import { STEP_UP_MAX_AGE_SECONDS } from '../server/auth/step-up.ts';

const PORTAL_CLIENT = 'airlock-portal';
const PASSWORD = 'mfa-test-password';
/** The level the strict provider accepts as a second factor, and the one it does not. */
const LOA_MFA = 'urn:test:loa:2';
const LOA_PASSWORD = 'urn:test:loa:1';

/** Per test account, the amr/acr its ID token carries (what the IdP says of how the person signed in). */
const SHAPES: Record<string, { amr?: string[]; acr?: string }> = {
  'pwd-only': { amr: ['pwd'] },
  'no-amr': {},
  'loa-password': { acr: LOA_PASSWORD },
  'otp-user': { amr: ['pwd', 'otp'] },
  'key-user': { amr: ['hwk'] },
  'loa-mfa': { acr: LOA_MFA },
};

const errorCodeOf = (res: HttpResponse): string | undefined => /id="error-code">([^<]+)</.exec(res.text)?.[1];

describe('providers that require MFA (requireMfa, amr/acr in the ID token)', () => {
  let idp: TestIdp;
  let portal: TestPortal;

  beforeAll(async () => {
    const port = await freePort();
    const publicUrl = `http://localhost:${port}`;
    idp = await startTestIdp({
      clients: [{ clientId: PORTAL_CLIENT, redirectUris: [`${publicUrl}/auth/callback/strict`, `${publicUrl}/auth/callback/lax`] }],
      accounts: Object.keys(SHAPES).map((sub) => ({ sub, name: `Auditor ${sub}`, groups: ['auditors'] })),
      password: PASSWORD,
      reshapeIdToken: (claims: JWTPayload): JWTPayload => {
        const { amr: _amr, acr: _acr, ...rest } = claims;
        return { ...rest, ...SHAPES[String(claims.sub)] };
      },
    });
    const secret = idp.clients[0]?.client_secret;
    const base = { issuer: idp.issuer, clientId: PORTAL_CLIENT, clientSecret: secret, scopes: ['openid', 'profile', 'groups'], allowInsecureRequests: true };
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-mfa-'));
    const file = path.join(dir, 'identity.json');
    // Two providers on one IdP: one that requires MFA (and counts acr LOA_MFA as MFA), one that does not.
    writeFileSync(
      file,
      JSON.stringify({
        defaultProvider: 'strict',
        providers: [
          { ...base, id: 'strict', label: 'Strict', requireMfa: true, mfa: { acr: [LOA_MFA] } },
          { ...base, id: 'lax', label: 'Lax', mfa: { acrValues: LOA_MFA } },
        ],
        groups: { auditors: { roles: ['auditor'], sites: [] } },
      }),
      { mode: 0o600 },
    );
    portal = await startTestPortal({ AIRLOCK_PORT: String(port), AIRLOCK_PUBLIC_URL: publicUrl, AIRLOCK_IDENTITY_FILE: file }, { freshDb: 4 });
  });

  afterAll(async () => {
    await portal?.close();
    await idp?.close();
  });

  async function signIn(username: string, provider: 'strict' | 'lax'): Promise<{ agent: Browserless; res: HttpResponse }> {
    const agent = new Browserless(portal.publicUrl);
    const callback = await submitLogin(agent, await startLogin(agent, `?provider=${provider}`), username, PASSWORD);
    return { agent, res: await agent.get(callback, { accept: 'text/html' }) };
  }

  test.each([
    ['pwd-only', 'amr [pwd]'],
    ['no-amr', 'neither amr nor acr'],
    ['loa-password', `acr ${LOA_PASSWORD}, not an accepted level`],
  ])('a sign-in without a second factor (%s: %s) is refused with 403 mfa_required and signs nobody in', async (username) => {
    const { agent, res } = await signIn(username, 'strict');
    expect([res.status, errorCodeOf(res)]).toEqual([403, 'mfa_required']);
    expect(res.text).toContain('second factor');
    expect((await agent.get('/api/me')).status).toBe(401);
  });

  test.each([
    ['otp-user', 'amr [pwd, otp]'],
    ['key-user', 'amr [hwk]'],
    ['loa-mfa', `acr ${LOA_MFA}`],
  ])('a sign-in showing a second factor (%s: %s) is accepted where MFA is required', async (username) => {
    const { agent, res } = await signIn(username, 'strict');
    expect(res.status).toBe(303);
    expect((await agent.get('/api/me')).json<{ user: { id: string } }>().user.id).toBe(`strict:${username}`);
  });

  test('the refusal is audited with the provider and the address', async () => {
    const { agent } = await signIn('otp-user', 'strict');
    const events = (await agent.get('/api/audit?action=auth.sign_in&limit=50')).json<{ events: AuditEvent[] }>().events;
    expect(events.find((e) => e.reason === 'mfa_required')).toMatchObject({ actor: null, outcome: 'refused', details: { provider: 'strict', ip: expect.any(String) } });
  });

  test('a provider that does not require MFA signs the same password-only sign-in in', async () => {
    const { agent, res } = await signIn('pwd-only', 'lax');
    expect(res.status).toBe(303);
    expect((await agent.get('/api/me')).status).toBe(200);
  });

  test('a step-up the IdP answers without a second factor is refused (mfa_required); the earlier sign-in stays', async () => {
    const { agent, res } = await signIn('pwd-only', 'lax');
    expect(res.status).toBe(303);
    const before = agent.cookie(SESSION_COOKIE);
    const toIdp = await agent.get('/auth/login?provider=lax&stepUp=true&returnTo=/%23/session/x', { accept: 'text/html' });
    const asked = new URL(toIdp.headers.get('location') ?? '').searchParams;
    expect([asked.get('max_age'), asked.get('acr_values')]).toEqual([String(STEP_UP_MAX_AGE_SECONDS), LOA_MFA]);
    // The IdP session is seconds old: it answers at once, ignoring acr_values, with amr [pwd].
    const answer = await agent.follow(toIdp);
    expect([answer.status, errorCodeOf(answer)]).toEqual([403, 'mfa_required']);
    expect(agent.cookie(SESSION_COOKIE)).toBe(before);
    expect((await agent.get('/api/me')).json<{ user: { id: string } }>().user.id).toBe('lax:pwd-only');
    const events = (await agent.get('/api/audit?action=auth.sign_in&limit=50')).json<{ events: AuditEvent[] }>().events;
    expect(events.find((e) => e.reason === 'mfa_required' && e.details['stepUp'] === true)).toMatchObject({ actor: { id: 'lax:pwd-only' }, outcome: 'refused' });
  });
});

describe('step-up: a machine with stepUpMinutes opens only after a recent sign-in with the second factor', () => {
  let portal: TestPortal;
  let idp: DevIdpAdmin;
  let mona: Browserless;
  let adam: Browserless;

  /** The browser session id inside the signed cookie (s:<id>.<signature>). */
  const sessionIdOf = (agent: Browserless): string => /^s:([^.]+)\./.exec(decodeURIComponent(agent.cookie(SESSION_COOKIE) ?? ''))?.[1] ?? '';
  const recordOf = async (agent: Browserless): Promise<IdentityRecord> => JSON.parse((await portal.redis.get(keys.identity.record(sessionIdOf(agent)))) ?? 'null') as IdentityRecord;

  beforeAll(async () => {
    portal = await startTestPortal({}, { freshDb: 4 });
    await seedDemoPlant(portal);
    if (portal.devIdp === undefined) throw new Error('the test portal runs the dev IdP');
    idp = portal.devIdp.admin;
    await portal.services.vault.store('cnc-07', { username: 'operator', password: 'not-used-here' });
    [mona, adam] = await Promise.all([loginAs(portal.publicUrl, 'mona'), loginAs(portal.publicUrl, 'adam')]);
    // The admin API sets the step-up (a small additive field of the machine).
    const machine = (await adam.get('/api/admin/machines')).json<{ machines: Array<Record<string, unknown>> }>().machines.find((m) => m['id'] === 'cnc-07');
    const saved = await adam.request('PUT', '/api/admin/machines/cnc-07', { body: { ...machine, stepUpMinutes: 15 } });
    expect(saved.status).toBe(200);
  });

  afterAll(async () => portal?.close());

  test('the machine views say so', async () => {
    const vera = await loginAs(portal.publicUrl, 'vera');
    const seen = (await vera.get('/api/machines')).json<{ machines: Array<{ id: string; stepUpMinutes: number | null }> }>().machines;
    expect(seen.find((m) => m.id === 'cnc-07')?.stepUpMinutes).toBe(15);
    expect(seen.find((m) => m.id === 'press-hmi')?.stepUpMinutes).toBeNull();
  });

  test('a password-only sign-in gets 401 step_up_required; re-authenticating with the TOTP opens the session and returns to it', async () => {
    const vera = await loginAs(portal.publicUrl, 'vera');
    expect((await recordOf(vera)).mfaAt).toBeNull();
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    const refused = await vera.post('/api/sessions', { requestId: grant });
    expect([refused.status, refused.json()]).toEqual([401, { error: { code: 'step_up_required', message: expect.stringContaining('15 minutes') } }]);

    // What the browser does on step_up_required (client/src/api.ts): the login route with stepUp.
    const returnTo = `/#/session/${grant}`;
    const toIdp = await vera.get(`/auth/login?stepUp=true&returnTo=${encodeURIComponent(returnTo)}`, { accept: 'text/html' });
    const asked = new URL(toIdp.headers.get('location') ?? '', portal.publicUrl).searchParams;
    expect([asked.get('max_age'), asked.get('acr_values')]).toEqual([String(STEP_UP_MAX_AGE_SECONDS), 'urn:airlock:dev-idp:mfa']);
    // The dev IdP asks again, for the one-time code this time.
    const form = await vera.follow(toIdp);
    expect([form.status, form.text.includes('id="mfa-requested"')]).toEqual([200, true]);
    const action = /action="([^"]+\/login)"/.exec(form.text)?.[1] ?? '';
    // Without the code, and with a wrong one, the IdP refuses and Airlock hears nothing.
    expect((await vera.request('POST', action, { form: { username: 'vera', password: TEST_IDP_PASSWORD } })).text).toContain('needs your one-time code');
    expect((await vera.request('POST', action, { form: { username: 'vera', password: TEST_IDP_PASSWORD, otp: '000000' } })).text).toContain('Wrong or expired one-time code');
    const code = await totp({ secret: idp.totpSecret('vera') });
    const done = await vera.get(await submitLogin(vera, action, 'vera', undefined, { otp: code }), { accept: 'text/html' });
    expect([done.status, done.headers.get('location')]).toEqual([303, returnTo]);

    const record = await recordOf(vera);
    expect(record.mfaAt).toBeGreaterThan(Date.now() - 60_000);
    const opened = await vera.post('/api/sessions', { requestId: grant });
    expect(opened.status).toBe(201);
  });

  test('a one-time code entered at an ordinary sign-in counts; the step-up lapses once it is older than stepUpMinutes', async () => {
    const vera = new Browserless(portal.publicUrl);
    const code = await totp({ secret: idp.totpSecret('vera') });
    const callback = await submitLogin(vera, await startLogin(vera), 'vera', undefined, { otp: code });
    expect((await vera.get(callback, { accept: 'text/html' })).status).toBe(303);
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    expect((await vera.post('/api/sessions', { requestId: grant })).status).toBe(201);
    // Sixteen minutes later, as far as the sign-in's record is concerned.
    const record = await recordOf(vera);
    await portal.redis.set(keys.identity.record(sessionIdOf(vera)), JSON.stringify({ ...record, mfaAt: Date.now() - 16 * 60_000 }), { KEEPTTL: true });
    expect((await vera.post('/api/sessions', { requestId: grant })).json()).toMatchObject({ error: { code: 'step_up_required' } });
  });

  test('a machine without stepUpMinutes opens on a password-only sign-in', async () => {
    const vera = await loginAs(portal.publicUrl, 'vera');
    await portal.services.vault.store('press-hmi', { username: 'vnc', password: 'not-used-here' });
    const grant = await grantNow(portal, vera, mona, 'press-hmi');
    expect((await vera.post('/api/sessions', { requestId: grant })).status).toBe(201);
  });

  test('the refusal is audited (aggregated refusals of session.ticket)', async () => {
    const aude = await loginAs(portal.publicUrl, 'aude');
    const events = (await aude.get('/api/audit?action=session.ticket&limit=50')).json<{ events: AuditEvent[] }>().events;
    expect(events.find((e) => e.reason === 'step_up_required')).toMatchObject({ actor: { id: 'dev:vera' }, outcome: 'refused', details: { stepUpMinutes: 15 } });
  });
});
