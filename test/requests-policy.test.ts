// Approvals only restrict: over HTTP on a real portal and Redis, per flag the restrictive value
// wins across the machine's ceiling, the request and every approval (the Lua merge included),
// and the broker's grant look-up still honours the machine's current ceiling.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { type Browserless, loginAll } from './support/http.ts';
import { createRequest, grantNow, readRequest, seedDemoPlant } from './support/workflow.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { Policy } from '../server/inventory/schema.ts';
import { POLICY_FLAGS, RESTRICTIVE, type PolicyFlag } from '../server/requests/policy.ts';
import { POLICY_TABLE, type Side } from './support/policy-table.ts';

let portal: TestPortal;
let victor: Browserless; // vendor, Bolt Robotics: sites A and B
let mona: Browserless; // plant manager, site A
let olga: Browserless; // plant manager, site A
let adam: Browserless; // admin

type ErrorJson = { error: { code: string; message: string } };

/** A site-A machine whose every flag sits on one side (R: grants least, P: grants most). */
const machineBody = (ceiling: Side, requiredApprovals: 1 | 2 = 1) => ({
  name: `Policy ceiling ${ceiling}`,
  siteId: 'site-a',
  protocol: 'ssh',
  host: '127.0.0.1',
  port: 9,
  maxWindowMinutes: 240,
  requiredApprovals,
  policy: policyOf(ceiling),
});

const valueOf = (flag: PolicyFlag, side: Side): boolean => (side === 'R' ? RESTRICTIVE[flag] : !RESTRICTIVE[flag]);
const policyOf = (side: Side): Policy => Object.fromEntries(POLICY_FLAGS.map((f) => [f, valueOf(f, side)])) as Policy;

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 6 });
  await seedDemoPlant(portal);
  [victor, mona, olga, adam] = await loginAll(portal.publicUrl, 'victor', 'mona', 'olga', 'adam');
  for (const [id, body] of [
    ['ceiling-p', machineBody('P')],
    ['ceiling-r', machineBody('R')],
    ['ceiling-p-two', machineBody('P', 2)],
  ] as const) {
    const saved = await adam.request('PUT', `/api/admin/machines/${id}`, { body });
    expect(saved.status).toBe(200);
  }
});

afterAll(async () => {
  await portal?.close();
});

describe('an approval may only restrict the policy', () => {
  test('a read-only request approved with readOnly:false stays read-only', async () => {
    const id = await createRequest(victor, { machineId: 'cnc-07', policy: { readOnly: true } });
    const loosen = await mona.post(`/api/requests/${id}/approve`, { policy: { readOnly: false } });
    expect(loosen.status).toBe(400);
    expect(loosen.json<ErrorJson>().error).toMatchObject({ code: 'policy_not_allowed', message: expect.stringContaining('readOnly') });
    expect((await readRequest(victor, id)).state).toBe('pending');
    // The same approval without the loosening goes through, and the grant is read-only.
    const ok = await mona.post(`/api/requests/${id}/approve`, { policy: { clipboardCopy: true, readOnly: true } });
    expect(ok.status).toBe(200);
    expect(ok.json<{ request: AccessRequest }>().request.grant?.policy.readOnly).toBe(true);
  });

  test('an approver can tighten a writable request to read-only', async () => {
    const id = await createRequest(victor, { machineId: 'cnc-07' });
    const ok = await mona.post(`/api/requests/${id}/approve`, { policy: { readOnly: true } });
    expect(ok.status).toBe(200);
    expect(ok.json<{ request: AccessRequest }>().request.grant?.policy).toEqual({ clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: true });
  });

  // The whole table through the API, service and Lua: each row is one request whose four flags
  // all take the row's side, so every flag (read-only's reversed polarity included) is checked.
  // The labels this suite's test names have always carried.
  const LABELS = { 'refused at request': 'request refused', 'refused at approval': 'approval refused' } as const;
  const TABLE = POLICY_TABLE.map(([ceiling, requested, approved, outcome]) => [ceiling, requested, approved, outcome === 'R' || outcome === 'P' ? outcome : LABELS[outcome]] as const);
  test.each(TABLE)('ceiling %s, requested %s, approved %s → %s', async (ceiling, requested, approved, expected) => {
    const machineId = ceiling === 'R' ? 'ceiling-r' : 'ceiling-p';
    const asked = requested === '-' ? {} : { policy: policyOf(requested) };
    const created = await victor.post('/api/requests', { machineId, windowStart: new Date(Date.now() + 60_000).toISOString(), windowEnd: new Date(Date.now() + 3_660_000).toISOString(), reason: 'policy table', ...asked });
    if (expected === 'request refused') {
      expect(created.status).toBe(400);
      expect(created.json<ErrorJson>().error.code).toBe('policy_not_allowed');
      return;
    }
    expect(created.status).toBe(201);
    const id = created.json<{ request: AccessRequest }>().request.id;
    const approval = await mona.post(`/api/requests/${id}/approve`, approved === '-' ? {} : { policy: policyOf(approved) });
    if (expected === 'approval refused') {
      expect(approval.status).toBe(400);
      expect(approval.json<ErrorJson>().error.code).toBe('policy_not_allowed');
      expect((await readRequest(victor, id)).state).toBe('pending');
      return;
    }
    expect(approval.status).toBe(200);
    expect(approval.json<{ request: AccessRequest }>().request.grant?.policy).toEqual(policyOf(expected));
  });

  test('two approvers each tighten a different flag and the grant carries both', async () => {
    const id = await createRequest(victor, { machineId: 'ceiling-p-two' });
    expect((await mona.post(`/api/requests/${id}/approve`, { policy: { clipboardCopy: false } })).status).toBe(200);
    const second = await olga.post(`/api/requests/${id}/approve`, { policy: { ...policyOf('P'), readOnly: true } });
    expect(second.status).toBe(200);
    expect(second.json<{ request: AccessRequest }>().request.grant?.policy).toEqual({ ...policyOf('P'), clipboardCopy: false, readOnly: true });
  });

  test("the machine's ceiling holds when an admin tightens it after the request and after the approval", async () => {
    const machine = { ...machineBody('P'), name: 'Tightened later' };
    expect((await adam.request('PUT', '/api/admin/machines/tightened', { body: machine })).status).toBe(200);
    const pending = await createRequest(victor, { machineId: 'tightened' });
    const granted = await grantNow(portal, victor, mona, 'tightened');
    const tightened = { ...machine, policy: { ...policyOf('P'), readOnly: true, fileTransfer: false } };
    expect((await adam.request('PUT', '/api/admin/machines/tightened', { body: tightened })).status).toBe(200);

    const approved = await mona.post(`/api/requests/${pending}/approve`, {});
    expect(approved.json<{ request: AccessRequest }>().request.grant?.policy).toEqual(tightened.policy);
    // Approved before: the stored grant is as decided, but what the broker opens with is capped.
    expect((await readRequest(victor, granted)).grant?.policy).toEqual(policyOf('P'));
    const me = (await victor.get('/api/me')).json<{ user: { id: string } }>().user.id;
    expect((await portal.services.requests.grantFor(me, 'tightened'))?.policy).toEqual(tightened.policy);
  });
});
