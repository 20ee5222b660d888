// Inventory changes take access away: removing a company's site, deleting a company, a machine
// or a site, or moving a machine to another site revokes the grants it invalidates (their live
// sessions end) and cancels the pending requests, through the state machine, audited with the
// admin as actor. Through the admin API on a real portal, Redis, guacd and sshd.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { type Browserless, loginAll } from './support/http.ts';
import { auditEvents, createRequest, grantNow, readRequest, seedDemoPlant, sessionTicket } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { testServices } from './support/services.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let spool: string;
let portal: TestPortal;
let vera: Browserless; // vendor, Acme Automation: site A
let victor: Browserless; // vendor, Bolt Robotics: sites A and B
let mona: Browserless; // plant manager, site A
let bruno: Browserless; // plant manager, site B
let aude: Browserless; // auditor
let adam: Browserless; // admin

type ErrorJson = { error: { code: string } };

/** Files a request and has it approved (its window starts in a minute: approved, not started). */
async function approved(vendor: Browserless, approver: Browserless, machineId: string): Promise<string> {
  const id = await createRequest(vendor, { machineId });
  const res = await approver.post(`/api/requests/${id}/approve`, {});
  expect(res.status).toBe(200);
  return id;
}

const stateOf = async (id: string): Promise<string> => (await readRequest(aude, id)).state;

/** The event of `action` about request `id`, as the auditor reads it. */
async function eventOf(id: string, action: string): Promise<AuditEvent | undefined> {
  return (await auditEvents(aude, `request:${id}`)).find((e) => e.action === action);
}

async function expectRevokedByAdmin(id: string, reasonNames: string): Promise<void> {
  const request = await readRequest(aude, id);
  expect(request.state).toBe('revoked');
  expect(request.revocation).toMatchObject({ by: { id: 'dev:adam' }, reason: expect.stringContaining(reasonNames) });
  expect(await eventOf(id, 'grant.revoked')).toMatchObject({ actor: { id: 'dev:adam' }, outcome: 'ok', reason: expect.stringContaining(reasonNames) });
}

async function expectCancelledByAdmin(id: string, reasonNames: string): Promise<void> {
  expect(await stateOf(id)).toBe('cancelled');
  expect(await eventOf(id, 'request.cancelled')).toMatchObject({ actor: { id: 'dev:adam' }, outcome: 'ok', reason: expect.stringContaining(reasonNames) });
}

async function adminEvent(targetType: string, id: string, action: string): Promise<AuditEvent | undefined> {
  return (await auditEvents(aude, `${targetType}:${id}`)).find((e) => e.action === action);
}

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-inventory-revocation-'));
  portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 6 });
  await seedDemoPlant(portal, { targets: true });
  [vera, victor, mona, bruno, aude, adam] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona', 'bruno', 'aude', 'adam');
});

afterAll(async () => {
  await portal?.close();
  rmSync(spool, { recursive: true, force: true });
});

describe('inventory changes revoke the access they invalidate', () => {
  test("removing a company's access to a site revokes its vendors' grants there and cancels their pending requests", async () => {
    const started = await grantNow(portal, victor, mona, 'cnc-07');
    const later = await approved(victor, mona, 'cnc-07');
    const pending = await createRequest(victor, { machineId: 'press-hmi' });
    const otherSite = await approved(victor, bruno, 'plc-gateway');
    const otherCompany = await approved(vera, mona, 'cnc-07');

    const saved = await adam.request('PUT', '/api/admin/companies/bolt-robotics', { body: { name: 'Bolt Robotics', sites: ['site-b'] } });
    expect(saved.status).toBe(200);

    await expectRevokedByAdmin(started, 'bolt-robotics');
    await expectRevokedByAdmin(later, 'bolt-robotics');
    await expectCancelledByAdmin(pending, 'bolt-robotics');
    expect(await stateOf(otherSite)).toBe('approved');
    expect(await stateOf(otherCompany)).toBe('approved');
    // The vendor holds a revoked grant now: no ticket, no tunnel.
    const ticket = await victor.post('/api/sessions', { requestId: started });
    expect(ticket.status).toBe(403);
    expect(ticket.json<ErrorJson>().error.code).toBe('no_grant');
    expect((await adminEvent('company', 'bolt-robotics', 'admin.company.saved'))?.details).toMatchObject({ revoked: 2, cancelled: 1 });

    expect((await adam.request('PUT', '/api/admin/companies/bolt-robotics', { body: { name: 'Bolt Robotics', sites: ['site-a', 'site-b'] } })).status).toBe(200);
  });

  test("deleting a company revokes and cancels all its vendors' access, and nobody else's", async () => {
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    const pending = await createRequest(vera, { machineId: 'press-hmi' });
    const otherCompany = await approved(victor, mona, 'cnc-07');
    // Every grant of the company goes, those of earlier tests included.
    const mine = (await vera.get('/api/requests?scope=mine&limit=200')).json<{ requests: Array<{ id: string; state: string }> }>().requests;
    const liveGrants = mine.filter((r) => r.state === 'approved' || r.state === 'active').map((r) => r.id);
    expect(liveGrants).toContain(grant);

    expect((await adam.request('DELETE', '/api/admin/companies/acme-automation')).status).toBe(204);

    await expectRevokedByAdmin(grant, 'acme-automation');
    await expectCancelledByAdmin(pending, 'acme-automation');
    expect(await stateOf(otherCompany)).toBe('approved');
    expect((await vera.post('/api/sessions', { requestId: grant })).json<ErrorJson>().error.code).toBe('no_grant');
    for (const id of liveGrants) expect(await stateOf(id)).toBe('revoked');
    expect((await adminEvent('company', 'acme-automation', 'admin.company.deleted'))?.details).toMatchObject({ revoked: liveGrants.length, cancelled: 1 });

    expect((await adam.request('PUT', '/api/admin/companies/acme-automation', { body: { name: 'Acme Automation', sites: ['site-a'] } })).status).toBe(200);
  });

  test('deleting a machine ends the live session on it, revokes its grants and cancels its pending requests', async () => {
    const sshd = testServices().sshd;
    if (sshd === undefined) throw new Error('global-setup started no sshd');
    const machine = { name: 'Doomed controller', siteId: 'site-a', protocol: 'ssh', host: sshd.host, port: sshd.port, maxWindowMinutes: 60, policy: { clipboardCopy: false, clipboardPaste: true, fileTransfer: false, readOnly: false } };
    expect((await adam.request('PUT', '/api/admin/machines/doomed-ssh', { body: machine })).status).toBe(200);
    expect((await adam.request('PUT', '/api/admin/machines/doomed-ssh/credential', { body: { username: sshd.account.username, password: sshd.account.password } })).status).toBe(204);
    const grant = await grantNow(portal, vera, mona, 'doomed-ssh');
    const pending = await createRequest(victor, { machineId: 'doomed-ssh' });
    const { ticket } = await sessionTicket(vera, grant);
    const opened = await openTunnel(vera, { ticket });
    if (!opened.ok) throw new Error(`tunnel refused: ${opened.status} ${opened.body}`);
    await opened.tunnel.firstFrame();

    expect((await adam.request('DELETE', '/api/admin/machines/doomed-ssh')).status).toBe(204);

    expect(await opened.tunnel.errorMessage(5_000)).toBe('Access to this machine was revoked.');
    await opened.tunnel.closed;
    await expectRevokedByAdmin(grant, 'doomed-ssh');
    await expectCancelledByAdmin(pending, 'doomed-ssh');
    expect((await adminEvent('machine', 'doomed-ssh', 'admin.machine.deleted'))?.details).toMatchObject({ revoked: 1, cancelled: 1 });
  });

  test("moving a machine to another site revokes grants approved for the old site and cancels what is pending there", async () => {
    const machine = { name: 'Moving target', siteId: 'site-a', protocol: 'ssh', host: '127.0.0.1', port: 9, maxWindowMinutes: 60 };
    expect((await adam.request('PUT', '/api/admin/machines/mover', { body: machine })).status).toBe(200);
    const grant = await approved(victor, mona, 'mover');
    const pending = await createRequest(victor, { machineId: 'mover' });
    // Saving it unchanged takes nothing away.
    expect((await adam.request('PUT', '/api/admin/machines/mover', { body: machine })).status).toBe(200);
    expect(await stateOf(grant)).toBe('approved');

    expect((await adam.request('PUT', '/api/admin/machines/mover', { body: { ...machine, siteId: 'site-b' } })).status).toBe(200);

    await expectRevokedByAdmin(grant, 'site-a');
    await expectCancelledByAdmin(pending, 'site-a');
    expect((await adminEvent('machine', 'mover', 'admin.machine.saved'))?.details).toMatchObject({ movedFrom: 'site-a', revoked: 1, cancelled: 1 });
    // Site B's manager decides what is filed from now on.
    const fresh = await createRequest(victor, { machineId: 'mover' });
    expect((await mona.post(`/api/requests/${fresh}/approve`, {})).status).toBe(404);
    expect((await bruno.post(`/api/requests/${fresh}/approve`, {})).status).toBe(200);
  });

  test('a site goes only once its machines are gone, and nothing filed under it stays live', async () => {
    expect((await adam.request('PUT', '/api/admin/sites/site-c', { body: { name: 'Plant C' } })).status).toBe(200);
    expect((await adam.request('PUT', '/api/admin/companies/bolt-robotics', { body: { name: 'Bolt Robotics', sites: ['site-a', 'site-b', 'site-c'] } })).status).toBe(200);
    expect((await adam.request('PUT', '/api/admin/machines/plant-c-hmi', { body: { name: 'Plant C HMI', siteId: 'site-c', protocol: 'vnc', host: '127.0.0.1', port: 9 } })).status).toBe(200);
    const pending = await createRequest(victor, { machineId: 'plant-c-hmi' });
    expect((await adam.request('DELETE', '/api/admin/sites/site-c')).json<ErrorJson>().error.code).toBe('site_in_use');

    expect((await adam.request('DELETE', '/api/admin/machines/plant-c-hmi')).status).toBe(204);
    expect((await adam.request('DELETE', '/api/admin/sites/site-c')).status).toBe(204);
    await expectCancelledByAdmin(pending, 'plant-c-hmi');
    expect((await adminEvent('site', 'site-c', 'admin.site.deleted'))?.details).toMatchObject({ revoked: 0, cancelled: 0 });
  });
});
