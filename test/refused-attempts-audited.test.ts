// Issue 11, item 11: failed sign-ins, refused back-channel logouts and forged or refused chat
// callbacks were only logged. They are audited now, aggregated as the tunnel's refusals are
// (per source, action and reason: the first five in a window one by one, then one event with a
// count), the 429s of the sign-in and chat-callback limits included: a flood writes a handful
// of events. Each flood comes from a loopback address of its own (Linux routes 127/8 to lo).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { startAllPlatformsChatPortal, SLACK, type ChatPortal } from './support/chat.ts';
import { Browserless, loginAs, requestFrom, startLogin, submitLogin } from './support/http.ts';
import { waitFor } from './support/wait.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import { TEAMS_MESSAGES_PATH } from '../server/chat/teams.ts';
import { MATTERMOST_ACTIONS_PATH } from '../server/chat/mattermost.ts';
import { slackSignature } from '../server/chat/signing.ts';
import { AUDITED_PER_WINDOW } from '../server/audit/aggregated.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

const DB = 5;
/** A short window, so the aggregates are written while the suite waits. */
const WINDOW_MS = 1_000;
const LIMIT_PER_MINUTE = 60;
const WAIT = { timeoutMs: 10_000 };

let chat: ChatPortal;
let aude: Browserless;
const base = (): string => chat.portal.publicUrl;

beforeAll(async () => {
  chat = await startAllPlatformsChatPortal(DB, {
    AIRLOCK_REFUSAL_AUDIT_WINDOW_MS: String(WINDOW_MS),
    AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE: String(LIMIT_PER_MINUTE),
    AIRLOCK_RATE_LIMIT_CHAT_CALLBACKS_PER_MINUTE: String(LIMIT_PER_MINUTE),
  });
  aude = await loginAs(base(), 'aude');
});

afterAll(async () => {
  await chat?.close();
});

/** The refusals of `action` and `reason` from one source address, individual and aggregated. */
async function refusalsFrom(address: string, action: string, reason: string): Promise<AuditEvent[]> {
  const events = (await aude.get(`/api/audit?action=${action}&limit=500`)).json<{ events: AuditEvent[] }>().events;
  return events.filter((e) => e.outcome === 'refused' && e.reason === reason && (String(e.details['ip']).endsWith(address) || String(e.details['source']).endsWith(address)));
}

/** How many refusals the events stand for: one each, or the count an aggregate carries. */
const counted = (events: AuditEvent[]): number => events.reduce((n, e) => n + (typeof e.details['aggregated'] === 'number' ? e.details['aggregated'] : 1), 0);

/** Waits until the audit log accounts for `n` refusals (the aggregate comes when the window closes); returns the events. */
async function expectAudited(address: string, action: string, reason: string, n: number): Promise<AuditEvent[]> {
  let events: AuditEvent[] = [];
  await waitFor(
    async () => {
      events = await refusalsFrom(address, action, reason);
      return counted(events) === n;
    },
    { ...WAIT, what: `${n} refusals ${action}/${reason} from ${address} in the audit log` },
  ).catch(() => undefined);
  expect(counted(events)).toBe(n);
  expect(events.length).toBeLessThanOrEqual(AUDITED_PER_WINDOW + 1);
  return events;
}

describe('failed sign-ins are audited', () => {
  test('a forged callback (the state changed) is refused and audited as login_state_mismatch', async () => {
    const agent = new Browserless(base());
    const callback = new URL(await submitLogin(agent, await startLogin(agent), 'mona'), base());
    callback.searchParams.set('state', 'forged-state');
    const res = await agent.get(callback.pathname + callback.search, { accept: 'text/html' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('login_state_mismatch');
    const events = (await aude.get('/api/audit?action=auth.sign_in&limit=100')).json<{ events: AuditEvent[] }>().events;
    expect(events.find((e) => e.reason === 'login_state_mismatch')).toMatchObject({ actor: null, outcome: 'refused', details: { provider: 'dev', ip: expect.any(String) } });
  });

  test('a flood of forged callbacks writes a handful of events with a count', async () => {
    const from = '127.0.0.21';
    for (let i = 0; i < 40; i++) {
      const res = await requestFrom(base(), { path: `/auth/callback/dev?code=c${i}&state=s${i}`, from });
      expect(res.status).toBe(400);
    }
    const events = await expectAudited(from, 'auth.sign_in', 'login_failed', 40);
    expect(events.find((e) => e.details['aggregated'] === 40 - AUDITED_PER_WINDOW)?.details).toMatchObject({ source: `ip:${from}`, windowMs: WINDOW_MS });
  });

  test("the IdP's refusal (the person cancels at the dev IdP) comes back as an OIDC error callback and is audited", async () => {
    const agent = new Browserless(base());
    const action = await startLogin(agent);
    const cancelled = await agent.request('POST', action.replace(/\/login$/, '/abort'), { form: {} });
    const answer = await agent.follow(cancelled);
    expect(answer.status).toBe(403);
    expect(answer.text).toContain('idp_refused');
    expect((await agent.get('/api/me')).status).toBe(401);
    const events = (await aude.get('/api/audit?action=auth.sign_in&limit=100')).json<{ events: AuditEvent[] }>().events;
    expect(events.find((e) => e.reason === 'idp_refused')).toMatchObject({ actor: null, details: { provider: 'dev', idpError: 'access_denied' } });
  });

  test("the sign-in limit's 429s are audited aggregated", async () => {
    const from = '127.0.0.22';
    for (let i = 0; i < LIMIT_PER_MINUTE; i++) expect((await requestFrom(base(), { path: '/auth/login', from })).status).toBe(302);
    for (let i = 0; i < 20; i++) expect((await requestFrom(base(), { path: '/auth/login', from })).status).toBe(429);
    await expectAudited(from, 'auth.sign_in', 'rate_limited', 20);
  });
});

describe('refused back-channel logouts are audited', () => {
  test('a flood of forged logout tokens writes a handful of events with a count, each saying why', async () => {
    const from = '127.0.0.23';
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'dev-1', typ: 'logout+jwt' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ iss: `${base()}/dev-idp`, aud: 'airlock-portal', iat: Math.floor(Date.now() / 1000), jti: randomUUID(), sub: 'mona', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })).toString('base64url');
    const body = new URLSearchParams({ logout_token: `${header}.${claims}.${Buffer.alloc(256, 7).toString('base64url')}` }).toString();
    for (let i = 0; i < 30; i++) {
      const res = await requestFrom(base(), { path: '/auth/backchannel-logout/dev', method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' }, from });
      expect(res.status).toBe(400);
    }
    const events = await expectAudited(from, 'auth.backchannel_logout', 'invalid_logout_token', 30);
    expect(events.find((e) => e.details['aggregated'] === undefined)?.details).toMatchObject({ provider: 'dev', problem: 'unverifiable' });
  });

  test('a token for a provider that does not exist names no provider', async () => {
    const from = '127.0.0.24';
    const res = await requestFrom(base(), { path: `/auth/backchannel-logout/${'x'.repeat(300)}`, method: 'POST', body: 'logout_token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, from });
    expect(res.status).toBe(400);
    const [event] = await expectAudited(from, 'auth.backchannel_logout', 'unknown_provider', 1);
    expect(event?.details['provider']).toBeNull();
  });
});

describe('forged and refused chat callbacks are audited', () => {
  const slackForged = (): { path: string; method: string; body: string; headers: Record<string, string> } => ({
    path: SLACK_INTERACTIONS_PATH,
    method: 'POST',
    body: 'payload=%7B%7D',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(Math.floor(Date.now() / 1000)), 'x-slack-signature': `v0=${'0'.repeat(64)}` },
  });
  const teamsForged = { path: TEAMS_MESSAGES_PATH, method: 'POST', body: '{}', headers: { 'content-type': 'application/json', authorization: 'Bearer not.a.token' } };
  const mattermostForged = { path: MATTERMOST_ACTIONS_PATH, method: 'POST', body: JSON.stringify({ user_id: 'u1', post_id: 'p1', channel_id: 'c1', context: { requestId: randomUUID(), action: 'approve', nonce: 'n', exp: 0, sig: 'forged' } }), headers: { 'content-type': 'application/json' } };

  test.each([
    ['Slack (a bad signature)', 'slack', slackForged, 'bad_signature', '127.0.0.31'],
    ['Teams (a bad bearer token)', 'teams', () => teamsForged, 'bad_token', '127.0.0.32'],
    ['Mattermost (a forged button context)', 'mattermost', () => mattermostForged, 'bad_context', '127.0.0.33'],
  ])('a flood of forged %s callbacks is refused and audited as a handful of events with a count', async (_what, platform, call, reason, from) => {
    for (let i = 0; i < 25; i++) expect((await requestFrom(base(), { ...call(), from })).status).toBe(401);
    const events = await expectAudited(from, 'chat.callback_refused', reason, 25);
    expect(events.find((e) => e.details['aggregated'] === undefined)).toMatchObject({ actor: null, details: { platform } });
  });

  test('correctly signed clicks from a foreign workspace are audited aggregated per workspace', async () => {
    const from = '127.0.0.34';
    const payload = { type: 'block_actions', api_app_id: SLACK.appId, team: { id: 'TELSEWHERE' }, user: { id: 'UOUTSIDER' }, actions: [{ action_id: 'approve', value: '{}' }] };
    for (let i = 0; i < 12; i++) {
      const body = `payload=${encodeURIComponent(JSON.stringify({ ...payload, trigger_id: `t${i}` }))}`;
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': slackSignature(SLACK.signingSecret, timestamp, body) };
      expect((await requestFrom(base(), { path: SLACK_INTERACTIONS_PATH, method: 'POST', body, headers, from })).status).toBe(403);
    }
    let events: AuditEvent[] = [];
    await waitFor(
      async () => {
        events = (await aude.get('/api/audit?action=chat.click_refused&limit=500')).json<{ events: AuditEvent[] }>().events.filter((e) => e.reason === 'workspace_not_allowed');
        return counted(events) === 12;
      },
      { ...WAIT, what: 'the aggregated foreign-workspace clicks' },
    );
    expect(events.length).toBeLessThanOrEqual(AUDITED_PER_WINDOW + 1);
    expect(events.find((e) => e.details['aggregated'] !== undefined)?.details).toMatchObject({ source: 'chat:slack:TELSEWHERE', aggregated: 12 - AUDITED_PER_WINDOW });
  });

  test("the chat-callback limit's 429s are audited aggregated", async () => {
    const from = '127.0.0.35';
    for (let i = 0; i < LIMIT_PER_MINUTE; i++) expect((await requestFrom(base(), { ...teamsForged, from })).status).toBe(401);
    for (let i = 0; i < 15; i++) expect((await requestFrom(base(), { ...teamsForged, from })).status).toBe(429);
    const events = await expectAudited(from, 'chat.callback_refused', 'rate_limited', 15);
    expect(events.find((e) => e.details['aggregated'] === undefined)?.details).toMatchObject({ platform: 'teams' });
  });
});
