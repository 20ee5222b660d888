// The access workflow over HTTP on a real portal and Redis: who may request, see, decide,
// cancel and revoke; what a decision grants; races; expiry; rate limits; rejected input.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, seedDemoPlant, windowFromNow } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';
import { keys } from '../server/keys.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let portal: TestPortal;
let vera: Browserless; // vendor, Acme Automation: site A only
let victor: Browserless; // vendor, Bolt Robotics: sites A and B
let mona: Browserless; // plant manager, site A
let olga: Browserless; // plant manager, site A
let bruno: Browserless; // plant manager, site B
let aude: Browserless; // auditor
let adam: Browserless; // admin

type ErrorJson = { error: { code: string; message: string } };

async function getRequest(agent: Browserless, id: string): Promise<AccessRequest> {
  const res = await agent.get(`/api/requests/${id}`);
  expect(res.status).toBe(200);
  return res.json<{ request: AccessRequest }>().request;
}

async function auditFor(id: string): Promise<AuditEvent[]> {
  const res = await aude.get(`/api/audit?target=request:${id}&limit=500`);
  expect(res.status).toBe(200);
  return res.json<{ events: AuditEvent[] }>().events;
}

beforeAll(async () => {
  portal = await startTestPortal({ AIRLOCK_SWEEP_INTERVAL_MS: '200' }, { freshDb: 1 });
  await seedDemoPlant(portal);
  [vera, victor, mona, olga, bruno, aude, adam] = await Promise.all(
    ['vera', 'victor', 'mona', 'olga', 'bruno', 'aude', 'adam'].map((u) => loginAs(portal.publicUrl, u)),
  ) as [Browserless, Browserless, Browserless, Browserless, Browserless, Browserless, Browserless];
});

afterAll(async () => {
  await portal?.close();
});

describe('what each role sees of the inventory', () => {
  test('a vendor sees only machines of sites their company may request, never an address', async () => {
    const veraMachines = (await vera.get('/api/machines')).json<{ machines: Array<Record<string, unknown>> }>().machines;
    expect(veraMachines.map((m) => m['siteId'])).toEqual(expect.arrayContaining(['site-a']));
    expect(veraMachines.every((m) => m['siteId'] === 'site-a')).toBe(true);
    expect(veraMachines.every((m) => !('host' in m) && !('port' in m))).toBe(true);
    const victorSites = new Set((await victor.get('/api/machines')).json<{ machines: Array<{ siteId: string }> }>().machines.map((m) => m.siteId));
    expect(victorSites).toEqual(new Set(['site-a', 'site-b']));
  });
});

describe('request, approve, grant', () => {
  test('the site A manager approves; site B manager can neither see nor decide; the vendor gets the grant', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(1_500, 3_600_000), workOrder: 'WO-4711' });
    const created = await getRequest(vera, id);
    expect(created).toMatchObject({ state: 'pending', machine: { id: 'cnc-07', siteId: 'site-a' }, workOrder: 'WO-4711', requiredApprovals: 1 });

    const monaInbox = (await mona.get('/api/requests?scope=waiting')).json<{ requests: AccessRequest[] }>().requests;
    expect(monaInbox.map((r) => r.id)).toContain(id);
    const brunoInbox = (await bruno.get('/api/requests?scope=waiting')).json<{ requests: AccessRequest[] }>().requests;
    expect(brunoInbox.map((r) => r.id)).not.toContain(id);
    expect((await bruno.get(`/api/requests/${id}`)).status).toBe(404);
    const brunoTry = await bruno.post(`/api/requests/${id}/approve`, {});
    expect(brunoTry.status).toBe(404);

    const own = await vera.post(`/api/requests/${id}/approve`, {});
    expect(own.status).toBe(403);
    expect(own.json<ErrorJson>().error.code).toBe('own_request');

    const approved = await mona.post(`/api/requests/${id}/approve`, { comment: 'go ahead' });
    expect(approved.status).toBe(200);
    const request = approved.json<{ request: AccessRequest }>().request;
    expect(request).toMatchObject({ state: 'approved', decision: { by: { name: 'Mona Manager' }, comment: 'go ahead' } });
    expect(request.grant).toEqual({ start: created.windowStart, end: created.windowEnd, policy: created.requestedPolicy });
    expect((await getRequest(vera, id)).state).toBe('approved');

    // The grant is valid from the window start, not before (server-side, not a TTL).
    const grants = portal.services.requests;
    expect(await grants.grantFor('dev:vera', 'cnc-07', new Date(Date.parse(created.windowStart) - 1))).toBeUndefined();
    expect(await grants.grantFor('dev:vera', 'cnc-07', new Date(created.windowStart))).toMatchObject({ requestId: id });
    expect(await grants.grantFor('dev:vera', 'cnc-07', new Date(created.windowEnd))).toBeUndefined();
    expect(await grants.grantFor('dev:vera', 'press-hmi', new Date(created.windowStart))).toBeUndefined();
    expect(await grants.grantFor('dev:victor', 'cnc-07', new Date(created.windowStart))).toBeUndefined();

    const events = await auditFor(id);
    const actions = events.map((e) => `${e.action}:${e.outcome}:${e.actor?.id ?? '-'}`).reverse();
    expect(actions).toEqual([
      'request.created:ok:dev:vera',
      'request.approve:refused:dev:bruno',
      'request.approve:refused:dev:vera',
      'request.approved:ok:dev:mona',
    ]);
    expect(events.find((e) => e.actor?.id === 'dev:vera' && e.outcome === 'refused')?.reason).toBe('own_request');
  });

  test('an approver may shorten the window and tighten the policy, not widen them', async () => {
    const id = await createRequest(victor, { machineId: 'cnc-07', ...windowFromNow(60_000, 3_600_000) });
    const request = await getRequest(victor, id);
    const later = new Date(Date.parse(request.windowEnd) + 60_000).toISOString();
    const widen = await mona.post(`/api/requests/${id}/approve`, { windowEnd: later });
    expect(widen.status).toBe(400);
    expect(widen.json<ErrorJson>().error.code).toBe('invalid_window_end');
    const loosen = await mona.post(`/api/requests/${id}/approve`, { policy: { fileTransfer: true } });
    expect(loosen.json<ErrorJson>().error.code).toBe('policy_not_allowed');

    const shorter = new Date(Date.parse(request.windowStart) + 15 * 60_000).toISOString();
    const ok = await mona.post(`/api/requests/${id}/approve`, { windowEnd: shorter, policy: { clipboardCopy: false } });
    expect(ok.status).toBe(200);
    expect(ok.json<{ request: AccessRequest }>().request.grant).toEqual({
      start: request.windowStart,
      end: shorter,
      policy: { ...request.requestedPolicy, clipboardCopy: false },
    });
  });

  test('a two-approval machine stays pending after one approval and needs a second, distinct approver', async () => {
    const id = await createRequest(vera, { machineId: 'scada-historian' });
    const first = await mona.post(`/api/requests/${id}/approve`, {});
    expect(first.json<{ request: AccessRequest }>().request).toMatchObject({ state: 'pending', approvals: [{ by: { id: 'dev:mona' } }] });
    const again = await mona.post(`/api/requests/${id}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.json<ErrorJson>().error.code).toBe('already_approved');
    const monaInbox = (await mona.get('/api/requests?scope=waiting')).json<{ requests: AccessRequest[] }>().requests;
    expect(monaInbox.map((r) => r.id)).not.toContain(id);
    const second = await olga.post(`/api/requests/${id}/approve`, {});
    expect(second.json<{ request: AccessRequest }>().request).toMatchObject({ state: 'approved', approvals: [{ by: { id: 'dev:mona' } }, { by: { id: 'dev:olga' } }] });
  });

  test('20 concurrent approve/deny clicks produce exactly one decision and one decision event', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const clicks = Array.from({ length: 20 }, (_, i) => {
      const who = i % 2 === 0 ? mona : olga;
      return i % 3 === 0 ? who.post(`/api/requests/${id}/deny`, { comment: `no ${i}` }) : who.post(`/api/requests/${id}/approve`, { comment: `yes ${i}` });
    });
    const statuses = (await Promise.all(clicks)).map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const events = await auditFor(id);
    const decisions = events.filter((e) => (e.action === 'request.approved' || e.action === 'request.denied') && e.outcome === 'ok');
    expect(decisions).toHaveLength(1);
    expect(events.filter((e) => e.outcome === 'refused')).toHaveLength(19);
    const final = await getRequest(vera, id);
    expect(final.state).toBe(decisions[0]?.action === 'request.approved' ? 'approved' : 'denied');
  });

  test('cancel by the requester only; revoke by a site approver or admin ends the grant', async () => {
    const pendingId = await createRequest(vera, { machineId: 'cnc-07' });
    const byManager = await mona.post(`/api/requests/${pendingId}/cancel`, {});
    expect(byManager.status).toBe(403);
    expect(byManager.json<ErrorJson>().error.code).toBe('not_requester');
    expect((await vera.post(`/api/requests/${pendingId}/cancel`, {})).json<{ request: AccessRequest }>().request.state).toBe('cancelled');
    expect((await vera.post(`/api/requests/${pendingId}/cancel`, {})).json<ErrorJson>().error.code).toBe('not_cancellable');

    const id = await createRequest(victor, { machineId: 'plc-gateway', ...windowFromNow(1_000, 30 * 60_000) });
    await bruno.post(`/api/requests/${id}/approve`, {});
    await waitFor(async () => (await portal.services.requests.grantFor('dev:victor', 'plc-gateway')) !== undefined, { timeoutMs: 5_000, what: 'the window to start' });
    const byVendor = await victor.post(`/api/requests/${id}/revoke`, { reason: 'mine' });
    expect(byVendor.status).toBe(403);
    const byOtherSite = await mona.post(`/api/requests/${id}/revoke`, {});
    expect(byOtherSite.status).toBe(404);
    const revoked = await adam.post(`/api/requests/${id}/revoke`, { reason: 'line stopped for inspection' });
    expect(revoked.json<{ request: AccessRequest }>().request).toMatchObject({ state: 'revoked', revocation: { by: { id: 'dev:adam' }, reason: 'line stopped for inspection' } });
    expect(await portal.services.requests.grantFor('dev:victor', 'plc-gateway')).toBeUndefined();
    expect((await auditFor(id)).map((e) => e.action)).toContain('grant.revoked');
  });

  test('a pending request expires when its window ends, and can no longer be approved', async () => {
    // Pending until its window's end (issue 13): a short window, so the end comes soon.
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(800, 1_000) });
    await waitFor(async () => (await portal.redis.hGet(keys.requests.request(id), 'state')) === 'expired', { timeoutMs: 5_000, what: 'the sweep to expire the request' });
    expect((await getRequest(vera, id)).state).toBe('expired');
    const late = await mona.post(`/api/requests/${id}/approve`, {});
    expect(late.status).toBe(409);
    expect((await auditFor(id)).filter((e) => e.action === 'request.expired')).toHaveLength(1);
  });

  test('an extension is a new request starting at the grant end, approved again', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 30 * 60_000) });
    const grant = (await mona.post(`/api/requests/${id}/approve`, {})).json<{ request: AccessRequest }>().request.grant;
    const end = Date.parse(grant?.end ?? '');
    const wrongStart = await vera.post('/api/requests', { machineId: 'cnc-07', windowStart: new Date(end + 60_000).toISOString(), windowEnd: new Date(end + 3_600_000).toISOString(), reason: 'more', extendsRequestId: id });
    expect(wrongStart.json<ErrorJson>().error.code).toBe('invalid_extension');
    const notMine = await victor.post('/api/requests', { machineId: 'cnc-07', windowStart: grant?.end, windowEnd: new Date(end + 3_600_000).toISOString(), reason: 'more', extendsRequestId: id });
    expect(notMine.json<ErrorJson>().error.code).toBe('invalid_extension');
    const extension = await vera.post('/api/requests', { machineId: 'cnc-07', windowStart: grant?.end, windowEnd: new Date(end + 3_600_000).toISOString(), reason: 'more time', extendsRequestId: id });
    expect(extension.status).toBe(201);
    expect(extension.json<{ request: AccessRequest }>().request).toMatchObject({ state: 'pending', extendsRequestId: id });
  });

  test('listing: mine, waiting and all are scoped to the caller', async () => {
    const mine = (await vera.get('/api/requests?scope=mine&limit=200')).json<{ requests: AccessRequest[] }>().requests;
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.requester.id === 'dev:vera')).toBe(true);
    expect((await vera.get('/api/requests?scope=all')).status).toBe(403);
    const brunoAll = (await bruno.get('/api/requests?scope=all&limit=200')).json<{ requests: AccessRequest[] }>().requests;
    expect(brunoAll.every((r) => r.machine.siteId === 'site-b')).toBe(true);
    const audeAll = (await aude.get('/api/requests?scope=all&limit=200')).json<{ requests: AccessRequest[] }>().requests;
    expect(new Set(audeAll.map((r) => r.machine.siteId))).toEqual(new Set(['site-a', 'site-b']));
    const page1 = (await aude.get('/api/requests?scope=all&limit=2')).json<{ requests: AccessRequest[]; nextCursor: string }>();
    const page2 = (await aude.get(`/api/requests?scope=all&limit=2&cursor=${page1.nextCursor}`)).json<{ requests: AccessRequest[] }>();
    expect(page1.requests.map((r) => r.id)).not.toEqual(page2.requests.map((r) => r.id));
    const expired = (await aude.get('/api/requests?scope=all&state=expired')).json<{ requests: AccessRequest[] }>().requests;
    expect(expired.length).toBeGreaterThan(0);
    expect(expired.every((r) => r.state === 'expired')).toBe(true);
  });
});

describe('bad input is refused with a clear code and stores nothing', () => {
  const hour = 3_600_000;
  const cases: Array<[string, Record<string, unknown>, number, string]> = [
    ['window in the past', { ...windowFromNow(-2 * hour, hour) }, 400, 'window_in_past'],
    ['end before start', { windowStart: windowFromNow(2 * hour, 0).windowStart, windowEnd: windowFromNow(hour, 0).windowStart }, 400, 'window_end_before_start'],
    ['longer than the machine allows', { ...windowFromNow(hour, 5 * hour) }, 400, 'window_too_long'],
    ['too far ahead', { ...windowFromNow(200 * 24 * hour, hour) }, 400, 'window_too_far'],
    ['unknown machine', { machineId: 'no-such-machine' }, 400, 'unknown_machine'],
    ['machine of a site the company may not request', { machineId: 'plc-gateway' }, 400, 'unknown_machine'],
    ['empty reason', { reason: '   ' }, 400, 'invalid_input'],
    ['oversized reason', { reason: 'x'.repeat(2001) }, 400, 'field_too_long'],
    ['wrong type', { windowStart: 12345 }, 400, 'invalid_input'],
    ['unknown field', { hostname: '10.0.0.1' }, 400, 'invalid_input'],
    ['policy beyond the machine', { policy: { fileTransfer: true } }, 400, 'policy_not_allowed'],
    ['malformed extension id', { extendsRequestId: 'abc' }, 400, 'invalid_input'],
  ];

  test.each(cases)('%s', async (_name, override, status, code) => {
    const before = { requests: await portal.redis.zCard(keys.requests.all), audit: await portal.redis.get(keys.audit.seq) };
    const res = await vera.post('/api/requests', { machineId: 'cnc-07', ...windowFromNow(hour, hour), reason: 'maintenance', ...override });
    expect(res.status).toBe(status);
    const body = res.json<ErrorJson>();
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(5);
    expect(await portal.redis.zCard(keys.requests.all)).toBe(before.requests);
    expect(await portal.redis.get(keys.audit.seq)).toBe(before.audit);
  });

  test('malformed JSON and a non-vendor creating a request', async () => {
    const bad = await vera.request('POST', '/api/requests', { body: '{"machineId":', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(bad.json<ErrorJson>().error.code).toBe('malformed_json');
    const manager = await mona.post('/api/requests', { machineId: 'cnc-07', ...windowFromNow(hour, hour), reason: 'x' });
    expect(manager.status).toBe(403);
  });

  test('a malformed request id and unknown query parameters', async () => {
    expect((await vera.get('/api/requests/not-a-uuid')).json<ErrorJson>().error.code).toBe('invalid_input');
    expect((await vera.get('/api/requests?scope=everything')).status).toBe(400);
    expect((await vera.get('/api/requests?limit=100000')).status).toBe(400);
  });
});

test('writes over the per-user limit get 429 with Retry-After', async () => {
  // A database of its own: rate-limit counters are shared by every portal on one Redis.
  const limited = await startTestPortal({ AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: '3' }, { freshDb: 3 });
  try {
    const agent = await loginAs(limited.publicUrl, 'victor');
    const body = { machineId: 'nope', ...windowFromNow(3_600_000, 3_600_000), reason: 'x' };
    for (let i = 0; i < 3; i++) expect((await agent.post('/api/requests', body)).status).toBe(400);
    const over = await agent.post('/api/requests', body);
    expect(over.status).toBe(429);
    expect(over.json<ErrorJson>().error.code).toBe('rate_limited');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another user has a budget of their own.
    const other = await loginAs(limited.publicUrl, 'vera');
    expect((await other.post('/api/requests', body)).status).toBe(400);
  } finally {
    await limited.close();
  }
});
