// Names, not ids (issue 13): requests carry the company's name (the inbox showed
// "acme-automation"), GET /api/companies names companies to whoever may see them, an audit
// search for "mona" finds Mona Manager's events, and refusals read in plain words (not
// "id: Invalid UUID").
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, seedDemoPlant } from './support/workflow.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let portal: TestPortal;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;

type ErrorJson = { error: { code: string; message: string } };

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 12 });
  await seedDemoPlant(portal);
  [vera, mona, aude] = (await Promise.all(['vera', 'mona', 'aude'].map((u) => loginAs(portal.publicUrl, u)))) as [Browserless, Browserless, Browserless];
});

afterAll(async () => {
  await portal?.close();
});

test('the inbox names the vendor\u2019s company, and follows a rename', async () => {
  const id = await createRequest(vera, { machineId: 'cnc-07' });
  const inbox = (await mona.get('/api/requests?scope=waiting')).json<{ requests: AccessRequest[] }>().requests;
  expect(inbox.find((r) => r.id === id)?.requester).toMatchObject({ company: 'acme-automation', companyName: 'Acme Automation' });
  const adam = await loginAs(portal.publicUrl, 'adam');
  expect((await adam.request('PUT', '/api/admin/companies/acme-automation', { body: { name: 'Acme Automation GmbH', sites: ['site-a'] } })).status).toBe(200);
  const renamed = (await mona.get(`/api/requests/${id}`)).json<{ request: AccessRequest }>().request;
  expect(renamed.requester.companyName).toBe('Acme Automation GmbH');
  expect(renamed.machine).toMatchObject({ siteName: 'Plant A (Lyon)', siteTimeZone: 'Europe/Paris' });
});

test('companies by name: staff see every company, a vendor only their own', async () => {
  const all = (await mona.get('/api/companies')).json<{ companies: Array<{ id: string; name: string }> }>().companies;
  expect(all.map((c) => c.id).sort()).toEqual(['acme-automation', 'bolt-robotics']);
  expect(all.every((c) => Object.keys(c).sort().join() === 'id,name')).toBe(true);
  const own = (await vera.get('/api/companies')).json<{ companies: Array<{ id: string }> }>().companies;
  expect(own.map((c) => c.id)).toEqual(['acme-automation']);
});

test('an audit search for "mona" finds Mona Manager\u2019s events, and only hers', async () => {
  const id = await createRequest(vera, { machineId: 'cnc-07' });
  expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200);
  for (const needle of ['mona', 'Mona Manager', 'MONA', 'dev:mona']) {
    const events = (await aude.get(`/api/audit?actor=${encodeURIComponent(needle)}&limit=500`)).json<{ events: AuditEvent[] }>().events;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.actor?.id === 'dev:mona')).toBe(true);
    expect(events.some((e) => e.action === 'request.approved' && e.target?.id === id)).toBe(true);
  }
  expect((await aude.get('/api/audit?actor=nobody-by-that-name')).json<{ events: AuditEvent[] }>().events).toEqual([]);
});

test('refusals read in plain words, the field still named', async () => {
  const badId = (await vera.get('/api/requests/not-a-uuid')).json<ErrorJson>().error;
  expect(badId).toEqual({ code: 'invalid_input', message: 'id: not a valid id' });
  const missing = (await vera.post('/api/requests', { machineId: 'cnc-07', windowStart: new Date(Date.now() + 3_600_000).toISOString(), windowEnd: new Date(Date.now() + 7_200_000).toISOString() })).json<ErrorJson>().error;
  // A body's error also lists every problem with its field (issues), so a form can show them all.
  expect(missing).toEqual({ code: 'invalid_input', message: 'reason: required', issues: [{ field: 'reason', code: 'invalid_input', message: 'required' }] });
  const badLimit = (await aude.get('/api/audit?limit=501')).json<ErrorJson>().error;
  expect(badLimit.message).toBe('limit: at most 500');
  for (const e of [badId, missing, badLimit]) expect(e.message).not.toMatch(/Invalid|Too big|expected .* received/);
});

// POST /api/requests answered the request as stored, before names and zones were filled in:
// the vendor's confirmation showed the window in UTC and the company by its id.
test('the request as filed carries the plant\u2019s time zone and the company\u2019s name', async () => {
  const res = await vera.post('/api/requests', { machineId: 'cnc-07', start: 'on_approval', durationMinutes: 30, reason: 'check the answer' });
  expect(res.status).toBe(201);
  const filed = res.json<{ request: AccessRequest }>().request;
  expect(filed.machine.siteTimeZone).toBe('Europe/Paris');
  expect(filed.requester.companyName).not.toBe('acme-automation');
});
