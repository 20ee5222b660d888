// Issue 10, item 9 (and the sign-in side of item 8): privileges do not outlive the identity
// provider. Real oidc-provider (the dev IdP, its directory changed through its admin surface),
// real Redis, a tiny max age: a manager removed from the approver group stops approving, a
// refused refresh signs out, back-channel logout ends sign-ins, a provider without refresh
// tokens gets reauthentication_required, and chat refuses a stale profile.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { FakeSlack, type SlackMessage, type SlackUser } from '../dev/fakes/slack.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import type { IdentityEvent } from '../server/events/bus.ts';
import type { IdentityRecord } from '../server/auth/identity-store.ts';
import { TokenSeal } from '../server/auth/token-seal.ts';
import { parseKeyring } from '../server/keyring.ts';
import { keys } from '../server/keys.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import type { DevIdpAdmin } from '../server/auth/dev-idp.ts';
import { Browserless, loginAs, submitLogin } from './support/http.ts';
import { createRequest, grantNow, readRequest, sessionTicket } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { enterLinkCode, linkCodeIn, SLACK, startChatPortal, type ChatPortal } from './support/chat.ts';
import { waitFor } from './support/wait.ts';

/** The tiny max age of this suite: every privileged action after it re-validates with the IdP. */
const MAX_AGE_MS = 1_000;
const CHANNEL_A = 'CFRESHA';
const MONA: SlackUser = { id: 'UFMONA', teamId: SLACK.teamId, name: 'mona' };
const OLGA: SlackUser = { id: 'UFOLGA', teamId: SLACK.teamId, name: 'olga' };
const VAULT_KEYS = `fresh1:${randomBytes(32).toString('base64')}`;

let slack: FakeSlack;
let chat: ChatPortal;
let idp: DevIdpAdmin;
let vera: Browserless;
let aude: Browserless;
const heard: IdentityEvent[] = [];

const portal = () => chat.portal;

/** The browser session id inside the signed cookie (s:<id>.<signature>). */
function sessionIdOf(agent: Browserless): string {
  const id = /^s:([^.]+)\./.exec(decodeURIComponent(agent.cookie(SESSION_COOKIE) ?? ''))?.[1];
  if (id === undefined) throw new Error('no session cookie');
  return id;
}

async function recordOf(agent: Browserless): Promise<IdentityRecord | undefined> {
  const json = await portal().redis.get(keys.identity.record(sessionIdOf(agent)));
  return json === null ? undefined : (JSON.parse(json) as IdentityRecord);
}

/** Waits until the sign-in's last validation with the IdP is older than the max age. */
async function untilStale(agent: Browserless): Promise<void> {
  const validatedAt = (await recordOf(agent))?.validatedAt ?? 0;
  await waitFor(() => Date.now() - validatedAt > MAX_AGE_MS, { timeoutMs: 5_000, what: 'the sign-in to be older than the max age' });
}

async function auditOf(userId: string): Promise<AuditEvent[]> {
  return (await aude.get(`/api/audit?target=user:${encodeURIComponent(userId)}&limit=100`)).json<{ events: AuditEvent[] }>().events;
}

async function cardIn(channel: string, id: string): Promise<SlackMessage> {
  await slack.server.until(() => slack.messagesIn(channel).some((m) => JSON.stringify(m.blocks).includes(id)), `a card about ${id} in ${channel}`);
  const card = slack.messagesIn(channel).find((m) => JSON.stringify(m.blocks).includes(id));
  if (card === undefined) throw new Error('unreachable');
  return card;
}

async function clickReply(message: SlackMessage, action: string, user: SlackUser): Promise<string> {
  const seen = slack.ephemeralCount(user.id);
  const res = await slack.click(`${portal().publicUrl}${SLACK_INTERACTIONS_PATH}`, message, action, user);
  if (res.status !== 200) throw new Error(`click answered ${res.status}: ${res.text}`);
  return slack.ephemeralAfter(user.id, seen);
}

beforeAll(async () => {
  slack = await FakeSlack.start(SLACK);
  slack.addUser(MONA);
  slack.addUser(OLGA);
  chat = await startChatPortal(
    {
      slack: { botToken: SLACK.botToken, signingSecret: SLACK.signingSecret, allowedTeams: [SLACK.teamId], allowedApps: [SLACK.appId], apiUrl: slack.apiUrl },
      sites: { 'site-a': { slack: { channel: CHANNEL_A } } },
    },
    6,
    { AIRLOCK_IDENTITY_MAX_AGE_SECONDS: String(MAX_AGE_MS / 1000), AIRLOCK_VAULT_KEYS: VAULT_KEYS, AIRLOCK_SWEEP_INTERVAL_MS: '200' },
  );
  const devIdp = portal().devIdp;
  if (devIdp === undefined) throw new Error('the test portal runs the dev IdP');
  idp = devIdp.admin;
  portal().services.events.onIdentity((e) => heard.push(e));
  [vera, aude] = await Promise.all([loginAs(portal().publicUrl, 'vera'), loginAs(portal().publicUrl, 'aude')]);
});

afterEach(() => idp.reset());

afterAll(async () => {
  await chat?.close();
  await slack?.close();
});

describe('roles follow the identity provider', () => {
  test('a plant manager moved out of the approver group cannot approve once the max age has passed', async () => {
    const mona = await loginAs(portal().publicUrl, 'mona');
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    // The IdP administrator moves mona from the plant managers to the auditors.
    idp.setGroups('mona', ['airlock-auditors']);
    await untilStale(mona);
    const refused = await mona.post(`/api/requests/${id}/approve`, {});
    expect([refused.status, refused.json<{ error: { code: string } }>().error.code]).toEqual([403, 'not_site_approver']);
    expect((await readRequest(aude, id)).state).toBe('pending');
    // Still signed in, with the roles the IdP gives now, on every request.
    expect((await mona.get('/api/me')).json()).toMatchObject({ user: { roles: ['auditor'], sites: [] } });
    const changed = (await auditOf('dev:mona')).find((e) => e.action === 'auth.identity_changed');
    expect(changed?.details).toMatchObject({ rolesBefore: 'approver', roles: 'auditor', sitesBefore: 'site-a', sites: '' });
    expect(heard).toContainEqual(expect.objectContaining({ type: 'user.identity_changed', userId: 'dev:mona', reason: 'refreshed' }));
  });

  test('a manager still in the group approves after the max age: the refresh renews the validation time', async () => {
    const mona = await loginAs(portal().publicUrl, 'mona');
    const before = await recordOf(mona);
    await untilStale(mona);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200);
    const after = await recordOf(mona);
    expect(after?.validatedAt).toBeGreaterThan(before?.validatedAt ?? Infinity);
    expect(after?.user.roles).toEqual(['approver']);
  });

  test('removed from every Airlock group, the manager is signed out of every sign-in', async () => {
    const [mona, monaTablet] = await Promise.all([loginAs(portal().publicUrl, 'mona'), loginAs(portal().publicUrl, 'mona')]);
    const sids = [sessionIdOf(mona), sessionIdOf(monaTablet)];
    idp.setGroups('mona', []);
    await untilStale(mona);
    const res = await mona.post(`/api/requests/${randomUUID()}/approve`, {});
    expect([res.status, res.json<{ error: { code: string } }>().error.code]).toEqual([401, 'signed_out']);
    expect((await mona.get('/api/me')).status).toBe(401);
    expect((await monaTablet.get('/api/me')).status).toBe(401);
    for (const sid of sids) expect(await portal().redis.exists([keys.sessionPrefix + sid, keys.identity.record(sid)])).toBe(0);
    expect(heard).toContainEqual(expect.objectContaining({ type: 'user.signed_out', userId: 'dev:mona', reason: 'identity_revoked', browserSessionIds: expect.arrayContaining(sids) }));
  });
});

describe('a refused refresh signs out', () => {
  test('a disabled account: its next privileged action signs it out, the session is gone and the event is published', async () => {
    const mona = await loginAs(portal().publicUrl, 'mona');
    const sid = sessionIdOf(mona);
    idp.setDisabled('mona', true);
    await untilStale(mona);
    const res = await mona.post('/api/sessions', { requestId: randomUUID() });
    expect([res.status, res.json<{ error: { code: string } }>().error.code]).toEqual([401, 'signed_out']);
    expect(mona.cookie(SESSION_COOKIE)).toBeUndefined(); // the response cleared the cookie
    expect(await portal().redis.exists([keys.sessionPrefix + sid, keys.identity.record(sid)])).toBe(0);
    expect(heard).toContainEqual(expect.objectContaining({ type: 'user.signed_out', userId: 'dev:mona', reason: 'refresh_refused', browserSessionIds: [sid] }));
    const audited = (await auditOf('dev:mona')).find((e) => e.action === 'auth.signed_out' && e.reason === 'refresh_refused');
    expect(audited).toMatchObject({ actor: null, outcome: 'ok' });
  });

  test('the upgrade guard and chat get the same answer through freshSessionUser / freshUser', async () => {
    const mona = await loginAs(portal().publicUrl, 'mona');
    const sid = sessionIdOf(mona);
    const { identity } = portal().services;
    expect((await identity.freshSessionUser(sid)).roles).toEqual(['approver']);
    idp.setDisabled('mona', true);
    await untilStale(mona);
    await expect(identity.freshSessionUser(sid)).rejects.toMatchObject({ status: 401, code: 'signed_out' });
    await expect(identity.freshUser('dev:mona')).resolves.toBeUndefined();
  });
});

describe('sealed refresh tokens', () => {
  test('the refresh token is sealed in Redis (AES-256-GCM, bound to its sign-in) and appears nowhere in clear', async () => {
    const mona = await loginAs(portal().publicUrl, 'mona');
    const record = await recordOf(mona);
    expect(record?.refresh).toMatch(/^t1\.fresh1\./);
    const seal = new TokenSeal(parseKeyring(VAULT_KEYS));
    const token = seal.open(record?.refresh ?? '', sessionIdOf(mona));
    expect(token.length).toBeGreaterThan(20);
    // Moved to another sign-in's record, it does not open.
    expect(() => seal.open(record?.refresh ?? '', 'another-session')).toThrow(/does not open/);
    const { redis } = portal();
    const everything: string[] = [];
    for await (const batch of redis.scanIterator({ MATCH: 'airlock:*' })) {
      for (const key of batch) {
        const type = await redis.type(key);
        if (type === 'string') everything.push((await redis.get(key)) ?? '');
        else if (type === 'hash') everything.push(JSON.stringify(await redis.hGetAll(key)));
        else if (type === 'set') everything.push(JSON.stringify(await redis.sMembers(key)));
        else if (type === 'zset') everything.push(JSON.stringify(await redis.zRange(key, 0, -1)));
        else if (type === 'stream') everything.push(JSON.stringify(await redis.xRange(key, '-', '+')));
      }
    }
    expect(everything.some((v) => v.includes(token))).toBe(false);
    expect(portal().logLines.some((l) => l.includes(token))).toBe(false);
  });
});

describe('the WebSocket upgrade', () => {
  test('a ticket issued before the IdP disabled the vendor opens no tunnel once the max age has passed', async () => {
    const vendor = await loginAs(portal().publicUrl, 'vera');
    const mona = await loginAs(portal().publicUrl, 'mona');
    // A credential so that a ticket can be issued; the refusal comes before any guacd is dialled.
    await portal().services.vault.store('cnc-07', { username: 'operator', password: 'not-used-here' });
    const grant = await grantNow(portal(), vendor, mona, 'cnc-07');
    const { ticket } = await sessionTicket(vendor, grant);
    idp.setDisabled('vera', true);
    await untilStale(vendor);
    const opened = await openTunnel(vendor, { ticket });
    expect(opened).toMatchObject({ ok: false, status: 401 });
    if (!opened.ok) expect(JSON.parse(opened.body)).toMatchObject({ error: { code: 'signed_out' } });
  });
});

describe('OpenID Connect Back-Channel Logout', () => {
  test("signing out at the IdP ends that IdP session's Airlock sign-ins at once; another IdP session stays", async () => {
    const [mona, elsewhere] = await Promise.all([loginAs(portal().publicUrl, 'mona'), loginAs(portal().publicUrl, 'mona')]);
    const sid = sessionIdOf(mona);
    // RP-initiated logout at the dev IdP, in mona's browser: the IdP posts a logout token to the portal.
    const confirm = await mona.get('/dev-idp/session/end', { accept: 'text/html' });
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.text)?.[1];
    const action = /<form[^>]*action="([^"]+)"/.exec(confirm.text)?.[1];
    expect([confirm.status, xsrf !== undefined, action]).toEqual([200, true, expect.stringContaining('/session/end/confirm')]);
    const done = await mona.request('POST', action ?? '', { form: { xsrf: xsrf ?? '', logout: 'yes' } });
    expect(done.status).toBeLessThan(400);
    expect(idp.backchannelDeliveries().at(-1)?.status).toBe(200);
    expect((await mona.get('/api/me')).status).toBe(401);
    expect(await portal().redis.exists([keys.sessionPrefix + sid, keys.identity.record(sid)])).toBe(0);
    expect((await elsewhere.get('/api/me')).status).toBe(200);
    expect(heard).toContainEqual(expect.objectContaining({ type: 'user.signed_out', userId: 'dev:mona', reason: 'backchannel_logout', browserSessionIds: [sid], remainingSignIns: expect.any(Number) }));
    const audited = (await auditOf('dev:mona')).find((e) => e.action === 'auth.signed_out' && e.reason === 'backchannel_logout');
    expect(audited?.details).toMatchObject({ provider: 'dev', signIns: 1 });

    // The same logout token again is a replay: refused, nothing else ends.
    const token = idp.backchannelDeliveries().at(-1)?.logoutToken ?? '';
    const replay = await new Browserless(portal().publicUrl).request('POST', '/auth/backchannel-logout/dev', { form: { logout_token: token } });
    expect([replay.status, replay.json()]).toEqual([400, { error: { code: 'invalid_logout_token', message: expect.any(String) } }]);
    expect((await elsewhere.get('/api/me')).status).toBe(200);
  });

  test('forged or malformed logout tokens are refused with 400 and end nothing', async () => {
    const mona = await loginAs(portal().publicUrl, 'mona');
    const anonymous = new Browserless(portal().publicUrl);
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'dev-1', typ: 'logout+jwt' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ iss: `${portal().publicUrl}/dev-idp`, aud: 'airlock-portal', iat: Math.floor(Date.now() / 1000), jti: randomUUID(), sub: 'mona', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })).toString('base64url');
    const bodies: Array<Record<string, string>> = [{ logout_token: `${header}.${claims}.${randomBytes(256).toString('base64url')}` }, { logout_token: 'not-a-jwt' }, { other: 'x' }];
    for (const body of bodies) {
      const res = await anonymous.request('POST', '/auth/backchannel-logout/dev', { form: body });
      expect([res.status, res.json<{ error: { code: string } }>().error.code]).toEqual([400, 'invalid_logout_token']);
    }
    expect((await anonymous.request('POST', '/auth/backchannel-logout/nope', { form: { logout_token: 'x' } })).status).toBe(400);
    expect((await mona.get('/api/me')).status).toBe(200);
  });
});

describe('providers without refresh tokens', () => {
  const privileged: Array<[string, string, unknown]> = [
    ['POST', `/api/requests/${randomUUID()}/approve`, {}],
    ['POST', `/api/requests/${randomUUID()}/deny`, {}],
    ['POST', `/api/requests/${randomUUID()}/revoke`, {}],
    ['POST', '/api/sessions', { requestId: randomUUID() }],
    ['POST', `/api/sessions/${randomUUID()}/watch`, {}],
    ['POST', `/api/sessions/${randomUUID()}/terminate`, {}],
    ['PUT', '/api/admin/sites/site-z', { name: 'Plant Z' }],
    ['DELETE', '/api/admin/sites/site-z', undefined],
    ['PUT', '/api/admin/companies/acme-automation', { name: 'Acme', sites: [] }],
    ['DELETE', '/api/admin/machines/cnc-07', undefined],
    ['PUT', '/api/admin/machines/cnc-07/credential', { username: 'x', password: 'y' }],
    ['PUT', `/api/holds/request/${randomUUID()}`, { reason: 'investigation' }],
    ['DELETE', `/api/holds/request/${randomUUID()}`, undefined],
  ];

  test('every privileged route answers 401 reauthentication_required once the sign-in is older than the max age', async () => {
    idp.setRefreshTokens(false);
    const adam = await loginAs(portal().publicUrl, 'adam');
    expect((await recordOf(adam))?.refresh).toBeNull();
    await untilStale(adam);
    for (const [method, path, body] of privileged) {
      const res = await adam.request(method, path, body === undefined ? {} : { body });
      expect([method, path, res.status, res.json()]).toEqual([method, path, 401, { error: { code: 'reauthentication_required', message: expect.any(String) } }]);
    }
    // Nothing was changed, and reading still works: only privileged actions need a fresh identity.
    expect((await adam.get('/api/admin/machines')).status).toBe(200);
    expect((await portal().services.inventory.machine('cnc-07'))?.id).toBe('cnc-07');
  });

  test('re-authenticating with max_age makes the IdP ask for the password again and gives a fresh sign-in', async () => {
    idp.setRefreshTokens(false);
    const vendor = await loginAs(portal().publicUrl, 'victor');
    await untilStale(vendor);
    // The IdP counts max_age in whole seconds from its auth_time: wait until it is surely past.
    const authTime = (await recordOf(vendor))?.authTime ?? Infinity;
    await waitFor(() => Math.floor(Date.now() / 1000) > authTime / 1000 + MAX_AGE_MS / 1000, { timeoutMs: 5_000, what: "the IdP's auth_time to pass max_age" });
    expect((await vendor.post('/api/sessions', { requestId: randomUUID() })).json()).toMatchObject({ error: { code: 'reauthentication_required' } });
    const startedAt = Date.now();
    const toIdp = await vendor.get('/auth/login?reauth=true&returnTo=/', { accept: 'text/html' });
    expect(new URL(toIdp.headers.get('location') ?? '', portal().publicUrl).searchParams.get('max_age')).toBe(String(MAX_AGE_MS / 1000));
    // The IdP session is older than max_age: the IdP shows its sign-in form instead of answering at once.
    const form = await vendor.follow(toIdp);
    const action = /action="([^"]+)"/.exec(form.text)?.[1];
    expect([form.status, action]).toEqual([200, expect.stringContaining('/login')]);
    const done = await vendor.get(await submitLogin(vendor, action ?? '', 'victor'), { accept: 'text/html' });
    expect(done.status).toBe(303);
    const record = await recordOf(vendor);
    expect(record?.validatedAt).toBeGreaterThanOrEqual(startedAt);
    expect(record?.authTime).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) * 1000);
  });
});

describe('sign-out and session end', () => {
  test('POST /auth/logout removes the sign-in, publishes user.signed_out and is audited', async () => {
    const victor = await loginAs(portal().publicUrl, 'victor');
    const sid = sessionIdOf(victor);
    expect((await victor.post('/auth/logout')).status).toBe(204);
    expect(await portal().redis.exists([keys.sessionPrefix + sid, keys.identity.record(sid)])).toBe(0);
    expect(heard).toContainEqual(expect.objectContaining({ type: 'user.signed_out', userId: 'dev:victor', reason: 'logout', browserSessionIds: [sid] }));
    const audited = (await auditOf('dev:victor')).find((e) => e.action === 'auth.signed_out' && e.reason === 'logout');
    expect(audited?.actor?.id).toBe('dev:victor');
  });

  test("a browser session reaching its end publishes user.signed_out (session_expired) from the sweep", async () => {
    const victor = await loginAs(portal().publicUrl, 'victor');
    const sid = sessionIdOf(victor);
    // Bring the end of this browser session to now, as its absolute lifetime running out would:
    // Redis expires the session and its record, and the sweep sees the end in its index.
    const { redis } = portal();
    const now = Date.now();
    await redis.multi().pExpireAt(keys.sessionPrefix + sid, now).pExpireAt(keys.identity.record(sid), now).zAdd(keys.identity.expiries, { score: now, value: JSON.stringify([sid, 'dev:victor']) }, { XX: true }).exec();
    await waitFor(() => heard.some((e) => e.type === 'user.signed_out' && e.reason === 'session_expired' && e.browserSessionIds.includes(sid)), { timeoutMs: 5_000, what: 'the session_expired event' });
    expect((await victor.get('/api/me')).status).toBe(401);
  });
});

describe('chat acts only on a fresh profile', () => {
  let mona: Browserless;

  beforeAll(async () => {
    mona = await loginAs(portal().publicUrl, 'mona');
    const card = await cardIn(CHANNEL_A, await createRequest(vera, { machineId: 'cnc-07' }));
    await enterLinkCode(mona, linkCodeIn(await clickReply(card, 'approve', MONA)));
  });

  test('an older profile is re-validated with the IdP through a live sign-in before the click acts', async () => {
    await untilStale(mona);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await clickReply(await cardIn(CHANNEL_A, id), 'approve', MONA)).toContain('You approved');
  });

  test('removed from the approver group at the IdP, the manager cannot approve from chat after the max age', async () => {
    idp.setGroups('mona', ['airlock-auditors']);
    await untilStale(mona);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await clickReply(await cardIn(CHANNEL_A, id), 'approve', MONA)).toMatch(/plant manager.*Nothing was changed/);
    expect((await readRequest(aude, id)).state).toBe('pending');
    idp.reset();
    await untilStale(mona);
    expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200); // back in the group: the refresh says so
  });

  // Olga signs in nowhere else in this suite: her sign-ins below are the only ones chat can use.
  test('a stale sign-in without a refresh token cannot make its profile look fresh (visiting Chat accounts re-saves it as old)', async () => {
    idp.setRefreshTokens(false);
    const olga = await loginAs(portal().publicUrl, 'olga');
    const first = await createRequest(vera, { machineId: 'cnc-07' });
    await enterLinkCode(olga, linkCodeIn(await clickReply(await cardIn(CHANNEL_A, first), 'approve', OLGA)));
    await untilStale(olga);
    expect((await olga.get('/api/chat/links')).status).toBe(200);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await clickReply(await cardIn(CHANNEL_A, id), 'approve', OLGA)).toMatch(/cannot confirm your role.*Nothing was changed/);
    expect((await readRequest(aude, id)).state).toBe('pending');
    expect((await olga.post('/auth/logout')).status).toBe(204);
  });

  test('sign-out forgets the profile, and a click is refused although the profile had not lapsed', async () => {
    const olga = await loginAs(portal().publicUrl, 'olga');
    expect(await portal().redis.exists(keys.chat.profile('dev:olga'))).toBe(1);
    expect((await olga.post('/auth/logout')).status).toBe(204);
    expect(await portal().redis.exists(keys.chat.profile('dev:olga'))).toBe(0);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await clickReply(await cardIn(CHANNEL_A, id), 'approve', OLGA)).toMatch(/cannot confirm your role.*Nothing was changed/);
    expect((await readRequest(aude, id)).state).toBe('pending');
  });
});
