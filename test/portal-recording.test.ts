// Issue "Airlock in a real plant": the portal records what it relays. guacd runs in its own mount
// namespace with a private /tmp (no view of the portal's spool, as a guacd in a plant segment),
// and every protocol is still recorded — by the portal, in guacd's format with the relayed key
// events — finalised, signed, verified, and readable by the player's parser.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServices, type Supervisor } from '../dev/supervisor.ts';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs, loginByName } from './support/http.ts';
import { grantNow, ONE_MACHINE_PER_PROTOCOL, seedDemoPlant, sessionEnd } from './support/workflow.ts';
import { DRAWING, openOnPlant, openSession } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { redisDbUrl } from './support/services.ts';
import { GuacParser } from '../sessions/tunnel/protocol.ts';

let services: Supervisor;
let stateDir: string;
let spool: string;
let store: string;
let portal: TestPortal;
let agents: Record<'vera' | 'victor' | 'mona' | 'bruno' | 'olga' | 'aude', Browserless>;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-portal-recording-'));
  spool = path.join(stateDir, 'spool');
  store = path.join(stateDir, 'store');
  services = await startServices({ stateDir: path.join(stateDir, 'services'), services: ['guacd'], guacdIsolated: true });
  const guacd = services.services.guacd;
  portal = await startTestPortal(
    {
      AIRLOCK_GUACD: `${guacd?.host ?? ''}:${guacd?.port ?? 0}`,
      AIRLOCK_GUACD_SHARED_SPOOL: 'none',
      AIRLOCK_RECORDING_SPOOL: spool,
      AIRLOCK_RECORDING_STORE: store,
      AIRLOCK_RECORDING_MIN_FREE_MB: '1',
      AIRLOCK_MAX_SESSIONS_PER_USER: '10',
    },
    { freshDb: 9 },
  );
  await seedDemoPlant(portal, { targets: true });
  agents = await loginByName(portal.publicUrl, 'vera', 'victor', 'mona', 'bruno', 'olga', 'aude');
});

afterAll(async () => {
  await portal?.close();
  await services?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

test('guacd cannot see the spool (nor anything of this test in /tmp)', () => {
  const guacdPid = services.pids()[0];
  expect(guacdPid).toBeDefined();
  // /proc/PID/root is the process's own view of the file system: its /tmp is a private, empty one.
  expect(existsSync(stateDir)).toBe(true);
  expect(existsSync(path.join(`/proc/${guacdPid}/root`, stateDir))).toBe(false);
});

test.each(ONE_MACHINE_PER_PROTOCOL)('%s: recorded by the portal, finalised, signed and verified, with the key events', async (_name, machineId) => {
  const { aude } = agents;
  const session = await openOnPlant(portal, agents, machineId);
  session.tunnel.typeText('airlock');
  await session.tunnel.close();
  await sessionEnd(aude, session.id);
  let dir: string | undefined;
  await waitFor(async () => (dir = (await portal.services.recordings.catalog.get(session.id))?.dir) !== undefined, { timeoutMs: 30_000, what: 'the finalised recording' });
  const verification = (await aude.get(`/api/recordings/${session.id}/verify`)).json<{ verification: { ok: boolean; incomplete: string[] } }>().verification;
  expect(verification).toMatchObject({ ok: true, incomplete: [] });

  const recording = readFileSync(path.join(store, dir ?? '', 'recording.guac'), 'utf8');
  const instructions = new GuacParser().push(recording);
  const opcodes = new Set(instructions.map((i) => i[0]));
  expect(opcodes.has('sync')).toBe(true);
  expect(DRAWING.some((o) => opcodes.has(o))).toBe(true);
  // The key events, as guacd's recording-include-keys writes them: key,<keysym>,<pressed>,<timestamp>.
  const keys = instructions.filter((i) => i[0] === 'key');
  expect(keys.map((k) => Number(k[1]))).toEqual(expect.arrayContaining([...'airlock'].map((c) => c.codePointAt(0))));
  expect(keys.every((k) => k.length === 4 && (k[2] === '1' || k[2] === '0') && /^\d+$/.test(k[3] ?? ''))).toBe(true);
  await expectOneClock(session.id, instructions);
});

/**
 * Keys, syncs, the input log and the timeline tell one time. guacd's syncs count on its monotonic
 * clock (from the host's boot), the input log and the timeline in ms since the session started:
 * the recording's keys are on the syncs' clock (as guacd's recording-include-keys writes them),
 * and the timeline says where the recording's first frame sits on its own clock.
 */
async function expectOneClock(sessionId: string, instructions: string[][]): Promise<void> {
  const { aude } = agents;
  const syncs = instructions.filter((i) => i[0] === 'sync').map((i) => Number(i[1]));
  const firstSync = syncs[0] ?? Number.NaN;
  const lastSync = Math.max(...syncs);
  const keyTimes = instructions.filter((i) => i[0] === 'key').map((i) => Number(i[3]));
  // The session lasted seconds; keys a few seconds past the last drawn frame at most.
  for (const t of keyTimes) expect(t >= firstSync && t <= lastSync + 10_000).toBe(true);
  const summary = await portal.services.recordings.catalog.get(sessionId);
  const { recordingStart } = (await aude.get(`/api/recordings/${sessionId}/timeline`)).json<{ recordingStart: number | null }>();
  expect(recordingStart).not.toBeNull();
  const sessionMs = Date.parse(summary?.endedAt ?? '') - Date.parse(summary?.startedAt ?? '');
  expect(recordingStart).toBeGreaterThanOrEqual(0);
  expect(recordingStart).toBeLessThan(sessionMs);
  // The input log's key events land where the recording's keys are (same moments, two clocks).
  const events = readFileSync(path.join(store, summary?.dir ?? '', 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"key"'))
    .map((l) => (JSON.parse(l) as { t: number }).t);
  expect(events).toHaveLength(keyTimes.length);
  events.forEach((t, i) => expect(Math.abs(t - (recordingStart ?? 0) - ((keyTimes[i] ?? 0) - firstSync))).toBeLessThan(250));
}

test('a recording write that fails ends the session at once, fail closed (a full spool disk)', async () => {
  const small = path.join(stateDir, 'small-spool');
  await import('node:fs/promises').then((fs) => fs.mkdir(small, { recursive: true }));
  const { execFileSync } = await import('node:child_process');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]);
  const guacd = services.services.guacd;
  const full = await startTestPortal({
    AIRLOCK_GUACD: `${guacd?.host ?? ''}:${guacd?.port ?? 0}`,
    AIRLOCK_GUACD_SHARED_SPOOL: 'none',
    AIRLOCK_RECORDING_SPOOL: small,
    AIRLOCK_RECORDING_STORE: store,
    AIRLOCK_RECORDING_MIN_FREE_MB: '0',
    AIRLOCK_REDIS_URL: redisDbUrl(9),
  });
  try {
    await seedDemoPlant(full, { targets: true });
    const vera = await loginAs(full.publicUrl, 'vera');
    const mona = await loginAs(full.publicUrl, 'mona');
    const session = await openSession(vera, await grantNow(full, vera, mona, 'cnc-07'));
    // A command whose output comes later, typed (and its keys logged) while the disk has room…
    session.tunnel.typeText('sleep 2; seq 1 200000\n');
    const events = path.join(small, `${session.id}.events.jsonl`);
    await waitFor(() => readFileSync(events, 'utf8').includes(`"keysym":${0xff0d}`), { timeoutMs: 10_000, what: 'the Enter key in the input log' });
    // …then the disk fills up under the live session: the output that follows cannot be recorded.
    const { writeFileSync } = await import('node:fs');
    try {
      writeFileSync(path.join(small, 'filler'), Buffer.alloc(4 * 1024 * 1024));
    } catch {
      // ENOSPC: the disk is now full
    }
    expect(await session.tunnel.errorMessage()).toBe('Recording failed; the session was ended.');
    expect(await sessionEnd(agents.aude, session.id)).toMatchObject({ reason: 'recording_write_failed', details: { detail: expect.stringContaining('ENOSPC') } });
  } finally {
    await full.close();
    // Lazily: the finaliser may still be moving the last files off it.
    execFileSync('umount', ['-l', small]);
  }
});
