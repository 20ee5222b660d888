// Request timing (issue 13): a request stays pending until its window ends and a late approval
// grants what is left of it (a request filed at 08:27 for 08:30 used to expire at 08:30,
// unexplained); "start now" and "start when approved" windows; expired requests say why.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, readRequest, seedDemoPlant, windowFromNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';
import { keys } from '../server/keys.ts';
import { RequestService } from '../server/requests/service.ts';
import { RequestStore } from '../server/requests/store.ts';
import { ON_APPROVAL_DECIDE_MS } from '../server/requests/timing.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let portal: TestPortal;
let vera: Browserless;
let mona: Browserless;
let olga: Browserless;
let aude: Browserless;

type ErrorJson = { error: { code: string; message: string } };

const auditFor = async (id: string): Promise<AuditEvent[]> => (await aude.get(`/api/audit?target=request:${id}&limit=100`)).json<{ events: AuditEvent[] }>().events;
const approve = async (agent: Browserless, id: string, body: Record<string, unknown> = {}) => agent.post(`/api/requests/${id}/approve`, body);
const file = async (body: Record<string, unknown>) => vera.post('/api/requests', { machineId: 'cnc-07', reason: 'replace a worn spindle encoder', ...body });

/** A request service on the portal's Redis whose clock runs `aheadMs` in the future. */
function serviceAt(aheadMs: number): RequestService {
  const { inventory, audit, events } = portal.services;
  return new RequestService({ store: new RequestStore(portal.redis), inventory, audit, events, now: () => new Date(Date.now() + aheadMs) });
}

beforeAll(async () => {
  // A slow sweep: these tests read states the sweep would otherwise change under them.
  portal = await startTestPortal({ AIRLOCK_SWEEP_INTERVAL_MS: '200' }, { freshDb: 13 });
  await seedDemoPlant(portal);
  [vera, mona, olga, aude] = (await Promise.all(['vera', 'mona', 'olga', 'aude'].map((u) => loginAs(portal.publicUrl, u)))) as [Browserless, Browserless, Browserless, Browserless];
});

afterAll(async () => {
  await portal?.close();
});

describe('a set window', () => {
  test('still undecided when its window starts, a request stays pending; the approval grants the rest of the window from now', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(300, 3_600_000) });
    const filed = await readRequest(vera, id);
    expect(filed.timing).toEqual({ start: 'at', durationMinutes: 60, decideBy: filed.windowEnd });
    await waitFor(() => Date.now() > Date.parse(filed.windowStart) + 400, { timeoutMs: 5_000, what: 'the window to start' });
    // The sweep ran meanwhile (every 200 ms): the request is still waiting.
    expect((await readRequest(vera, id)).state).toBe('pending');
    expect((await mona.get('/api/requests?scope=waiting')).json<{ requests: AccessRequest[] }>().requests.map((r) => r.id)).toContain(id);

    const before = Date.now();
    const approved = (await approve(mona, id)).json<{ request: AccessRequest }>().request;
    expect(approved.state).toBe('approved');
    const grantStart = Date.parse(approved.grant?.start ?? '');
    expect(grantStart).toBeGreaterThanOrEqual(before);
    expect(grantStart).toBeLessThanOrEqual(Date.now());
    expect(approved.grant?.end).toBe(filed.windowEnd);
    // The request keeps the window as asked; the grant is what the approval gave.
    expect(approved.windowStart).toBe(filed.windowStart);
    expect(await portal.services.requests.grantFor('dev:vera', 'cnc-07')).toMatchObject({ requestId: id });
    const event = (await auditFor(id)).find((e) => e.action === 'request.approved');
    expect(event?.details['grantStart']).toBe(approved.grant?.start);
  });

  test('expires when its window ends, undecided, and says why (in the API and the audit log)', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(200, 900) });
    await waitFor(async () => (await portal.redis.hGet(keys.requests.request(id), 'state')) === 'expired', { timeoutMs: 5_000, what: 'the sweep to expire the request' });
    const expired = await readRequest(vera, id);
    expect(expired).toMatchObject({ state: 'expired', expiredReason: 'window_ended' });
    const late = await approve(mona, id);
    expect(late.status).toBe(409);
    expect((await auditFor(id)).find((e) => e.action === 'request.expired')).toMatchObject({ actor: null, reason: 'window_ended' });
  });

  test('a request due but not swept yet reads as expired, with its reason', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 60_000) });
    const later = serviceAt(3 * 60_000);
    expect(await later.lookup(id)).toMatchObject({ state: 'expired', expiredReason: 'window_ended' });
    expect((await readRequest(vera, id)).state).toBe('pending');
  });

  test('an approval may not shorten to before now', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(200, 3_600_000) });
    const filed = await readRequest(vera, id);
    await waitFor(() => Date.now() > Date.parse(filed.windowStart) + 300, { timeoutMs: 5_000, what: 'the window to start' });
    const tooShort = await approve(mona, id, { windowEnd: new Date(Date.parse(filed.windowStart) + 100).toISOString() });
    expect(tooShort.status).toBe(400);
    expect(tooShort.json<ErrorJson>().error.code).toBe('invalid_window_end');
  });

  test('a second approval after the first approver\u2019s shortened end has passed grants nothing', async () => {
    const id = await createRequest(vera, { machineId: 'scada-historian', ...windowFromNow(200, 3_600_000) });
    const filed = await readRequest(vera, id);
    const shortEnd = Date.parse(filed.windowStart) + 600;
    expect((await approve(mona, id, { windowEnd: new Date(shortEnd).toISOString() })).json<{ request: AccessRequest }>().request.state).toBe('pending');
    await waitFor(() => Date.now() > shortEnd + 50, { timeoutMs: 5_000, what: 'the shortened end to pass' });
    const second = await approve(olga, id);
    expect(second.status).toBe(409);
    expect(second.json<ErrorJson>().error.code).toBe('window_passed');
    const after = await readRequest(vera, id);
    expect(after).toMatchObject({ state: 'pending', approvals: [{ by: { id: 'dev:mona' } }] });
    expect((await auditFor(id)).some((e) => e.action === 'request.approve' && e.outcome === 'refused' && e.reason === 'window_passed')).toBe(true);
  });
});

describe('start now', () => {
  test('the window starts when the request is filed; with a length or an end', async () => {
    const before = Date.now();
    const res = await file({ start: 'now', durationMinutes: 45 });
    expect(res.status).toBe(201);
    const r = res.json<{ request: AccessRequest }>().request;
    expect(Date.parse(r.windowStart)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(r.windowEnd) - Date.parse(r.windowStart)).toBe(45 * 60_000);
    expect(r.timing).toEqual({ start: 'now', durationMinutes: 45, decideBy: r.windowEnd });
    const withEnd = await file({ start: 'now', windowEnd: new Date(Date.now() + 20 * 60_000).toISOString() });
    expect(withEnd.status).toBe(201);
    const approved = (await approve(mona, r.id)).json<{ request: AccessRequest }>().request;
    expect(Date.parse(approved.grant?.start ?? '')).toBeGreaterThanOrEqual(Date.parse(r.windowStart));
    expect(approved.grant?.end).toBe(r.windowEnd);
  });
});

describe('start when approved', () => {
  test('the window starts at the approval and keeps its length; pending until the decision deadline', async () => {
    const res = await file({ start: 'on_approval', durationMinutes: 30 });
    expect(res.status).toBe(201);
    const filed = res.json<{ request: AccessRequest }>().request;
    expect(filed.timing.start).toBe('on_approval');
    expect(filed.timing.durationMinutes).toBe(30);
    expect(Date.parse(filed.timing.decideBy) - Date.parse(filed.createdAt)).toBe(ON_APPROVAL_DECIDE_MS);

    await waitFor(() => Date.now() > Date.parse(filed.createdAt) + 500, { timeoutMs: 2_000, what: 'a moment to pass' });
    const before = Date.now();
    const approved = (await approve(mona, filed.id)).json<{ request: AccessRequest }>().request;
    const start = Date.parse(approved.grant?.start ?? '');
    expect(start).toBeGreaterThanOrEqual(before);
    expect(Date.parse(approved.grant?.end ?? '') - start).toBe(30 * 60_000);
    // The window moves to the approval's moment.
    expect(approved.windowStart).toBe(approved.grant?.start);
    expect(approved.windowEnd).toBe(approved.grant?.end);
    expect(await portal.services.requests.grantFor('dev:vera', 'cnc-07')).toMatchObject({ requestId: filed.id });
  });

  test('with two approvals, the window starts at the second; the first approver may shorten it', async () => {
    const filed = (await file({ machineId: 'scada-historian', start: 'on_approval', durationMinutes: 120 })).json<{ request: AccessRequest }>().request;
    const cap = new Date(Date.now() + 60 * 60_000).toISOString();
    expect((await approve(mona, filed.id, { windowEnd: cap })).json<{ request: AccessRequest }>().request.state).toBe('pending');
    const before = Date.now();
    const approved = (await approve(olga, filed.id)).json<{ request: AccessRequest }>().request;
    expect(Date.parse(approved.grant?.start ?? '')).toBeGreaterThanOrEqual(before);
    expect(approved.grant?.end).toBe(cap);
  });

  test('expires, saying nobody decided in time, once the deadline passes', async () => {
    const filed = (await file({ start: 'on_approval', durationMinutes: 30 })).json<{ request: AccessRequest }>().request;
    const later = serviceAt(ON_APPROVAL_DECIDE_MS + 1_000);
    await later.sweep();
    expect(await readRequest(vera, filed.id)).toMatchObject({ state: 'expired', expiredReason: 'not_decided_in_time' });
    expect((await auditFor(filed.id)).find((e) => e.action === 'request.expired')?.reason).toBe('not_decided_in_time');
  });
});

describe('refusals in plain words', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['"when approved" without a length', { start: 'on_approval' }, 'duration_required'],
    ['"when approved" with a start', { start: 'on_approval', durationMinutes: 30, ...windowFromNow(60_000, 60_000) }, 'window_not_allowed'],
    ['"now" with a start', { start: 'now', ...windowFromNow(60_000, 60_000) }, 'window_not_allowed'],
    ['"now" without an end', { start: 'now' }, 'window_required'],
    ['a set window without a start', { windowEnd: new Date(Date.now() + 3_600_000).toISOString() }, 'window_required'],
    ['both an end and a length', { start: 'now', durationMinutes: 10, windowEnd: new Date(Date.now() + 3_600_000).toISOString() }, 'window_not_allowed'],
    ['longer than the machine allows', { start: 'on_approval', durationMinutes: 241 }, 'window_too_long'],
    ['an unknown mode', { start: 'tomorrow', durationMinutes: 10 }, 'invalid_input'],
  ];
  test.each(cases)('%s', async (_name, body, code) => {
    const res = await file(body);
    expect(res.status).toBe(400);
    expect(res.json<ErrorJson>().error.code).toBe(code);
  });

  test('an extension starts when its grant ends, so it cannot start now or when approved', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 30 * 60_000) });
    expect((await approve(mona, id)).status).toBe(200);
    const res = await file({ start: 'now', durationMinutes: 30, extendsRequestId: id });
    expect(res.json<ErrorJson>().error.code).toBe('invalid_extension');
  });
});

test('a request filed before start modes existed is pending until its window ends, and the sweep gives it its due time', async () => {
  const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(200, 60_000) });
  const key = keys.requests.request(id);
  // What such a request looked like: no start mode, and in the pending index by its window's start.
  await portal.redis.hDel(key, ['startMode', 'durationMs', 'expiresAtMs']);
  const startMs = Number(await portal.redis.hGet(key, 'windowStartMs'));
  const endMs = Number(await portal.redis.hGet(key, 'windowEndMs'));
  await portal.redis.zAdd(keys.requests.pending, { score: startMs, value: id });
  await waitFor(async () => (await portal.redis.zScore(keys.requests.pending, id)) === endMs, { timeoutMs: 5_000, what: 'the sweep to re-score the request' });
  expect(await readRequest(vera, id)).toMatchObject({ state: 'pending', timing: { start: 'at', durationMinutes: 1 } });
});
