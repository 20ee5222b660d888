// Floods from one source: /api/me counts against the per-user API limit; sign-in starts and
// callbacks are limited per source address before any session is stored (and a sign-in under
// way is kept only briefly); chat callbacks are limited per source before their checks run.
// Refusals are 429 rate_limited in the JSON error shape, and other sources are unaffected.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, requestFrom, type RawResponse } from './support/http.ts';
import { redisDbUrl } from './support/services.ts';
import { startAllPlatformsChatPortal, type ChatPortal } from './support/chat.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import { TEAMS_MESSAGES_PATH } from '../server/chat/teams.ts';
import { MATTERMOST_ACTIONS_PATH } from '../server/chat/mattermost.ts';
import { keys } from '../server/keys.ts';
import { PRE_SIGN_IN_TTL_SECONDS } from '../server/http/session.ts';

const DB = 15;
/** Another loopback address: Linux routes all of 127/8 to lo, so this is a second source. */
const OTHER_SOURCE = '127.0.0.2';

function expectRateLimited(res: RawResponse): void {
  expect(res.status).toBe(429);
  expect(res.json()).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('Too many requests') } });
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
}

describe('/api/me is behind the per-user API limit', () => {
  let portal: TestPortal;
  beforeAll(async () => {
    portal = await startTestPortal({ AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: '4' }, { freshDb: DB });
  });
  afterAll(async () => portal?.close());

  test('a signed-in user polling /api/me is refused once over the budget', async () => {
    const aude = await loginAs(portal.publicUrl, 'aude');
    for (let i = 0; i < 4; i++) expect((await aude.get('/api/me')).status).toBe(200);
    const refused = await aude.get('/api/me');
    expect(refused.status).toBe(429);
    expect(refused.json()).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    // Per user: someone else on the same address still gets through.
    expect((await (await loginAs(portal.publicUrl, 'adam')).get('/api/me')).status).toBe(200);
  });
});

describe('sign-in is limited per source address', () => {
  let portal: TestPortal;
  const redis = createClient({ url: redisDbUrl(DB) });
  const sessionKeys = async (): Promise<string[]> => redis.keys(`${keys.sessionPrefix}*`);

  beforeAll(async () => {
    portal = await startTestPortal({ AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE: '5' }, { freshDb: DB });
    await redis.connect();
  });
  afterAll(async () => {
    await portal?.close();
    redis.destroy();
  });

  test('a flood of /auth/login is refused with 429 before it stores sessions; other sources still sign in', async () => {
    for (let i = 0; i < 5; i++) expect((await requestFrom(portal.publicUrl, { path: '/auth/login' })).status).toBe(302);
    const stored = await sessionKeys();
    expect(stored).toHaveLength(5);
    for (let i = 0; i < 20; i++) expectRateLimited(await requestFrom(portal.publicUrl, { path: '/auth/login' }));
    // Callbacks share the budget (a forged-callback flood costs a counter, not a session read).
    expectRateLimited(await requestFrom(portal.publicUrl, { path: '/auth/callback/dev?code=x&state=y' }));
    expect(await sessionKeys()).toHaveLength(5);
    expect((await requestFrom(portal.publicUrl, { path: '/auth/login', from: OTHER_SOURCE })).status).toBe(302);
  });

  test('a sign-in under way is kept minutes, not the whole sign-in lifetime', async () => {
    const before = new Set(await sessionKeys());
    expect((await requestFrom(portal.publicUrl, { path: '/auth/login', from: '127.0.0.3' })).status).toBe(302);
    const started = (await sessionKeys()).filter((k) => !before.has(k));
    expect(started).toHaveLength(1);
    const ttl = await redis.ttl(started[0] ?? '');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(PRE_SIGN_IN_TTL_SECONDS);
  });
});

describe('chat callbacks are limited per source address', () => {
  let chat: ChatPortal;

  beforeAll(async () => {
    chat = await startAllPlatformsChatPortal(DB, { AIRLOCK_RATE_LIMIT_CHAT_CALLBACKS_PER_MINUTE: '3' });
  });
  afterAll(async () => {
    await chat?.close();
  });

  test('forged callbacks to Slack, Teams and Mattermost share one budget per source, then get 429', async () => {
    const base = chat.portal.publicUrl;
    const forged = [
      { path: SLACK_INTERACTIONS_PATH, method: 'POST', body: 'payload=%7B%7D', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { path: TEAMS_MESSAGES_PATH, method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } },
      { path: MATTERMOST_ACTIONS_PATH, method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } },
    ];
    // Within the budget each platform's own check answers (unsigned, untrusted: refused, not rate limited).
    for (const call of forged) {
      const res = await requestFrom(base, call);
      expect(res.status).not.toBe(429);
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
    for (const call of forged) expectRateLimited(await requestFrom(base, call));
    // Another source is not affected.
    expect((await requestFrom(base, { ...forged[0], from: OTHER_SOURCE } as Parameters<typeof requestFrom>[1])).status).not.toBe(429);
  });
});
