// Security (2), "every failure says why" (items 4–7): a refused credential, an unreachable
// machine, a guacd that dies or hangs each reach the vendor in plain words and the audit log
// with guacd's own status; an attempt that never drew a frame is `session.failed` and leaves
// the request as it was; /readyz asks guacd for a handshake; the supervisor runs any guacd build.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServices } from '../dev/supervisor.ts';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { privateServices, type PrivateServices } from './support/private-services.ts';
import { Browserless, loginAll } from './support/http.ts';
import { auditEvents, grantNow, readRequest, seedDemoPlant, sessionEnd, sessionTicket } from './support/workflow.ts';
import { openSession, openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { FAILURE_MESSAGES } from '../sessions/failures.ts';
import { probeGuacd } from '../sessions/tunnel/guacd-health.ts';

const WAIT = { timeoutMs: 20_000 };

describe('a session that never reaches its machine', () => {
  let portal: TestPortal;
  let vera: Browserless;
  let mona: Browserless;
  let aude: Browserless;

  beforeAll(async () => {
    portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: mkdtempSync(path.join(tmpdir(), 'airlock-failures-')), AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 7 });
    await seedDemoPlant(portal, { targets: true });
    [vera, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'mona', 'aude');
  });
  afterAll(async () => portal?.close());

  /** Opens the grant's tunnel and returns what the vendor was told and what the plant's audit says. */
  async function attempt(machineId: string): Promise<{ told: string; grant: string; end: { action: string; reason: string | null; details: Record<string, unknown> } }> {
    const grant = await grantNow(portal, vera, mona, machineId);
    const { ticket, id } = await sessionTicket(vera, grant);
    const opened = await openTunnel(vera, { ticket });
    if (!opened.ok) throw new Error(`refused ${opened.status}`);
    const told = await opened.tunnel.errorMessage(WAIT.timeoutMs);
    await opened.tunnel.closed;
    return { told, grant, end: await sessionEnd(aude, id) };
  }

  test('a refused credential: the vendor is told so, session.failed carries guacd’s status, the request is not active', async () => {
    const good = await portal.services.vault.reveal('cnc-07');
    if (good === undefined) throw new Error('no credential');
    await portal.services.vault.store('cnc-07', { username: good.username, password: 'not-the-password-1' });
    try {
      const { told, grant, end } = await attempt('cnc-07');
      expect(told).toBe(FAILURE_MESSAGES.credential_refused);
      expect(end).toMatchObject({ action: 'session.failed', reason: 'credential_refused', details: { detail: expect.stringContaining('guacd status 769') } });
      expect((await readRequest(aude, grant)).state).toBe('approved');
      expect((await auditEvents(aude, `request:${grant}`)).some((e) => e.action === 'session.started')).toBe(false);
    } finally {
      await portal.services.vault.store('cnc-07', good);
    }
  });

  test('an unreachable machine: the vendor is told so', async () => {
    const machine = await portal.services.inventory.machine('cnc-07');
    if (machine === undefined) throw new Error('no machine');
    await portal.services.inventory.putMachine({ ...machine, port: 1 });
    try {
      const { told, end } = await attempt('cnc-07');
      expect(told).toBe(FAILURE_MESSAGES.unreachable);
      expect(end).toMatchObject({ action: 'session.failed', reason: 'unreachable', details: { detail: expect.stringContaining('guacd status 519') } });
    } finally {
      await portal.services.inventory.putMachine(machine);
    }
  });

  test('a shell that exits ends the session as a normal end, not as a lost gateway', async () => {
    const session = await openSession(vera, await grantNow(portal, vera, mona, 'cnc-07'));
    session.tunnel.typeText('exit\n');
    expect(await session.tunnel.errorMessage()).toBe('The machine ended the session (for example, its shell exited).');
    await session.tunnel.closed;
    expect(await sessionEnd(aude, session.id)).toMatchObject({ action: 'session.ended', reason: 'ended_by_machine' });
  });
});

describe('a guacd that dies or hangs', () => {
  let services: PrivateServices;
  let portal: TestPortal;
  let vera: Browserless;
  let mona: Browserless;
  let aude: Browserless;

  beforeAll(async () => {
    services = await privateServices('guacd-gone', ['guacd']);
    const guacd = services.services.guacd;
    portal = await startTestPortal(
      { AIRLOCK_GUACD: `${guacd?.host ?? ''}:${guacd?.port ?? 0}`, AIRLOCK_RECORDING_SPOOL: path.join(services.stateDir, 'spool'), AIRLOCK_RECORDING_MIN_FREE_MB: '1' },
      { freshDb: 7 },
    );
    await seedDemoPlant(portal, { targets: true });
    [vera, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'mona', 'aude');
  });
  afterAll(async () => {
    services?.signal('SIGCONT');
    await portal?.close();
    await services?.close();
  });

  test('guacd killed mid-session: the vendor is told, the end is audited as guacd_lost', async () => {
    const session = await openSession(vera, await grantNow(portal, vera, mona, 'cnc-07'));
    await services.stopService('guacd');
    expect(await session.tunnel.errorMessage(WAIT.timeoutMs)).toBe(FAILURE_MESSAGES.guacd_lost);
    expect(await sessionEnd(aude, session.id)).toMatchObject({ action: 'session.ended', reason: 'guacd_lost' });
    await services.startService('guacd');
    await waitFor(async () => (await new Browserless(portal.publicUrl).get('/readyz')).status === 200, { ...WAIT, what: '/readyz after guacd is back' });
  });

  test('a hung guacd: /readyz says so (a handshake, not a TCP connect), tickets are 503 guacd_unavailable, and it recovers', async () => {
    const http = new Browserless(portal.publicUrl);
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    // Skips a pid of the guacd stopped in the previous test.
    const signal = services.signal;
    signal('SIGSTOP');
    try {
      await waitFor(async () => (await http.get('/readyz')).status === 503, { ...WAIT, what: '/readyz to notice the hung guacd' });
      expect((await http.get('/readyz')).json()).toMatchObject({ checks: { guacd: 'unresponsive', guacds: { default: { ok: false, problem: 'unresponsive' } } } });
      const refused = await vera.post('/api/sessions', { requestId: grant });
      expect(refused.status).toBe(503);
      expect(refused.json<{ error: { code: string } }>().error.code).toBe('guacd_unavailable');
    } finally {
      signal('SIGCONT');
    }
    await waitFor(async () => (await http.get('/readyz')).status === 200, { ...WAIT, what: '/readyz to recover' });
    expect((await http.get('/readyz')).json()).toMatchObject({ checks: { guacds: { default: { ok: true, version: 'VERSION_1_3_0' } } } });
  });
});

describe('the supervisor runs the guacd it is given', () => {
  test('AIRLOCK_GUACD_BIN’s binary is started, at info level when it is guacd ≥ 1.5', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-guacd-bin-'));
    const record = path.join(dir, 'args');
    const wrapper = path.join(dir, 'guacd');
    // A guacd build that reports 1.6 and records how it was started, then runs the real one.
    writeFileSync(wrapper, `#!/bin/sh\nif [ "$1" = "-v" ]; then echo "Guacamole proxy daemon (guacd) version 1.6.0"; exit 0; fi\necho "$@" > ${record}\nexec /usr/sbin/guacd "$@"\n`);
    chmodSync(wrapper, 0o755);
    const supervisor = await startServices({ stateDir: path.join(dir, 'state'), services: ['guacd'], guacdBin: wrapper });
    try {
      expect(readFileSync(record, 'utf8')).toMatch(/-L info/);
      const guacd = supervisor.services.guacd;
      expect(await probeGuacd({ host: guacd?.host ?? '', port: guacd?.port ?? 0 })).toEqual({ version: 'VERSION_1_3_0' });
    } finally {
      await supervisor.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docs/api.md', () => {
  test('lists exactly the failure messages the code sends', () => {
    const doc = readFileSync(path.join(import.meta.dirname, '../docs/api.md'), 'utf8');
    const missing = Object.entries(FAILURE_MESSAGES).filter(([kind, message]) => !doc.includes(`\`${kind}\`: "${message}"`));
    expect(missing).toEqual([]);
  });
});
