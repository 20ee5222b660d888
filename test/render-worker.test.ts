// Issue 15: the renderer worker builds keyframes, thumbnails and the activity strip for every
// protocol's recordings (real SSH, Telnet, VNC and RDP sessions through the portal), signed and
// bound to the recording; verification of the evidence is unaffected; a corrupt or missing
// keyframes file is refused with the reason (the player then replays from the start) and is
// rebuilt from the recording.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs } from './support/http.ts';
import { createRequest, grantNow, seedDemoPlant, sessionEnd, windowFromNow } from './support/workflow.ts';
import { openSession } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { DERIVED_DIR, DERIVED_FILE_NAMES } from '../recordings/layout.ts';
import type { SeekIndex } from '../recordings/seek-routes.ts';

const DRAWING = ['img', 'png', 'rect', 'cfill', 'copy'];

let spool: string;
let store: string;
let portal: TestPortal;
let agents: Record<'vera' | 'victor' | 'mona' | 'bruno' | 'olga' | 'aude', Browserless>;
const recorded = new Map<string, string>();

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-render-spool-'));
  store = mkdtempSync(path.join(tmpdir(), 'airlock-render-store-'));
  portal = await startTestPortal(
    { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_STORE: store, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_MAX_SESSIONS_PER_USER: '10', AIRLOCK_RENDER_WORKER: 'inprocess' },
    { freshDb: 12 },
  );
  await seedDemoPlant(portal, { targets: true });
  const names = ['vera', 'victor', 'mona', 'bruno', 'olga', 'aude'] as const;
  const logged = await Promise.all(names.map((u) => loginAs(portal.publicUrl, u)));
  agents = Object.fromEntries(names.map((n, i) => [n, logged[i]])) as typeof agents;
});

afterAll(async () => {
  await portal?.close();
  for (const d of [spool, store]) if (d !== undefined) rmSync(d, { recursive: true, force: true });
});

async function grantFor(machineId: string): Promise<{ vendor: Browserless; grant: string }> {
  const { vera, victor, mona, bruno, olga } = agents;
  if (machineId === 'plc-gateway') return { vendor: victor, grant: await grantNow(portal, victor, bruno, machineId) };
  if (machineId !== 'scada-historian') return { vendor: vera, grant: await grantNow(portal, vera, mona, machineId) };
  const id = await createRequest(vera, { machineId, ...windowFromNow(1_200, 600_000) });
  await mona.post(`/api/requests/${id}/approve`, {});
  await olga.post(`/api/requests/${id}/approve`, {});
  await waitFor(async () => (await portal.services.requests.grantFor('dev:vera', machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
  return { vendor: vera, grant: id };
}

async function seekIndex(sessionId: string): Promise<{ status: number; body: { seek?: SeekIndex; error?: { code: string; message: string } } }> {
  const res = await agents.aude.get(`/api/recordings/${sessionId}/seek`);
  return { status: res.status, body: res.json() };
}

test.each([
  ['SSH', 'cnc-07'],
  ['Telnet', 'plc-gateway'],
  ['VNC', 'press-hmi'],
  ['RDP', 'scada-historian'],
])('%s: the worker builds signed keyframes, thumbnails and the activity strip', async (name, machineId) => {
  const { aude } = agents;
  const { vendor, grant } = await grantFor(machineId);
  const session = await openSession(vendor, grant);
  await session.tunnel.waitFor((i) => DRAWING.includes(i[0] ?? ''), 30_000, 'the machine’s screen');
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
