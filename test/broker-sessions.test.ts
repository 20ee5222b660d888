// Brokered sessions against the real guacd and targets: all four protocols recorded, the
// window's end, revoke and terminate (also across instances), live view, and recording failures.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs, loginAll } from './support/http.ts';
import { auditEvents, createRequest, grantNow, seedDemoPlant, sessionTicket, windowFromNow } from './support/workflow.ts';
import { openTunnel, type Tunnel } from './support/tunnel.ts';
import { redisDbUrl } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { keys } from '../server/keys.ts';

const DB = 8;
const secret = randomBytes(32).toString('base64url');
let spool: string;
let a: TestPortal;
let b: TestPortal;
/** Signed in on A: the vendors, the plant managers of site A and B, the auditor. */
let vera: Browserless, victor: Browserless, mona: Browserless, bruno: Browserless, aude: Browserless;

async function open(agent: Browserless, requestId: string): Promise<{ tunnel: Tunnel; id: string }> {
  const { ticket, id } = await sessionTicket(agent, requestId);
  const result = await openTunnel(agent, { ticket });
  if (!result.ok) throw new Error(`tunnel refused: ${result.status} ${result.body}`);
  return { tunnel: result.tunnel, id };
}

/** Vera's session on cnc-07, granted and opened on A, drawing, and in the registry as `seenBy` reads it. */
async function registeredSession(seenBy: TestPortal): Promise<{ requestId: string; tunnel: Tunnel; id: string }> {
  const requestId = await grantNow(a, vera, mona, 'cnc-07');
  const { tunnel, id } = await open(vera, requestId);
  await tunnel.firstFrame();
  await waitFor(async () => (await seenBy.services.broker.registry.get(id)) !== undefined, { timeoutMs: 5_000, what: 'the registry entry' });
  return { requestId, tunnel, id };
}

const auditOf = (sessionId: string): Promise<AuditEvent[]> => auditEvents(aude, `session:${sessionId}`);

const file = (id: string, suffix = ''): string => path.join(spool, `${id}${suffix}`);

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-sessions-spool-'));
  const env = { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_SESSION_SECRET: secret };
  a = await startTestPortal(env, { freshDb: DB });
  b = await startTestPortal({ ...env, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
  await seedDemoPlant(a, { targets: true });
  [vera, victor, mona, bruno, aude] = await loginAll(a.publicUrl, 'vera', 'victor', 'mona', 'bruno', 'aude');
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  rmSync(spool, { recursive: true, force: true });
});

describe('each protocol, recorded', () => {
  test.each([
    ['SSH with a password', 'cnc-07'],
    ['SSH with a private key', 'robot-cell-4'],
    ['Telnet', 'plc-gateway'],
  ])('%s: typed command output lands in the typescript, keys in the input log', async (_name, machineId) => {
    const vendor = machineId === 'cnc-07' ? vera : victor;
    const approver = machineId === 'cnc-07' ? mona : bruno;
    const requestId = await grantNow(a, vendor, approver, machineId);
    const { tunnel, id } = await open(vendor, requestId);
    await tunnel.firstFrame();
    const marker = `airlock-${randomBytes(4).toString('hex')}`;
    // The shell prompt is in the typescript once the login went through.
    await waitFor(() => existsSync(file(id, '.typescript')) && /[$#] $/m.test(readFileSync(file(id, '.typescript'), 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
    tunnel.typeText(`echo ${marker}-$((6*7))\n`);
    await waitFor(() => readFileSync(file(id, '.typescript'), 'utf8').includes(`${marker}-42`), { timeoutMs: 15_000, what: 'the command output in the typescript' });
    await tunnel.close();
    await waitFor(async () => (await auditOf(id)).some((e) => e.action === 'session.ended'), { timeoutMs: 5_000, what: 'session.ended' });

    expect(statSync(file(id)).size).toBeGreaterThan(1000);
    const events = readFileSync(file(id, '.events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; keysym?: number });
    const typed = events.filter((e) => e.type === 'key').map((e) => e.keysym);
    expect(typed).toContain('6'.codePointAt(0));
    const actions = (await auditOf(id)).map((e) => e.action).sort();
    expect(actions).toEqual(['session.ended', 'session.started']);
    expect((await vendor.get(`/api/requests/${requestId}`)).json<{ request: { state: string } }>().request.state).toBe('active');
  });

  test.each([
    ['VNC', 'press-hmi'],
    ['RDP (xrdp)', 'scada-historian'],
  ])('%s: frames arrive, input is relayed and logged, the recording grows', async (_name, machineId) => {
    let requestId: string;
    if (machineId === 'scada-historian') {
      const olga = await loginAs(a.publicUrl, 'olga');
      const id = await createRequest(vera, { machineId, ...windowFromNow(1_200, 600_000) });
      await mona.post(`/api/requests/${id}/approve`, {});
      await olga.post(`/api/requests/${id}/approve`, {});
      await waitFor(async () => (await a.services.requests.grantFor('dev:vera', machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
      requestId = id;
    } else {
      requestId = await grantNow(a, vera, mona, machineId);
    }
    const { tunnel, id } = await open(vera, requestId);
    await tunnel.waitFor((i) => i[0] === 'img' || i[0] === 'png', 30_000, 'an image');
    const sizeBefore = statSync(file(id)).size;
    tunnel.send('mouse', '200', '200', '0');
    tunnel.typeText('airlock typed this');
    await waitFor(() => readFileSync(file(id, '.events.jsonl'), 'utf8').includes(`"keysym":${'y'.codePointAt(0)}`), { timeoutMs: 5_000, what: 'keys in the input log' });
    await waitFor(() => statSync(file(id)).size > sizeBefore, { timeoutMs: 10_000, what: 'the recording to grow' });
    await tunnel.close();
  });
});

describe('the window, revoke and terminate', () => {
  test('the window’s end closes the session server-side, with the reason', async () => {
    const requestId = await grantNow(a, vera, mona, 'cnc-07', 4_000);
    const { tunnel, id } = await open(vera, requestId);
    await tunnel.firstFrame();
    expect(await tunnel.errorMessage(10_000)).toBe('The access window has ended.');
    await tunnel.closed;
    await waitFor(async () => (await auditOf(id)).some((e) => e.action === 'session.ended' && e.reason === 'window_ended'), { timeoutMs: 5_000, what: 'the audit' });
  });

  test('a revoke on instance B closes the session held by instance A within a second', async () => {
    const { requestId, tunnel, id } = await registeredSession(b);
    const monaOnB = await loginAs(b.publicUrl, 'mona');
    const revokedAt = Date.now();
    expect((await monaOnB.post(`/api/requests/${requestId}/revoke`, { reason: 'line restart' })).status).toBe(200);
    expect(await tunnel.errorMessage(5_000)).toBe('Access to this machine was revoked.');
    await tunnel.closed;
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    await waitFor(async () => (await auditOf(id)).some((e) => e.reason === 'revoked'), { timeoutMs: 5_000, what: 'the audit' });
  });

  test('a manager terminates from the other instance; vendors and other sites may not', async () => {
    const { requestId, tunnel, id } = await registeredSession(a);
    expect((await vera.post(`/api/sessions/${id}/terminate`, {})).status).toBe(404);
    expect((await bruno.post(`/api/sessions/${id}/terminate`, {})).status).toBe(404);
    const listed = (await mona.get('/api/sessions')).json<{ sessions: Array<Record<string, unknown>> }>().sessions.find((s) => s['id'] === id);
    expect(listed).toMatchObject({ requestId, machine: { id: 'cnc-07' }, user: { id: 'dev:vera' }, instance: expect.any(String) });
    expect(JSON.stringify(listed)).not.toMatch(/guacdConnectionId|127\.0\.0\.1|password/);
    expect((await bruno.get('/api/sessions')).json<{ sessions: unknown[] }>().sessions).toEqual([]);

    const monaOnB = await loginAs(b.publicUrl, 'mona');
    expect((await monaOnB.post(`/api/sessions/${id}/terminate`, { reason: 'unsafe change' })).status).toBe(204);
    expect(await tunnel.errorMessage(5_000)).toBe('The session was terminated by Mona Manager: unsafe change');
    await tunnel.closed;
    await waitFor(async () => (await a.services.broker.registry.get(id)) === undefined, { timeoutMs: 5_000, what: 'the registry to forget it' });
    const actions = (await auditOf(id)).map((e) => `${e.action}:${e.actor?.id ?? '-'}`);
    expect(actions).toContain('session.terminated:dev:mona');
  });

  test('live view: the manager watches read-only; their keys never reach the machine', async () => {
    const { tunnel, id } = await registeredSession(a);
    expect((await bruno.post(`/api/sessions/${id}/watch`, {})).status).toBe(404);
    const { ticket } = (await mona.post(`/api/sessions/${id}/watch`, {})).json<{ ticket: string }>();
    const watch = await openTunnel(mona, { ticket });
    if (!watch.ok) throw new Error(`watch refused ${watch.status}`);
    await watch.tunnel.firstFrame();
    const spy = `watcher-${randomBytes(3).toString('hex')}`;
    watch.tunnel.typeText(`echo ${spy}\n`);
    const marker = `vendor-${randomBytes(3).toString('hex')}`;
    tunnel.typeText(`echo ${marker}\n`);
    await waitFor(() => readFileSync(file(id, '.typescript'), 'utf8').includes(`${marker}\r\n${marker}`) || readFileSync(file(id, '.typescript'), 'utf8').split(marker).length > 2, {
      timeoutMs: 15_000,
      what: 'the vendor’s command output',
    });
    expect(readFileSync(file(id, '.typescript'), 'utf8')).not.toContain(spy);
    // When the vendor leaves, the watcher is told and disconnected too.
    await tunnel.close();
    expect(await watch.tunnel.errorMessage(5_000)).toBe('The session you were watching has ended.');
    await watch.tunnel.closed;
    await waitFor(async () => (await auditOf(id)).some((e) => e.action === 'session.watch_ended'), { timeoutMs: 5_000, what: 'the watch audit' });
    expect((await auditOf(id)).filter((e) => e.action === 'session.watch_started')).toHaveLength(1);
  });
});

describe('no recording, no session', () => {
  test('an idle session with a healthy recording is left alone by the watchdog', async () => {
    const requestId = await grantNow(a, vera, mona, 'cnc-07');
    const { tunnel, id } = await open(vera, requestId);
    await tunnel.firstFrame();
    const idleUntil = Date.now() + 6_000;
    // Nothing happens for 6 s but keep-alives, tunnel pings and the occasional sync.
    await waitFor(() => Date.now() > idleUntil || tunnel.instructions.some((i) => i[0] === 'error'), { timeoutMs: 8_000, what: 'six idle seconds' });
    tunnel.send('', 'ping', String(Date.now()));
    expect(tunnel.instructions.filter((i) => i[0] === 'error')).toEqual([]);
    tunnel.typeText('echo still-recorded\n');
    await waitFor(() => readFileSync(file(id, '.typescript'), 'utf8').includes('still-recorded'), { timeoutMs: 10_000, what: 'the output' });
    await tunnel.close();
    expect((await auditOf(id)).find((e) => e.action === 'session.ended')?.reason).toBe('disconnected');
  });

  test('a recording that vanishes mid-session ends it within 2 s', async () => {
    const requestId = await grantNow(a, vera, mona, 'cnc-07');
    const { tunnel, id } = await open(vera, requestId);
    await tunnel.firstFrame();
    await waitFor(() => existsSync(file(id)), { timeoutMs: 5_000, what: 'the recording' });
    unlinkSync(file(id));
    const removedAt = Date.now();
    expect(await tunnel.errorMessage(5_000)).toBe('Recording failed; the session was ended.');
    expect(Date.now() - removedAt).toBeLessThan(2_000);
    await waitFor(async () => (await auditOf(id)).some((e) => e.reason === 'recording_missing'), { timeoutMs: 5_000, what: 'the audit' });
  });

  test('an unwritable spool or a nearly full disk: no ticket, no session, audited', async () => {
    const requestId = await grantNow(a, vera, mona, 'cnc-07');
    const blocker = mkdtempSync(path.join(tmpdir(), 'airlock-blocked-'));
    const notADir = path.join(blocker, 'file');
    writeFileSync(notADir, 'x');
    chmodSync(notADir, 0o400);
    const unwritable = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: path.join(notADir, 'spool'), AIRLOCK_SESSION_SECRET: secret, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
    const full = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '10000000', AIRLOCK_SESSION_SECRET: secret, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
    try {
      for (const [portal, reason] of [
        [unwritable, 'spool_unwritable'],
        [full, 'disk_low'],
      ] as const) {
        const agent = new Browserless(portal.publicUrl);
        agent.setCookie('airlock.sid', vera.cookie('airlock.sid') ?? '');
        const res = await agent.post('/api/sessions', { requestId });
        expect(res.status).toBe(503);
        expect(res.json<{ error: { code: string } }>().error.code).toBe('recording_unavailable');
        const refusal = (await aude.get('/api/audit?action=session.ticket&limit=1')).json<{ events: AuditEvent[] }>().events[0];
        expect(refusal).toMatchObject({ outcome: 'refused', reason, actor: { id: 'dev:vera' } });
      }
      // A ticket issued while the disk was fine is refused at the upgrade once it is not.
      const { ticket } = await sessionTicket(vera, requestId);
      const agent = new Browserless(full.publicUrl);
      agent.setCookie('airlock.sid', vera.cookie('airlock.sid') ?? '');
      expect(await openTunnel(agent, { ticket })).toMatchObject({ ok: false, status: 503 });
    } finally {
      await unwritable.close();
      await full.close();
      rmSync(blocker, { recursive: true, force: true });
    }
  });
});

test('the registry heals when an instance dies', async () => {
  const ghost = { id: '00000000-0000-4000-8000-000000000001', requestId: 'r', machine: { id: 'cnc-07', name: 'x', siteId: 'site-a', protocol: 'ssh' }, user: { id: 'dev:vera', name: 'Vera', company: null }, instance: 'dead-instance', startedAt: new Date().toISOString(), endsAt: new Date().toISOString(), policy: { clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: false }, guacd: 'default', guacdConnectionId: '$x' };
  await a.redis.hSet(keys.sessions.live, ghost.id, JSON.stringify(ghost));
  await waitFor(async () => (await a.services.broker.registry.get(ghost.id)) === undefined, { timeoutMs: 10_000, what: 'the heal' });
  expect((await auditOf(ghost.id)).map((e) => e.reason)).toContain('instance_lost');
});
