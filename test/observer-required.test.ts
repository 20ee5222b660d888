// Required observer (issue 14) against the real guacd and targets, vendor and observer on two
// portal instances: with no observer nothing typed reaches the machine (SSH, VNC, RDP, Telnet),
// with one it does, and when the last observer leaves input is held again within a second. The
// observer pauses, takes the controls (who typed is in the recording), and the failure paths:
// a plant manager of another site cannot observe, the waiting limit ends the session.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAll, type Browserless } from './support/http.ts';
import { auditEvents, createRequest, grantNow, windowFromNow } from './support/workflow.ts';
import { openSession, watchSession, type Tunnel } from './support/tunnel.ts';
import { redisDbUrl, testServices } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import { demoCredentials, demoInventory } from '../dev/demo-inventory.ts';
import { GuacParser, type GuacInstruction } from '../sessions/tunnel/protocol.ts';
import { AIRLOCK_OBSERVER_MSG } from '../sessions/tunnel/transport.ts';
import type { LiveSessionView } from '../sessions/routes.ts';

const DB = 5;
let spool: string;
let a: TestPortal;
let b: TestPortal;
/** Signed in on A: the vendors, the plant managers, the auditor. */
let vera: Browserless, victor: Browserless, mona: Browserless, olga: Browserless, bruno: Browserless, aude: Browserless;
/** On instance B: the observers. */
let ottoOnB: Browserless;
let monaOnB: Browserless;
let brunoOnB: Browserless;
let adamOnB: Browserless;
/** What was measured, printed at the end. */
const measured: Record<string, number> = {};

const OBSERVER_MSG = String(AIRLOCK_OBSERVER_MSG);
const isObserverState = (state: string) => (i: GuacInstruction) => i[0] === 'msg' && i[1] === OBSERVER_MSG && i[3] === state;

/** The next observer-state message after what the tunnel has already seen. */
function nextState(tunnel: Tunnel, state: string, what: string, timeoutMs = 10_000): Promise<GuacInstruction> {
  const from = tunnel.instructions.length;
  return tunnel.waitFor((i) => tunnel.instructions.indexOf(i) >= from && isObserverState(state)(i), timeoutMs, what);
}

const eventsOf = (id: string): Array<Record<string, unknown>> => {
  const file = path.join(spool, `${id}.events.jsonl`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};
const heldKeys = (id: string): number => eventsOf(id).filter((e) => e['type'] === 'blocked' && String(e['reason']).startsWith('observer_')).length;
const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

const observerOf = async (agent: Browserless, id: string): Promise<LiveSessionView['observer']> =>
  (await agent.get('/api/sessions')).json<{ sessions: LiveSessionView[] }>().sessions.find((s) => s.id === id)?.observer ?? null;

/**
 * Types a command that appends a marker to a file on the machine until the file shows it (a
 * desktop's terminal may still be starting when the first frame arrives).
 */
async function typeUntilWritten(tunnel: Tunnel, file: string, marker: string, protocol: string): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    if (protocol === 'vnc') tunnel.send('mouse', '200', '200', '0'); // no window manager: focus follows the pointer
    tunnel.typeText(`echo ${marker} >> ${file}\n`);
    try {
      await waitFor(() => read(file).includes(marker), { timeoutMs: 3_000, what: `${marker} in ${file}` });
      return;
    } catch {
      // the terminal was not ready: type it again
    }
  }
  throw new Error(`${marker} never reached ${file}`);
}

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-observer-spool-'));
  const env = { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_SESSION_SECRET: randomBytes(32).toString('base64url') };
  a = await startTestPortal(env, { freshDb: DB });
  b = await startTestPortal({ ...env, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
  // Every demo machine requires an observer here; robot-cell-4 waits only 3 s before it ends.
  const services = testServices();
  const inventory = demoInventory(services);
  inventory.machines = inventory.machines.map((m) => ({ ...m, observer: 'required' as const, observerGraceSeconds: 0, observerLimitMinutes: m.id === 'robot-cell-4' ? 0.05 : 15 }));
  await a.services.inventory.seed(inventory, true);
  for (const [machineId, credential] of Object.entries(demoCredentials(services))) await a.services.vault.store(machineId, credential);
  [vera, victor, mona, olga, bruno, aude] = await loginAll(a.publicUrl, 'vera', 'victor', 'mona', 'olga', 'bruno', 'aude');
  [ottoOnB, monaOnB, brunoOnB, adamOnB] = await loginAll(b.publicUrl, 'otto', 'mona', 'bruno', 'adam');
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  rmSync(spool, { recursive: true, force: true });
  console.log(`observer measurements: ${JSON.stringify(measured)}`);
});

async function grantFor(machineId: string): Promise<{ vendor: Browserless; requestId: string }> {
  if (machineId === 'scada-historian') {
    const id = await createRequest(vera, { machineId, ...windowFromNow(1_200, 600_000) });
    await mona.post(`/api/requests/${id}/approve`, {});
    await olga.post(`/api/requests/${id}/approve`, {});
    await waitFor(async () => (await a.services.requests.grantFor('dev:vera', machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
    return { vendor: vera, requestId: id };
  }
  const siteB = machineId === 'plc-gateway' || machineId === 'robot-cell-4';
  const vendor = siteB ? victor : vera;
  return { vendor, requestId: await grantNow(a, vendor, siteB ? bruno : mona, machineId) };
}

describe('each protocol: nothing typed reaches the machine until a plant observer watches', () => {
  test.each([
    ['SSH', 'cnc-07', 'ssh', () => ottoOnB],
    ['Telnet', 'plc-gateway', 'telnet', () => brunoOnB],
    ['VNC', 'press-hmi', 'vnc', () => monaOnB],
    ['RDP (xrdp)', 'scada-historian', 'rdp', () => monaOnB],
  ])('%s: held with no observer, flows with one, held again within 1 s of the last one leaving', async (name, machineId, protocol, observerAgent) => {
    const { vendor, requestId } = await grantFor(machineId);
    const session = await openSession(vendor, requestId);
    const { id, tunnel } = session;
    await tunnel.waitFor(isObserverState('waiting'), 10_000, 'the vendor told to wait for an observer');
    expect((await observerOf(vendor, id))?.state).toBe('waiting');
    const tag = randomBytes(4).toString('hex');
    const file = `/tmp/airlock-observer-${tag}`;

    // No observer: typed and dropped (logged as held), nothing reaches the machine.
    const heldBefore = heldKeys(id);
    tunnel.send('mouse', '200', '200', '0');
    tunnel.typeText(`echo held-${tag} >> ${file}\n`);
    await waitFor(() => heldKeys(id) >= heldBefore + `echo held-${tag} >> ${file}\n`.length, { timeoutMs: 5_000, what: 'the held keys to be logged' });

    // An observer watches (on the other instance): input flows.
    const observer = await watchSession(observerAgent(), id);
    await tunnel.waitFor(isObserverState('observed'), 5_000, 'the vendor told an observer watches');
    await typeUntilWritten(tunnel, file, `flow-${tag}`, protocol);
    expect(read(file)).not.toContain(`held-${tag}`);

    // The last observer leaves: held again within a second, and the vendor is told.
    const waitingAgain = nextState(tunnel, 'waiting', 'the vendor told to wait again');
    const left = Date.now();
    await observer.close();
    await waitingAgain;
    const heldWithinMs = Date.now() - left;
    measured[`${protocol}_held_again_ms`] = heldWithinMs;
    expect(heldWithinMs).toBeLessThan(1_000);
    const heldNow = heldKeys(id);
    const after = `echo after-${tag} >> ${file}\n`;
    tunnel.typeText(after);
    await waitFor(() => heldKeys(id) >= heldNow + after.length, { timeoutMs: 5_000, what: 'the keys after the leave to be held' });
    expect(read(file)).not.toContain(`after-${tag}`);
    await tunnel.close();
    rmSync(file, { force: true });

    const actions = (await auditEvents(aude, `session:${id}`)).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['session.observer_waiting', 'session.observer_joined', 'session.observer_left']));
    void name;
  });
});

test('the observer pauses and resumes the vendor, takes the controls (who typed is recorded), and another site’s manager cannot observe', async () => {
  const { vendor, requestId } = await grantFor('cnc-07');
  const { id, tunnel } = await openSession(vendor, requestId);
  await tunnel.waitFor(isObserverState('waiting'), 10_000, 'waiting');
  const tag = randomBytes(4).toString('hex');
  const file = `/tmp/airlock-observer-${tag}`;

  // Not watching yet: refused; a plant manager of another site and an admin never count.
  expect([(await monaOnB.post(`/api/sessions/${id}/observer`, { action: 'pause' })).status]).toEqual([409]);
  for (const outsider of [brunoOnB, adamOnB]) {
    const refused = await outsider.post(`/api/sessions/${id}/observer`, { action: 'take' });
    expect([refused.status, refused.json<{ error: { code: string } }>().error.code]).toEqual([403, 'not_site_observer']);
  }

  const observer = await watchSession(monaOnB, id);
  await tunnel.waitFor(isObserverState('observed'), 5_000, 'observed');
  await typeUntilWritten(tunnel, file, `vendor-${tag}`, 'ssh');

  const paused = nextState(tunnel, 'paused', 'paused');
  expect((await monaOnB.post(`/api/sessions/${id}/observer`, { action: 'pause' })).status).toBe(200);
  await paused;
  const held = heldKeys(id);
  tunnel.typeText(`echo paused-${tag} >> ${file}\n`);
  await waitFor(() => heldKeys(id) > held, { timeoutMs: 5_000, what: 'keys held while paused' });
  const resumed = nextState(tunnel, 'observed', 'resumed');
  expect((await monaOnB.post(`/api/sessions/${id}/observer`, { action: 'resume' })).status).toBe(200);
  await resumed;

  // The observer takes the controls: their keys reach the machine, the vendor's are held.
  const controlled = nextState(tunnel, 'controlled', 'controlled');
  expect((await monaOnB.post(`/api/sessions/${id}/observer`, { action: 'take' })).status).toBe(200);
  await controlled;
  const heldInControl = heldKeys(id);
  tunnel.typeText(`echo vendor-in-control-${tag} >> ${file}\n`);
  await typeUntilWritten(observer, file, `observer-${tag}`, 'ssh');
  await waitFor(() => heldKeys(id) > heldInControl, { timeoutMs: 5_000, what: 'the vendor held while the observer types' });
  const returned = nextState(tunnel, 'observed', 'controls returned');
  expect((await monaOnB.post(`/api/sessions/${id}/observer`, { action: 'return' })).status).toBe(200);
  await returned;
  const content = read(file);
  expect(content).toContain(`observer-${tag}`);
  expect(content).not.toContain(`paused-${tag}`);
  expect(content).not.toContain(`vendor-in-control-${tag}`);

  // Who typed: the observer's keys carry their id in the input log and the recording.
  const monaId = (await monaOnB.get('/api/me')).json<{ user: { id: string } }>().user.id;
  expect(eventsOf(id).some((e) => e['type'] === 'key' && (e['by'] as { id?: string } | undefined)?.id === monaId)).toBe(true);
  const moments = eventsOf(id).filter((e) => e['type'] === 'observer').map((e) => e['event']);
  expect(moments).toEqual(expect.arrayContaining(['waiting', 'joined', 'paused', 'resumed', 'control_taken', 'control_returned']));
  const recorded = new GuacParser().push(readFileSync(path.join(spool, id), 'utf8')).filter((i) => i[0] === 'key');
  expect(recorded.some((k) => k.length === 5 && k[4] === monaId)).toBe(true);
  expect(recorded.some((k) => k.length === 4)).toBe(true);

  await observer.close();
  await tunnel.close();
  rmSync(file, { force: true });
  const actions = (await auditEvents(aude, `session:${id}`)).map((e) => e.action);
  expect(actions).toEqual(expect.arrayContaining(['session.input_paused', 'session.input_resumed', 'session.control_taken', 'session.control_returned', 'session.observer_joined']));
});

test('with nobody observing, the waiting limit ends the session with its reason', async () => {
  const { vendor, requestId } = await grantFor('robot-cell-4');
  const { id, tunnel } = await openSession(vendor, requestId);
  await tunnel.waitFor(isObserverState('waiting'), 10_000, 'waiting');
  expect(await tunnel.errorMessage(15_000)).toBe('No plant observer joined within 3 seconds; the session was ended.');
  await waitFor(async () => (await auditEvents(aude, `session:${id}`)).some((e) => e.action === 'session.ended' && e.reason === 'observer_limit'), {
    timeoutMs: 5_000,
    what: 'session.ended with observer_limit',
  });
});
