// The workflow across failures and instances: a Redis restart loses nothing (AOF), and two
// portal instances on one Redis share requests, decisions and live events.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { privateServices, type PrivateServices } from './support/private-services.ts';
import { Browserless, loginAs } from './support/http.ts';
import { createRequest, seedDemoPlant, windowFromNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import type { AccessRequest } from '../server/requests/schema.ts';

let services: PrivateServices;
let redisUrl: string;

beforeAll(async () => {
  services = await privateServices('resilience', ['redis']);
  redisUrl = services.services.redis?.url ?? '';
});

afterAll(async () => {
  await services?.close();
});

describe('a Redis restart', () => {
  let portal: TestPortal;
  afterAll(async () => portal?.close());

  test('keeps every request, grant and audit event, and the chain still verifies', async () => {
    portal = await startTestPortal({ AIRLOCK_REDIS_URL: redisUrl });
    await seedDemoPlant(portal);
    const vera = await loginAs(portal.publicUrl, 'vera');
    const mona = await loginAs(portal.publicUrl, 'mona');
    const aude = await loginAs(portal.publicUrl, 'aude');
    const approvedId = await createRequest(vera, { machineId: 'cnc-07' });
    await mona.post(`/api/requests/${approvedId}/approve`, { comment: 'before the restart' });
    const pendingId = await createRequest(vera, { machineId: 'press-hmi' });
    const before = {
      approved: (await vera.get(`/api/requests/${approvedId}`)).json<{ request: AccessRequest }>().request,
      pending: (await vera.get(`/api/requests/${pendingId}`)).json<{ request: AccessRequest }>().request,
      audit: (await aude.get('/api/audit?limit=500')).json<{ events: unknown[] }>().events,
    };
    expect(before.audit).toHaveLength(3); // created, approved, created

    await services.stopService('redis');
    expect((await vera.get(`/api/requests/${approvedId}`)).status).toBe(503);
    await services.startService('redis');
    await waitFor(async () => (await vera.get(`/api/requests/${approvedId}`)).status === 200, { timeoutMs: 15_000, what: 'Redis to come back' });

    expect((await vera.get(`/api/requests/${approvedId}`)).json<{ request: AccessRequest }>().request).toEqual(before.approved);
    expect((await vera.get(`/api/requests/${pendingId}`)).json<{ request: AccessRequest }>().request).toEqual(before.pending);
    expect((await aude.get('/api/audit?limit=500')).json<{ events: unknown[] }>().events).toEqual(before.audit);
    expect((await aude.get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
    expect(await portal.services.requests.grantFor('dev:vera', 'cnc-07', new Date(before.approved.windowStart))).toMatchObject({ requestId: approvedId });
    // And the workflow carries on.
    expect((await mona.post(`/api/requests/${pendingId}/deny`, { comment: 'after the restart' })).status).toBe(200);
  });
});

describe('two portal instances on one Redis', () => {
  let a: TestPortal;
  let b: TestPortal;
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  /** Reads Server-Sent Events from /api/events until `until` matches one; resolves with it. */
  async function nextEvent(agent: Browserless, until: (e: { type: string; requestId: string; state: string }) => boolean, timeoutMs = 5_000) {
    const controller = new AbortController();
    const res = await fetch(new URL('/api/events', agent.base), { headers: { cookie: agent.cookieHeader() }, signal: controller.signal });
    const reader = res.body?.getReader();
    if (reader === undefined) throw new Error('no event stream');
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let buffer = '';
    const decoder = new TextDecoder();
    const ready = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) throw new Error('event stream ended');
          buffer += decoder.decode(value, { stream: true });
          for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (data === undefined) continue;
            const event = JSON.parse(data) as { type: string; requestId: string; state: string };
            if (until(event)) return event;
          }
        }
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    })();
    return { event: ready };
  }

  test('a request created on one instance is decided on the other; both see the same state and events', async () => {
    const secret = randomBytes(32).toString('base64url');
    a = await startTestPortal({ AIRLOCK_REDIS_URL: redisUrl, AIRLOCK_SESSION_SECRET: secret });
    b = await startTestPortal({ AIRLOCK_REDIS_URL: redisUrl, AIRLOCK_SESSION_SECRET: secret });
    await seedDemoPlant(a);
    const vera = await loginAs(a.publicUrl, 'vera');
    const monaOnB = await loginAs(b.publicUrl, 'mona');

    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 3_600_000) });
    expect((await monaOnB.get('/api/requests?scope=waiting')).json<{ requests: AccessRequest[] }>().requests.map((r) => r.id)).toContain(id);

    // The vendor listens on A; the decision is made on B.
    const listening = await nextEvent(vera, (e) => e.requestId === id && e.type === 'request.decided');
    const decided = await monaOnB.post(`/api/requests/${id}/approve`, { comment: 'from instance B' });
    expect(decided.status).toBe(200);
    await expect(listening.event).resolves.toEqual({ type: 'request.decided', requestId: id, state: 'approved', at: expect.any(String) });

    const onA = (await vera.get(`/api/requests/${id}`)).json<{ request: AccessRequest }>().request;
    const onB = (await monaOnB.get(`/api/requests/${id}`)).json<{ request: AccessRequest }>().request;
    expect(onA).toEqual(onB);
    expect(onA.state).toBe('approved');

    // A session cookie minted by A is honoured by B (sessions live in Redis).
    const veraOnB = new Browserless(b.publicUrl);
    veraOnB.setCookie(SESSION_COOKIE, vera.cookie(SESSION_COOKIE) ?? '');
    expect((await veraOnB.get(`/api/requests/${id}`)).json<{ request: AccessRequest }>().request).toEqual(onA);
  });

  test('a vendor does not receive events about other vendors’ requests', async () => {
    const victor = await loginAs(a.publicUrl, 'victor');
    const vera = await loginAs(a.publicUrl, 'vera');
    const mona = await loginAs(b.publicUrl, 'mona');
    const victorHears = await nextEvent(victor, () => true, 1_500);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    await mona.post(`/api/requests/${id}/deny`, {});
    await expect(victorHears.event).rejects.toThrow();
  });
});
