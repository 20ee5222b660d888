// A hung Redis (SIGSTOP: the socket stays open, nothing answers) must not hang the portal:
// sign-in, approve, ticket and API calls answer 503 store_unavailable, and everything works
// again once Redis resumes. A private Redis, since this suite freezes it.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { privateServices, type PrivateServices } from './support/private-services.ts';
import { Browserless, loginAs, startLogin, submitLogin } from './support/http.ts';
import { createRequest, seedDemoPlant } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';

/** Far above the bound the watchdog gives (timeout + probe interval), far below Jest's timeout. */
const GENEROUS_BOUND_MS = 30_000;

let services: PrivateServices;
let portal: TestPortal;

/** Redis is this suite's only private service: freezing the services freezes Redis alone. */
const freeze = (): void => services.signal('SIGSTOP');
const thaw = (): void => services?.signal('SIGCONT');

beforeAll(async () => {
  services = await privateServices('redis-hang', ['redis']);
  const pids = services.pids();
  expect(pids).toHaveLength(1);
  // The default command timeout: this suite checks the shipped setting, not a test-only one.
  portal = await startTestPortal({ AIRLOCK_REDIS_URL: services.services.redis?.url ?? '' });
  await seedDemoPlant(portal);
});

afterAll(async () => {
  thaw();
  await portal?.close();
  await services?.close();
});

interface Answer {
  what: string;
  status: number;
  code: string | undefined;
  ms: number;
}

/** One call with a deadline of its own, so a hang fails the test by name instead of timing out. */
async function timed(what: string, agent: Browserless, method: string, url: string, body?: unknown): Promise<Answer> {
  const started = Date.now();
  const headers: Record<string, string> = { accept: 'application/json', cookie: agent.cookieHeader(), origin: new URL(agent.base).origin };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(url, agent.base), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
    signal: AbortSignal.timeout(GENEROUS_BOUND_MS),
  }).catch((err: unknown) => {
    throw new Error(`${what}: no answer within ${GENEROUS_BOUND_MS} ms (${(err as Error).message})`);
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { what, status: res.status, code, ms: Date.now() - started };
}

test('with Redis frozen, sign-in, approve, ticket and API calls answer 503 store_unavailable, then recover', async () => {
  const vera = await loginAs(portal.publicUrl, 'vera');
  const mona = await loginAs(portal.publicUrl, 'mona');
  const requestId = await createRequest(vera, { machineId: 'cnc-07' });
  // A sign-in half done: the IdP (in memory) has vouched; the portal's callback needs Redis.
  const signingIn = new Browserless(portal.publicUrl);
  const callback = await submitLogin(signingIn, await startLogin(signingIn), 'olga');
  const anonymous = new Browserless(portal.publicUrl);

  freeze();
  try {
    // All at once, as users would: each is in flight when Redis stops answering.
    const first = await Promise.all([
      timed('sign-in start', anonymous, 'GET', '/auth/login'),
      timed('sign-in callback', signingIn, 'GET', callback),
      timed('approve', mona, 'POST', `/api/requests/${requestId}/approve`, {}),
      timed('ticket', vera, 'POST', '/api/sessions', { requestId }),
      timed('API read', vera, 'GET', '/api/requests'),
      timed('who am I', vera, 'GET', '/api/me'),
    ]);
    // And again while it is still frozen: the client is reconnecting now, which must not hang either.
    const second = await Promise.all([
      timed('approve again', mona, 'POST', `/api/requests/${requestId}/approve`, {}),
      timed('API read again', vera, 'GET', '/api/requests'),
      timed('ticket again', vera, 'POST', '/api/sessions', { requestId }),
    ]);
    for (const answer of [...first, ...second]) {
      expect({ what: answer.what, status: answer.status, code: answer.code }).toEqual({ what: answer.what, status: 503, code: 'store_unavailable' });
    }
    // The process itself stayed responsive.
    expect((await timed('healthz', anonymous, 'GET', '/healthz')).status).toBe(200);
    expect((await timed('readyz', anonymous, 'GET', '/readyz')).status).toBe(503);
  } finally {
    thaw();
  }

  await waitFor(async () => (await vera.get('/api/me')).status === 200, { timeoutMs: 15_000, what: 'the portal to use Redis again' });
  const approved = await mona.post(`/api/requests/${requestId}/approve`, {});
  // Approved now, or (had the frozen approve reached Redis before the reset) already decided.
  expect([200, 409]).toContain(approved.status);
  expect((await vera.get(`/api/requests/${requestId}`)).json<{ request: { state: string } }>().request.state).toBe('approved');
});
