// Overlapping requests of one vendor for one machine (issue 11 item 13): with two approved
// windows that overlap, one Open used to fail with "no access right now" (the ticket took "the
// first grant for this user and machine"). Each grant now opens in its own window, through the
// real tunnel; and filing or approving an overlapping request is flagged (`overlaps`) to the
// vendor and the approver.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { type Browserless, loginAll } from './support/http.ts';
import { createRequest, seedDemoPlant, sessionTicket, windowFromNow } from './support/workflow.ts';
import { openSession } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import type { RequestPage, RequestWithOverlaps } from '../server/requests/schema.ts';

let spool: string;
let portal: TestPortal;
let vera: Browserless;
let victor: Browserless;
let mona: Browserless;

const HOUR = 3_600_000;

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-overlap-spool-'));
  portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 7 });
  await seedDemoPlant(portal, { targets: true });
  [vera, victor, mona] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona');
});

afterAll(async () => {
  await portal?.close();
  rmSync(spool, { recursive: true, force: true });
});

async function approve(id: string): Promise<RequestWithOverlaps> {
  const res = await mona.post(`/api/requests/${id}/approve`, {});
  if (res.status !== 200) throw new Error(`approve failed (${res.status}): ${res.text}`);
  return res.json<RequestWithOverlaps>();
}

const holdsNow = (id: string) => waitFor(async () => (await portal.services.requests.grantOf(id, 'dev:vera', 'cnc-07')) !== undefined, { timeoutMs: 5_000, what: `grant ${id} to start` });

describe('each grant opens in its own window', () => {
  test('two overlapping approved windows on one machine: each opens, each with its own end, each ended on its own', async () => {
    const short = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(1_200, 10 * 60_000) });
    const long = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(1_200, 30 * 60_000) });
    await approve(short);
    await approve(long);
    await holdsNow(short);
    await holdsNow(long);

    const ends = await Promise.all([short, long].map(async (id) => (await sessionTicket(vera, id)).endsAt));
    const grants = await Promise.all([short, long].map(async (id) => (await vera.get(`/api/requests/${id}`)).json<RequestWithOverlaps>().request.grant?.end));
    expect(ends).toEqual(grants);

    const a = await openSession(vera, short);
    const b = await openSession(vera, long);
    await waitFor(async () => (await portal.services.broker.registry.get(b.id)) !== undefined, { timeoutMs: 5_000, what: 'the registry entries' });
    expect((await portal.services.broker.registry.get(a.id))?.requestId).toBe(short);
    expect((await portal.services.broker.registry.get(b.id))?.requestId).toBe(long);
    // Revoking one grant ends its session only.
    expect((await mona.post(`/api/requests/${short}/revoke`, { reason: 'done early' })).status).toBe(200);
    await a.tunnel.closed;
    expect(b.tunnel.ws.readyState).toBe(b.tunnel.ws.OPEN);
    await b.tunnel.close();
  });

  test('an approved window that starts later does not open now, while the current one does', async () => {
    const now = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(1_200, 20 * 60_000) });
    const later = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(10 * 60_000, 20 * 60_000) });
    await approve(now);
    await approve(later);
    await holdsNow(now);
    const refused = await vera.post('/api/sessions', { requestId: later });
    expect([refused.status, refused.json<{ error: { code: string } }>().error.code]).toEqual([403, 'no_grant']);
    expect((await vera.post('/api/sessions', { requestId: now })).status).toBe(201);
  });
});

describe('overlaps are flagged to the vendor and the approver', () => {
  test('filing a request that overlaps one of the same vendor for the same machine names it; adjacent, other machines and other vendors do not', async () => {
    const base = Date.now() + 2 * 86_400_000;
    const at = (startH: number, endH: number) => ({ windowStart: new Date(base + startH * HOUR).toISOString(), windowEnd: new Date(base + endH * HOUR).toISOString() });
    const file = async (agent: Browserless, machineId: string, window: { windowStart: string; windowEnd: string }) => {
      const res = await agent.post('/api/requests', { machineId, reason: 'overlap check', ...window });
      expect(res.status).toBe(201);
      return res.json<RequestWithOverlaps>();
    };
    const first = await file(vera, 'press-hmi', at(0, 2));
    expect(first.overlaps).toEqual([]);
    const overlapping = await file(vera, 'press-hmi', at(1, 3));
    expect(overlapping.overlaps).toEqual([first.request.id]);
    expect((await file(vera, 'press-hmi', at(2, 3.5))).overlaps).toEqual([overlapping.request.id]); // touches the first's end only
    expect((await file(vera, 'cnc-07', at(0, 2))).overlaps).toEqual([]);
    expect((await file(victor, 'press-hmi', at(0, 2))).overlaps).toEqual([]);

    // The approver sees it before deciding (inbox and detail) and in the approval's answer.
    const inbox = (await mona.get('/api/requests?scope=waiting&limit=200')).json<RequestPage>();
    expect(inbox.overlaps?.[overlapping.request.id]).toEqual(expect.arrayContaining([first.request.id]));
    expect((await mona.get(`/api/requests/${first.request.id}`)).json<RequestWithOverlaps>().overlaps).toEqual([overlapping.request.id]);
    expect((await approve(overlapping.request.id)).overlaps).toEqual(expect.arrayContaining([first.request.id]));
    // The vendor's own list carries it too; a cancelled request no longer counts.
    expect((await vera.get('/api/requests?scope=mine')).json<RequestPage>().overlaps?.[first.request.id]).toEqual([overlapping.request.id]);
    expect((await vera.post(`/api/requests/${overlapping.request.id}/cancel`, {})).status).toBe(200);
    expect((await vera.get(`/api/requests/${first.request.id}`)).json<RequestWithOverlaps>().overlaps).toEqual([]);
  });
});
