// Issue 15: the renderer worker builds keyframes, thumbnails and the activity strip for every
// protocol's recordings (real SSH, Telnet, VNC and RDP sessions through the portal), signed and
// bound to the recording; verification of the evidence is unaffected; a corrupt or missing
// keyframes file is refused with the reason (the player then replays from the start) and is
// rebuilt from the recording. And Chromium, which raises its own priority where it may, runs no
// thread above the worker's priority.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import path from 'node:path';
import { GuacRenderer } from '../recordings/renderer.ts';
import { encodeInstruction } from '../sessions/tunnel/protocol.ts';
import type { TestPortal } from './support/portal.ts';
import { startPlantPortal, type PlantPortal } from './support/plant-portal.ts';
import { Browserless, loginByName } from './support/http.ts';
import { ONE_MACHINE_PER_PROTOCOL, sessionEnd } from './support/workflow.ts';
import { openOnPlant } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { DERIVED_DIR, DERIVED_FILE_NAMES } from '../recordings/layout.ts';
import type { SeekIndex } from '../recordings/seek-routes.ts';


let plant: PlantPortal;
let portal: TestPortal;
let store: string;
let agents: Record<'vera' | 'victor' | 'mona' | 'bruno' | 'olga' | 'aude', Browserless>;
const recorded = new Map<string, string>();

beforeAll(async () => {
  plant = await startPlantPortal('render', { freshDb: 12, store: true, env: { AIRLOCK_MAX_SESSIONS_PER_USER: '10', AIRLOCK_RENDER_WORKER: 'inprocess' } });
  ({ portal, store } = plant);
  agents = await loginByName(portal.publicUrl, 'vera', 'victor', 'mona', 'bruno', 'olga', 'aude');
});

afterAll(async () => {
  await plant?.close();
});

async function seekIndex(sessionId: string): Promise<{ status: number; body: { seek?: SeekIndex; error?: { code: string; message: string } } }> {
  const res = await agents.aude.get(`/api/recordings/${sessionId}/seek`);
  return { status: res.status, body: res.json() };
}

test.each(ONE_MACHINE_PER_PROTOCOL)('%s: the worker builds signed keyframes, thumbnails and the activity strip', async (name, machineId) => {
  const { aude } = agents;
  const session = await openOnPlant(portal, agents, machineId);
  session.tunnel.typeText('airlock\n');
  await session.tunnel.waitFor((i) => i[0] === 'sync', 10_000, 'a frame after typing');
  await session.tunnel.close();
  await sessionEnd(aude, session.id);
  await waitFor(async () => (await seekIndex(session.id)).status === 200, { timeoutMs: 60_000, what: `the ${name} keyframes` });
  recorded.set(name, session.id);

  const { seek } = (await seekIndex(session.id)).body;
  if (seek === undefined) throw new Error('unreachable');
  expect(seek.keyframes.length).toBeGreaterThanOrEqual(1);
  expect(seek.keyframes[0]).toMatchObject({ t: 0 });
  expect(seek.width).toBeGreaterThan(0);
  expect(seek.height).toBeGreaterThan(0);
  expect(seek.activity.output.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  expect(seek.activity.input.reduce((a, b) => a + b, 0)).toBeGreaterThan(0); // the keys typed
  expect(seek.activity.events.some((e) => e.kind === 'command' && e.label.includes('airlock'))).toBe(true);
  expect(seek.activity.events.at(-1)).toMatchObject({ kind: 'end' });

  // A keyframe is the Guacamole client's exported state: the screen layer as a PNG.
  const last = seek.keyframes.length - 1;
  const state = (await aude.get(`/api/recordings/${session.id}/seek/${last}/state`)).json<{ layers: Record<string, { width: number; height: number; url?: string }> }>();
  expect(state.layers['0']).toMatchObject({ width: seek.width, height: seek.height, url: expect.stringMatching(/^data:image\/png;base64,/) });
  const thumb = await aude.request('GET', `/api/recordings/${session.id}/seek/0/thumb`);
  expect(thumb.status).toBe(200);
  expect(thumb.headers.get('content-type')).toMatch(/^image\/jpeg/);

  // The evidence still verifies (derived data is not evidence), and the build is on the record.
  const verification = (await aude.get(`/api/recordings/${session.id}/verify`)).json<{ verification: { ok: boolean; unexpected: string[] } }>().verification;
  expect(verification).toMatchObject({ ok: true, unexpected: [] });
  // The audit event follows the files (the worker writes them, then audits).
  const auditedBuild = async () => (await portal.services.audit.query({ target: { type: 'session', id: session.id }, action: 'recording.keyframes_built', limit: 5 })).events[0];
  await waitFor(async () => (await auditedBuild()) !== undefined, { timeoutMs: 15_000, what: 'the keyframes_built audit event' });
  expect((await auditedBuild())?.details).toMatchObject({ keyframes: seek.keyframes.length });
});

test('a corrupt keyframes file is refused with the reason and rebuilt; a missing one too', async () => {
  const sessionId = recorded.get('SSH');
  if (sessionId === undefined) throw new Error('the SSH recording test did not run');
  const summary = await portal.services.recordings.catalog.get(sessionId);
  const dir = path.join(store, summary?.dir ?? '', DERIVED_DIR);
  const data = path.join(dir, DERIVED_FILE_NAMES.data);
  const bytes = readFileSync(data);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  writeFileSync(data, bytes);
  const refused = await seekIndex(sessionId);
  expect(refused.status).toBe(409);
  expect(refused.body.error).toEqual({ code: 'keyframes_invalid', message: 'Seeking replays from the start: the keyframe data does not match its signed index.' });
  // Refused once, queued again: the worker rebuilds it from the recording.
  await waitFor(async () => (await seekIndex(sessionId)).status === 200, { timeoutMs: 60_000, what: 'the rebuilt keyframes' }).catch((err: unknown) => {
    process.stdout.write(portal.logLines.filter((l) => l.includes('render')).join('\n'));
    throw err;
  });

  // A planted index (not signed by this Airlock) is refused too.
  const index = path.join(dir, DERIVED_FILE_NAMES.index);
  writeFileSync(index, readFileSync(index, 'utf8').replace('"version":1', '"version":1 '));
  expect((await seekIndex(sessionId)).body.error?.message).toBe('Seeking replays from the start: the keyframes are not signed by this Airlock (altered or planted).');

  rmSync(dir, { recursive: true, force: true });
  const missing = await seekIndex(sessionId);
  expect(missing.status).toBe(404);
  expect(missing.body.error?.code).toBe('keyframes_missing');
}, 120_000);

/** Every thread of this process's descendants: its command name and nice value (/proc/PID/task/TID/stat). */
function descendantThreads(): Array<{ pid: number; comm: string; nice: number }> {
  const stat = (file: string): { ppid: number; comm: string; nice: number } | undefined => {
    try {
      const text = readFileSync(file, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces; fields after its ')' count from state.
      const close = text.lastIndexOf(')');
      const fields = text.slice(close + 2).split(' ');
      return { ppid: Number(fields[1]), comm: text.slice(text.indexOf('(') + 1, close), nice: Number(fields[16]) };
    } catch {
      return undefined; // gone meanwhile
    }
  };
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) if (/^\d+$/.test(entry)) parents.set(Number(entry), stat(`/proc/${entry}/stat`)?.ppid ?? 0);
  const descends = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === process.pid) return true;
    return false;
  };
  const threads: Array<{ pid: number; comm: string; nice: number }> = [];
  for (const pid of parents.keys()) {
    if (!descends(pid)) continue;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const t = stat(`/proc/${pid}/task/${tid}/stat`);
      if (t !== undefined) threads.push({ pid, comm: t.comm, nice: t.nice });
    }
  }
  return threads;
}

test('Chromium runs no thread above the priority of the process that renders (it would undo the worker’s nice 10)', async () => {
  const renderer = await GuacRenderer.launch();
  try {
    const session = await renderer.open();
    await session.feed(encodeInstruction('size', '0', '64', '64') + encodeInstruction('rect', '0', '0', '0', '64', '64') + encodeInstruction('cfill', '14', '0', '255', '0', '0', '255') + encodeInstruction('sync', '1', '0'));
    await session.thumbnail(32);
    const mine = getPriority();
    const threads = descendantThreads();
    // Chromium's own processes are among them (their main threads are named "chromium").
    expect(threads.filter((t) => t.comm === 'chromium').length).toBeGreaterThan(0);
    const raised = threads.filter((t) => t.nice < mine);
    expect(raised).toEqual([]);
    await session.close();
  } finally {
    await renderer.close();
  }
});
