// The admin's inventory API: sites, companies, machines and write-only credentials, each
// change audited; nobody else may touch it and no API ever returns a credential.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { seedDemoPlant } from './support/workflow.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let portal: TestPortal;
let adam: Browserless;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;
type ErrorJson = { error: { code: string } };

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 4 });
  await seedDemoPlant(portal);
  [adam, vera, mona, aude] = (await Promise.all(['adam', 'vera', 'mona', 'aude'].map((u) => loginAs(portal.publicUrl, u)))) as [Browserless, Browserless, Browserless, Browserless];
});
afterAll(async () => portal?.close());

const newMachine = {
  name: 'Paint booth PLC',
  siteId: 'site-b',
  protocol: 'vnc',
  host: '10.20.0.7',
  port: 5900,
  maxWindowMinutes: 90,
  requiredApprovals: 2,
  tags: ['PLC', 'Windows XP'],
  policy: { clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: true },
};

describe('admin inventory API', () => {
  test('only admins reach it', async () => {
    for (const agent of [vera, mona, aude]) {
      const res = await agent.get('/api/admin/machines');
      expect(res.status).toBe(403);
      expect(res.json<ErrorJson>().error.code).toBe('forbidden');
    }
    expect((await vera.request('PUT', '/api/admin/machines/x', { body: newMachine })).status).toBe(403);
  });

  test('an admin adds a machine, sets its credential write-only, and every change is audited', async () => {
    const saved = await adam.request('PUT', '/api/admin/machines/paint-plc', { body: newMachine });
    expect(saved.status).toBe(200);
    const cred = await adam.request('PUT', '/api/admin/machines/paint-plc/credential', { body: { username: 'op', password: 'hunter2-but-longer' } });
    expect(cred.status).toBe(204);

    const list = await adam.get('/api/admin/machines');
    expect(list.text).not.toContain('hunter2');
    const machine = list.json<{ machines: Array<Record<string, unknown>> }>().machines.find((m) => m['id'] === 'paint-plc');
    expect(machine).toMatchObject({ host: '10.20.0.7', port: 5900, hasCredential: true, requiredApprovals: 2, siteName: 'Plant B (Porto)' });
    // A vendor of site B's company sees it, without address; one of site A's does not.
    const victor = await loginAs(portal.publicUrl, 'victor');
    const seen = (await victor.get('/api/machines')).json<{ machines: Array<Record<string, unknown>> }>().machines.find((m) => m['id'] === 'paint-plc');
    expect(seen).toBeDefined();
    expect(seen).not.toHaveProperty('host');
    expect((await vera.get('/api/machines')).text).not.toContain('paint-plc');

    const events = (await aude.get('/api/audit?target=machine:paint-plc')).json<{ events: AuditEvent[] }>().events;
    expect(events.map((e) => e.action).sort()).toEqual(['admin.credential.set', 'admin.machine.saved']);
    expect(JSON.stringify(events)).not.toContain('hunter2');
    expect(portal.logLines.join('\n')).not.toContain('hunter2');
  });

  test('bad machine definitions are refused with the field named', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ ...newMachine, protocol: 'ftp' }, 'invalid_input', 'protocol'],
      [{ ...newMachine, siteId: 'site-z' }, 'unknown_site', 'site-z'],
      [{ ...newMachine, rdpSecurity: 'rdp' }, 'invalid_input', 'rdpSecurity'],
      [{ ...newMachine, guacd: 'plant-z' }, 'unknown_guacd', 'plant-z'],
      [{ ...newMachine, port: 70000 }, 'invalid_input', 'port'],
    ];
    for (const [body, code, named] of cases) {
      const res = await adam.request('PUT', '/api/admin/machines/bad-one', { body });
      expect(res.status).toBe(400);
      expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code, message: expect.stringContaining(named) });
    }
    expect((await adam.get('/api/admin/machines')).text).not.toContain('bad-one');
    const noSecret = await adam.request('PUT', '/api/admin/machines/cnc-07/credential', { body: { username: 'op' } });
    expect(noSecret.status).toBe(400);
  });

  test('sites in use cannot be deleted; companies name existing sites', async () => {
    const del = await adam.request('DELETE', '/api/admin/sites/site-a');
    expect(del.status).toBe(409);
    expect(del.json<ErrorJson>().error.code).toBe('site_in_use');
    const company = await adam.request('PUT', '/api/admin/companies/new-co', { body: { name: 'New Co', sites: ['site-q'] } });
    expect(company.json<ErrorJson>().error.code).toBe('unknown_site');
    expect((await adam.request('PUT', '/api/admin/companies/new-co', { body: { name: 'New Co', sites: ['site-b'] } })).status).toBe(200);
    expect((await adam.get('/api/admin/companies')).json<{ companies: Array<{ id: string }> }>().companies.map((c) => c.id)).toContain('new-co');
  });
});
