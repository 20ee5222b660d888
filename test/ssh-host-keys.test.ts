// Pinned SSH host keys through the real tunnel and the real guacd 1.3: the right key opens the
// session, any other is refused by guacd before the credential goes out (the session fails with
// an `error` and is audited), and a standard-mode portal issues no ticket for an SSH machine
// whose key is not pinned unless it accepts any key, loudly (issue 11 item 8).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { type Browserless, loginAll } from './support/http.ts';
import { auditEvents, grantNow, seedDemoPlant, sessionEnd, sessionTicket } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { testServices } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import { keys } from '../server/keys.ts';
import { isAirlockUser, type AirlockUser } from '../server/user.ts';
import { Tickets } from '../sessions/tickets.ts';
import { HOST_KEY_MISMATCH_MESSAGE } from '../server/inventory/host-keys.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let spool: string;
let portal: TestPortal;
let adam: Browserless;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;

const sshd = () => {
  const s = testServices().sshd;
  if (s === undefined) throw new Error('global setup started no sshd');
  return s;
};

/** Another host's key: what a spoofed or replaced machine would present. */
function foreignHostKey(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-foreign-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')]);
    return readFileSync(path.join(dir, 'k.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An SSH machine on site A at the test sshd, with the sshd account's password, pinned as told. */
async function addSshMachine(id: string, pin: { hostKey?: string; hostKeyPolicy?: 'any' }): Promise<void> {
  const { host, port, account } = sshd();
  const res = await adam.post('/api/admin/machines', { id, name: `SSH ${id}`, siteId: 'site-a', protocol: 'ssh', host, port, ...pin });
  if (res.status !== 201) throw new Error(`machine not added (${res.status}): ${res.text}`);
  expect((await adam.request('PUT', `/api/admin/machines/${id}/credential`, { body: { username: account.username, password: account.password } })).status).toBe(204);
}

/** Password sign-ins (accepted or failed) the test sshd has logged so far. */
function passwordAttempts(): number {
  const log = path.join(process.env['AIRLOCK_TEST_STATE_DIR'] ?? '', 'logs', 'sshd.log');
  return readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(`password for ${sshd().account.username} `)).length;
}

/** The signed-in user behind an agent's session cookie, as the portal stored it. */
async function userOf(agent: Browserless): Promise<{ user: AirlockUser; sid: string }> {
  const sid = decodeURIComponent(agent.cookie('airlock.sid') ?? '').replace(/^s:/, '').split('.')[0] ?? '';
  const stored = JSON.parse((await portal.redis.get(`${keys.sessionPrefix}${sid}`)) ?? '{}') as { passport?: { user?: unknown } };
  if (!isAirlockUser(stored.passport?.user)) throw new Error('no signed-in user in the session store');
  return { user: stored.passport.user, sid };
}

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-hostkey-spool-'));
  portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 7 });
  await seedDemoPlant(portal, { targets: true });
  [adam, vera, mona, aude] = await loginAll(portal.publicUrl, 'adam', 'vera', 'mona', 'aude');
});

afterAll(async () => {
  await portal?.close();
  rmSync(spool, { recursive: true, force: true });
});

describe('guacd checks the pinned host key', () => {
  test('the demo machine pins the test sshd’s key, and its session reaches the shell', async () => {
    const machine = (await adam.get('/api/admin/machines/cnc-07')).json<{ machine: { hostKey: string | null } }>().machine;
    expect(machine.hostKey).toBe(sshd().hostKey);
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    const signInsBefore = passwordAttempts();
    const { ticket, id } = await sessionTicket(vera, grant);
    const opened = await openTunnel(vera, { ticket });
    if (!opened.ok) throw new Error(`tunnel refused: ${opened.status}`);
    const typescript = path.join(spool, `${id}.typescript`);
    await waitFor(() => existsSync(typescript) && /[$#] $/m.test(readFileSync(typescript, 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
    expect(passwordAttempts()).toBe(signInsBefore + 1);
    await opened.tunnel.close();
  });

  test('a machine presenting another key is refused before sign-in: guacd’s error ends the session, audited, no shell', async () => {
    await addSshMachine('spoofed-ssh', { hostKey: foreignHostKey() });
    const grant = await grantNow(portal, vera, mona, 'spoofed-ssh');
    const signInsBefore = passwordAttempts();
    const { ticket, id } = await sessionTicket(vera, grant);
    const opened = await openTunnel(vera, { ticket });
    if (!opened.ok) throw new Error(`tunnel refused: ${opened.status}`);
    const error = await opened.tunnel.waitFor((i) => i[0] === 'error', 20_000, 'the refusal');
    // guacd 1.3 reports a host key mismatch as 512 (SERVER_ERROR), ~0.1 s in, before the
    // terminal's first frame (it draws its empty screen and cursor first, hence no check on img).
    expect(error[2]).toBe('512');
    // The vendor is told what happened in plain words, not guacd's "Aborted. See logs.".
    expect(error[1]).toBe(HOST_KEY_MISMATCH_MESSAGE);
    expect(opened.tunnel.instructions.slice(0, opened.tunnel.instructions.indexOf(error)).some((i) => i[0] === 'sync')).toBe(false);
    // As Guacamole.Client does on an error.
    await opened.tunnel.close();
    const typescript = path.join(spool, `${id}.typescript`);
    expect(existsSync(typescript) ? readFileSync(typescript, 'utf8') : '').not.toMatch(/[$#] $/m);
    const end: AuditEvent = await sessionEnd(aude, id);
    // The credential never reached the impostor: sshd saw no password at all.
    expect(passwordAttempts()).toBe(signInsBefore);
    expect(end.target).toEqual({ type: 'session', id });
  });
});

describe('standard mode: no ticket for an SSH machine whose host key is not pinned', () => {
  test('refused with 403 host_key_not_pinned and audited; accepted once the machine accepts any key', async () => {
    await addSshMachine('unpinned-ssh', {});
    const grant = await grantNow(portal, vera, mona, 'unpinned-ssh');
    // This portal runs in test mode (where unpinned machines are let through, as guacd
    // verifies nothing); a standard portal's ticket office on the same services:
    const broker = portal.services.broker;
    const standard = new Tickets({
      redis: portal.redis,
      requests: portal.services.requests,
      inventory: portal.services.inventory,
      vault: portal.services.vault,
      registry: broker.registry,
      refusals: broker.refusals,
      guacdHealth: broker.guacdHealth,
      recording: { spool, minFreeBytes: 1 },
      mode: 'standard',
      draining: () => false,
    });
    const { user, sid } = await userOf(vera);
    await expect(standard.issueForSession(user, sid, grant)).rejects.toMatchObject({ status: 403, code: 'host_key_not_pinned' });
    await waitFor(async () => (await auditEvents(aude, `request:${grant}`)).some((e) => e.action === 'session.ticket' && e.outcome === 'refused' && e.reason === 'host_key_not_pinned'), {
      timeoutMs: 5_000,
      what: 'the refusal in the audit log',
    });
    // The test-mode portal itself lets it through: guacd then verifies nothing.
    expect((await vera.post('/api/sessions', { requestId: grant })).status).toBe(201);

    const current = (await adam.get('/api/admin/machines/unpinned-ssh')).json<{ machine: Record<string, unknown> & { version: number } }>().machine;
    const loud = await adam.request('PUT', '/api/admin/machines/unpinned-ssh', { body: { ...current, hostKeyPolicy: 'any' }, headers: { 'if-match': `"${current.version}"` } });
    expect(loud.json<{ machine: { hostKeyPolicy: string } }>().machine.hostKeyPolicy).toBe('any');
    await expect(standard.issueForSession(user, sid, grant)).resolves.toMatchObject({ machine: { id: 'unpinned-ssh' } });
  });
});
