// The admin's inventory API: sites, companies, machines and write-only credentials, each
// change audited; nobody else may touch it and no API ever returns a credential.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless, loginAll } from './support/http.ts';
import { seedDemoPlant } from './support/workflow.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { execFileSync } from 'node:child_process';
import { testServices } from './support/services.ts';

let portal: TestPortal;
let adam: Browserless;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;
type ErrorJson = { error: { code: string } };

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 4 });
  await seedDemoPlant(portal);
  [adam, vera, mona, aude] = await loginAll(portal.publicUrl, 'adam', 'vera', 'mona', 'aude');
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

describe('"Add" never overwrites; edits name the version they change (issue 11 item 12)', () => {
  const site = (id: string) => adam.get('/api/admin/sites').then((r) => r.json<{ sites: Array<{ id: string; name: string; version: number }> }>().sites.find((s) => s.id === id));

  test('adding a site, company or machine whose id exists is 409 already_exists and changes nothing', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['/api/admin/sites', { id: 'site-a', name: 'Renamed by mistake' }],
      ['/api/admin/companies', { id: 'acme-automation', name: 'Renamed by mistake', sites: ['site-b'] }],
      ['/api/admin/machines', { ...newMachine, id: 'cnc-07', name: 'Renamed by mistake', siteId: 'site-a' }],
    ];
    for (const [path, body] of cases) {
      const res = await adam.post(path, body);
      expect([path, res.status, res.json<ErrorJson>().error.code]).toEqual([path, 409, 'already_exists']);
    }
    expect((await site('site-a'))?.name).toBe('Plant A (Lyon)');
    expect((await adam.get('/api/admin/companies')).json<{ companies: Array<{ id: string; name: string; sites: string[] }> }>().companies.find((c) => c.id === 'acme-automation')).toMatchObject({ name: 'Acme Automation', sites: ['site-a'] });
    const machine = (await adam.get('/api/admin/machines')).json<{ machines: Array<Record<string, unknown>> }>().machines.find((m) => m['id'] === 'cnc-07');
    expect(machine).toMatchObject({ name: 'CNC 07 controller', siteName: 'Plant A (Lyon)', protocol: 'ssh' });
  });

  test('adding a new one is 201 with its version as ETag, and audited as created', async () => {
    const res = await adam.post('/api/admin/sites', { id: 'site-new', name: 'Plant N' });
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ site: { id: 'site-new', name: 'Plant N', timeZone: 'UTC', version: 1 } }); // a site without a zone is on UTC
    expect(res.headers.get('etag')).toBe('"1"');
    const events = (await aude.get('/api/audit?target=site:site-new')).json<{ events: AuditEvent[] }>().events;
    expect(events.map((e) => e.action)).toEqual(['admin.site.created']);
  });

  test('an edit made on a stale copy is 412 version_conflict; the fresh edit stays', async () => {
    const before = await site('site-b');
    if (before === undefined) throw new Error('no site-b');
    const first = await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'Plant B (Porto, new hall)' }, headers: { 'if-match': `"${before.version}"` } });
    expect(first.status).toBe(200);
    expect(first.headers.get('etag')).toBe(`"${before.version + 1}"`);
    // A second admin who loaded the same version saves later.
    const stale = await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'Plant B (Porto)' }, headers: { 'if-match': `"${before.version}"` } });
    expect(stale.status).toBe(412);
    expect(stale.json<ErrorJson>().error.code).toBe('version_conflict');
    expect((await site('site-b'))?.name).toBe('Plant B (Porto, new hall)');
    // A stale delete is refused the same way; a weak tag never matches.
    expect((await adam.request('DELETE', '/api/admin/companies/new-co', { headers: { 'if-match': '"999"' } })).status).toBe(412);
    expect((await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'x' }, headers: { 'if-match': `W/"${before.version + 1}"` } })).status).toBe(412);
    expect((await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'x' }, headers: { 'if-match': 'version 3' } })).json<ErrorJson>().error.code).toBe('invalid_if_match');
  });

  test('two edits of one version at once: exactly one wins', async () => {
    const machine = (await adam.get('/api/admin/machines/cnc-07')).json<{ machine: Record<string, unknown> & { version: number } }>().machine;
    const edit = (name: string) => adam.request('PUT', '/api/admin/machines/cnc-07', { body: { ...machine, name }, headers: { 'if-match': `"${machine.version}"` } });
    const results = await Promise.all([edit('CNC 07 (left)'), edit('CNC 07 (right)'), edit('CNC 07 (third)')]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412]);
    const winner = results.find((r) => r.status === 200)?.json<{ machine: { name: string } }>().machine.name;
    expect((await adam.get('/api/admin/machines/cnc-07')).json<{ machine: { name: string } }>().machine.name).toBe(winner);
  });

  test('an edit of a record deleted meanwhile is 412, not a silent re-creation', async () => {
    expect((await adam.post('/api/admin/companies', { id: 'short-lived', name: 'Short Lived', sites: [] })).status).toBe(201);
    expect((await adam.request('DELETE', '/api/admin/companies/short-lived')).status).toBe(204);
    const res = await adam.request('PUT', '/api/admin/companies/short-lived', { body: { name: 'Back', sites: [] }, headers: { 'if-match': '"1"' } });
    expect(res.status).toBe(412);
    expect((await adam.get('/api/admin/companies')).text).not.toContain('short-lived');
  });

  test('a body with several problems lists every one with its field', async () => {
    const res = await adam.post('/api/admin/machines', { ...newMachine, id: 'many-problems', name: '', port: 70000, siteId: 'site-z', guacd: 'plant-z', rdpSecurity: 'tls', hostKey: 'ssh-ed25519 AAAA' });
    expect(res.status).toBe(400);
    const { error } = res.json<{ error: { code: string; message: string; issues: Array<{ field: string; code: string; message: string }> } }>();
    expect(error.issues.map((i) => i.field).sort()).toEqual(['guacd', 'hostKey', 'hostKey', 'name', 'port', 'rdpSecurity', 'siteId']);
    expect(error.issues.find((i) => i.field === 'siteId')).toMatchObject({ code: 'unknown_site', message: expect.stringContaining('site-z') });
    expect(error.issues.find((i) => i.field === 'guacd')).toMatchObject({ code: 'unknown_guacd' });
    expect(error.message).toBe(`${error.issues[0]?.field}: ${error.issues[0]?.message}`);
    const company = await adam.post('/api/admin/companies', { id: 'Bad Id', name: '', sites: ['site-q'] });
    expect(company.json<{ error: { issues: Array<{ field: string }> } }>().error.issues.map((i) => i.field).sort()).toEqual(['id', 'name', 'sites']);
    expect((await adam.get('/api/admin/machines')).text).not.toContain('many-problems');
  });
});

describe('SSH host keys (issue 11 item 8)', () => {
  const sshd = () => {
    const s = testServices().sshd;
    if (s === undefined) throw new Error('global setup started no sshd');
    return s;
  };
  const sshMachine = { name: 'Packaging line gateway', siteId: 'site-b', protocol: 'ssh', host: '10.20.0.9', port: 22 };

  test('a pasted key (known_hosts line or .pub) is pinned as "type base64" and shown with its SHA256 fingerprint, audited by fingerprint', async () => {
    const [type, base64] = sshd().hostKey.split(' ');
    const res = await adam.post('/api/admin/machines', { ...sshMachine, id: 'pack-gw', hostKey: `[10.20.0.9]:22 ${type} ${base64} root@gw` });
    expect(res.status).toBe(201);
    const view = res.json<{ machine: Record<string, unknown> }>().machine;
    const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: `${sshd().hostKey}\n`, encoding: 'utf8' }).split(' ')[1];
    expect(view).toMatchObject({ hostKey: `${type} ${base64}`, hostKeyFingerprint: fingerprint, hostKeyPolicy: null });
    const saved = (await aude.get('/api/audit?target=machine:pack-gw')).json<{ events: AuditEvent[] }>().events[0];
    expect(saved?.details).toMatchObject({ hostKey: fingerprint, hostKeyPolicy: 'pinned' });
  });

  test('host key fields are refused where they make no sense', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...newMachine, hostKey: sshd().hostKey }, 'hostKey'],
      [{ ...newMachine, hostKeyPolicy: 'any' }, 'hostKeyPolicy'],
      [{ ...sshMachine, hostKey: sshd().hostKey, hostKeyPolicy: 'any' }, 'hostKeyPolicy'],
      [{ ...sshMachine, hostKey: 'ssh-ed25519 not-a-key' }, 'hostKey'],
    ];
    for (const [body, field] of cases) {
      const res = await adam.post('/api/admin/machines', { ...body, id: 'bad-key' });
      expect(res.status).toBe(400);
      expect(res.json<{ error: { issues: Array<{ field: string }> } }>().error.issues.map((i) => i.field)).toContain(field);
    }
  });

  test('"fetch host key" reads the server\'s keys, names the one guacd checks, and saves nothing', async () => {
    const before = (await adam.get('/api/admin/machines')).text;
    const res = await adam.post('/api/admin/ssh-host-keys/scan', { host: sshd().host, port: sshd().port });
    expect(res.status).toBe(200);
    const scan = res.json<{ keys: Array<{ type: string; key: string; fingerprint: string }>; preferred: { key: string; fingerprint: string } }>();
    expect(scan.preferred.key).toBe(sshd().hostKey);
    expect(scan.preferred.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect((await adam.get('/api/admin/machines')).text).toBe(before);
    const closed = await adam.post('/api/admin/ssh-host-keys/scan', { host: '127.0.0.1', port: 9 });
    expect([closed.status, closed.json<ErrorJson>().error.code]).toEqual([400, 'host_key_fetch_failed']);
    expect((await adam.post('/api/admin/ssh-host-keys/scan', { host: '-oProxyCommand=touch /tmp/x', port: 22 })).status).toBe(400);
    expect((await vera.post('/api/admin/ssh-host-keys/scan', { host: sshd().host, port: sshd().port })).status).toBe(403);
  });
});
