// "Somebody is watching" (issue 13): live views are recorded per session in Redis, shown in
// GET /api/sessions (to the vendor too) and announced on the event stream as
// session.watchers_changed; across instances, dropped when the session ends, and healed of the
// views of an instance that died.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { grantNow, seedDemoPlant } from './support/workflow.ts';
import { openSession, watchSession } from './support/tunnel.ts';
import { redisDbUrl } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import { keys } from '../server/keys.ts';
import type { LiveSessionView } from '../sessions/routes.ts';

const DB = 13;
let spool: string;
let a: TestPortal;
let b: TestPortal;
let vera: Browserless;
let monaOnB: Browserless;
let olgaOnB: Browserless;

/** The live sessions as `agent` sees them. */
const sessionsOf = async (agent: Browserless): Promise<LiveSessionView[]> => (await agent.get('/api/sessions')).json<{ sessions: LiveSessionView[] }>().sessions;
const watchersOf = async (agent: Browserless, id: string): Promise<string[]> => ((await sessionsOf(agent)).find((s) => s.id === id)?.watchers ?? []).map((w) => w.name);

/** The browser's event stream (GET /api/events) as `agent`: every `event:` line it has received. */
async function eventStream(agent: Browserless): Promise<{ seen: string[]; close(): void }> {
  const controller = new AbortController();
  const res = await fetch(new URL('/api/events', agent.base), { headers: { cookie: agent.cookieHeader(), accept: 'text/event-stream' }, signal: controller.signal });
  const seen: string[] = [];
  const reader = res.body?.getReader();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const chunk = await reader?.read();
        if (chunk === undefined || chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        for (const m of buffer.matchAll(/^event: (.+)$/gm)) seen.push(m[1] ?? '');
        buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
      }
    } catch {
      // aborted
    }
  })();
  return { seen, close: () => controller.abort() };
}

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-watchers-spool-'));
  const env = { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_SESSION_SECRET: randomBytes(32).toString('base64url') };
  a = await startTestPortal(env, { freshDb: DB });
  b = await startTestPortal({ ...env, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
  await seedDemoPlant(a, { targets: true });
  vera = await loginAs(a.publicUrl, 'vera');
  [monaOnB, olgaOnB] = (await Promise.all(['mona', 'olga'].map((u) => loginAs(b.publicUrl, u)))) as [Browserless, Browserless];
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  rmSync(spool, { recursive: true, force: true });
});

test('the vendor sees who watches, live, whichever instance the watcher is on; the list shows each person once', async () => {
  const mona = await loginAs(a.publicUrl, 'mona');
  const grant = await grantNow(a, vera, mona, 'cnc-07');
  const { id, tunnel } = await openSession(vera, grant);
  await tunnel.firstFrame();
  await waitFor(async () => (await sessionsOf(vera)).some((s) => s.id === id), { timeoutMs: 5_000, what: 'the session in the list' });
  expect(await watchersOf(vera, id)).toEqual([]);
  const events = await eventStream(vera);
  try {
    const first = await watchSession(monaOnB, id);
    await waitFor(async () => (await watchersOf(vera, id)).length === 1, { timeoutMs: 5_000, what: 'Mona as a watcher' });
    expect(await watchersOf(vera, id)).toEqual(['Mona Manager']);
    await waitFor(() => events.seen.includes('session.watchers_changed'), { timeoutMs: 5_000, what: 'the vendor to hear of it' });
    // A second view by the same person is still one watcher; another person is another.
    const second = await watchSession(monaOnB, id);
    const third = await watchSession(olgaOnB, id);
    await waitFor(async () => (await watchersOf(monaOnB, id)).length === 2, { timeoutMs: 5_000, what: 'Olga as a watcher' });
    expect(await watchersOf(vera, id)).toEqual(['Mona Manager', 'Olga Manager']);
    expect(Object.keys(await a.redis.hGetAll(keys.sessions.watchers(id)))).toHaveLength(3);

    const heard = events.seen.filter((e) => e === 'session.watchers_changed').length;
    await third.close();
    await waitFor(async () => (await watchersOf(vera, id)).length === 1, { timeoutMs: 5_000, what: 'Olga to leave' });
    await waitFor(() => events.seen.filter((e) => e === 'session.watchers_changed').length > heard, { timeoutMs: 5_000, what: 'the change to be announced' });
    await first.close();
    await second.close();
    await waitFor(async () => (await watchersOf(vera, id)).length === 0, { timeoutMs: 5_000, what: 'Mona to leave' });
  } finally {
    events.close();
  }

  // A view held by an instance that died never said goodbye: the housekeeping round drops it.
  await a.redis.hSet(keys.sessions.watchers(id), 'ghost', JSON.stringify({ userId: 'dev:bruno', name: 'Bruno Manager', since: new Date().toISOString(), instance: 'an-instance-that-died' }));
  expect(await watchersOf(vera, id)).toEqual(['Bruno Manager']);
  await waitFor(async () => (await watchersOf(vera, id)).length === 0, { timeoutMs: 10_000, what: 'the dead instance’s view to be healed' });

  // The session ends: who watched it goes with it.
  const lingering = await watchSession(monaOnB, id);
  await waitFor(async () => (await watchersOf(vera, id)).length === 1, { timeoutMs: 5_000, what: 'Mona watching again' });
  await tunnel.close();
  await lingering.closed;
  await waitFor(async () => (await a.redis.exists(keys.sessions.watchers(id))) === 0, { timeoutMs: 5_000, what: 'the watchers to be dropped with the session' });
});
