// Issue 15: an auditor exports a recording (or a time range of it) as a video with a burned-in
// caption, made in the background by the renderer worker; real sessions of every protocol through the
// portal, the file checked with ffprobe and its caption read back with tesseract; the export's
// hash in the audit log and in the evidence bundle; vendors refused; bad ranges refused.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestPortal } from './support/portal.ts';
import { startPlantPortal, type PlantPortal } from './support/plant-portal.ts';
import { Browserless, loginByName } from './support/http.ts';
import { sessionEnd } from './support/workflow.ts';
import { openOnPlant } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import type { SeekIndex } from '../recordings/seek-routes.ts';
import type { PresentedExport } from '../recordings/export-routes.ts';
import { verifyBundle } from '../recordings/verify.ts';

/** The caption band's height below the screen (renderer.ts). */
const BAND = 24;

let plant: PlantPortal;
let portal: TestPortal;
let work: string;
let agents: Record<'vera' | 'victor' | 'mona' | 'bruno' | 'olga' | 'aude', Browserless>;
const recorded = new Map<string, { sessionId: string; jobId?: string; sha256?: string }>();

beforeAll(async () => {
  plant = await startPlantPortal('export', { freshDb: 13, store: true, env: { AIRLOCK_MAX_SESSIONS_PER_USER: '10', AIRLOCK_RENDER_WORKER: 'inprocess' } });
  portal = plant.portal;
  work = mkdtempSync(path.join(tmpdir(), 'airlock-export-work-'));
  agents = await loginByName(portal.publicUrl, 'vera', 'victor', 'mona', 'bruno', 'olga', 'aude');
});

afterAll(async () => {
  await plant?.close();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

async function download(agent: Browserless, url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(new URL(url, agent.base), { headers: { cookie: agent.cookieHeader() } });
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

async function recordSession(machineId: string, text: string): Promise<{ sessionId: string; seek: SeekIndex }> {
  const { aude } = agents;
  const session = await openOnPlant(portal, agents, machineId);
  session.tunnel.typeText(text);
  // The recording must run on past the typing (a range export needs a length).
  await session.tunnel.machineTimePasses(500, 'frames 500 ms after typing', 15_000);
  await session.tunnel.close();
  await sessionEnd(aude, session.id);
  let seek: SeekIndex | undefined;
  await waitFor(
    async () => {
      const res = await aude.get(`/api/recordings/${session.id}/seek`);
      seek = res.status === 200 ? res.json<{ seek: SeekIndex }>().seek : undefined;
      return seek !== undefined;
    },
    { timeoutMs: 60_000, what: 'the recording rendered' },
  );
  if (seek === undefined) throw new Error('unreachable');
  return { sessionId: session.id, seek };
}

function probe(file: string): { codec: string; width: number; height: number; duration: number } {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames,r_frame_rate:format=duration', '-of', 'json', file], { encoding: 'utf8' })) as {
    streams: Array<{ codec_name: string; width: number; height: number; nb_read_frames: string; r_frame_rate: string }>;
    format: { duration?: string };
  };
  const s = out.streams[0];
  if (s === undefined) throw new Error('no video stream');
  const [num, den] = s.r_frame_rate.split('/').map(Number);
  // WebM has no duration per stream; frames ÷ rate is the length the viewer sees.
  const duration = Number(s.nb_read_frames) / ((num ?? 1) / (den ?? 1));
  return { codec: s.codec_name, width: s.width, height: s.height, duration };
}

/** Levenshtein distance: how many characters to insert, delete or change to turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}

/** The first frame's caption band: its pixels (grey) and what tesseract reads in it. */
function caption(file: string, width: number, height: number): { dark: number; bright: number; text: string } {
  const grey = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-frames:v', '1', '-vf', `crop=${width}:${BAND}:0:${height - BAND}`, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 64 << 20 });
  const png = path.join(work, `band-${path.basename(file)}.png`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', file, '-frames:v', '1', '-vf', `crop=${width}:${BAND}:0:${height - BAND},scale=iw*3:ih*3`, png]);
  const text = execFileSync('tesseract', [png, '-', '--psm', '7'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let dark = 0;
  let bright = 0;
  for (const v of grey) {
    if (v < 40) dark++;
    else if (v > 200) bright++;
  }
  return { dark, bright, text };
}

test.each([
  ['SSH', 'cnc-07', 'mp4', 'h264', false],
  ['VNC', 'press-hmi', 'webm', 'vp8', true],
  ['Telnet', 'plc-gateway', 'mp4', 'h264', true],
  ['RDP', 'scada-historian', 'webm', 'vp8', false],
] as const)('%s (%s): an auditor exports the recording as a %s video with its caption, the hash audited', async (name, machineId, format, codec, ranged) => {
  const { aude } = agents;
  const { sessionId, seek } = await recordSession(machineId, 'airlock export\n');
  // The VNC export is a range: the second half of the session.
  const from = ranged ? Math.floor(seek.duration / 2) : 0;
  const to = seek.duration;
  const asked = await aude.post(`/api/recordings/${sessionId}/exports`, ranged ? { from, to, format } : { format });
  expect(asked.status).toBe(202);
  const job = asked.json<{ export: PresentedExport }>().export;
  expect(job).toMatchObject({ state: 'queued', progress: 0, from, to, format, fileUrl: null });

  let done: PresentedExport | undefined;
  await waitFor(
    async () => {
      done = (await aude.get(`/api/recordings/${sessionId}/exports/${job.id}`)).json<{ export: PresentedExport }>().export;
      if (done.state === 'failed') throw new Error(`the export failed: ${done.error}`);
      return done.state === 'done';
    },
    { timeoutMs: 60_000, what: `the ${name} export` },
  );
  if (done?.fileUrl == null || done.sha256 === null) throw new Error('unreachable');
  expect(done.progress).toBe(1);

  const file = await download(aude, done.fileUrl);
  expect(file.status).toBe(200);
  expect(file.type).toMatch(new RegExp(`^video/${format}`));
  const sha256 = createHash('sha256').update(file.bytes).digest('hex');
  expect(sha256).toBe(done.sha256);
  const local = path.join(work, `${name}.${format}`);
  writeFileSync(local, file.bytes);

  const video = probe(local);
  expect(video.codec).toBe(codec);
  expect(video.width).toBeGreaterThanOrEqual(seek.width);
  expect(video.height).toBeGreaterThanOrEqual(seek.height + BAND);
  expect(Math.abs(video.duration - (to - from) / 1000)).toBeLessThan(0.5);

  // The caption is burned in: white text on a black band, and it reads as the session's.
  const band = caption(local, video.width, video.height);
  expect(band.dark).toBeGreaterThan(0);
  expect(band.bright).toBeGreaterThan(0);
  expect(band.text.toLowerCase()).toContain('session');
  // The session id, as OCR reads 32 hex digits in a 24-pixel band of a compressed video: a few
  // marks, dropped or misread digits (measured: up to 5), never another id (two random ids are
  // ~28 edits apart).
  const read = band.text.replace(/[^0-9a-z]/gi, '').toLowerCase();
  const id = sessionId.replaceAll('-', '');
  const at = read.indexOf('session') + 'session'.length;
  expect(editDistance(read.slice(at, at + id.length), id)).toBeLessThanOrEqual(8);
  expect(band.text).toContain((await portal.services.recordings.catalog.get(sessionId))?.requester.name ?? 'the vendor');
  // …at the session's wall time: guacd's syncs count from the host's boot, not 1970 (recordings/clock.ts).
  expect(band.text).toContain(String(new Date().getUTCFullYear()));

  // The hash is on the record, by the auditor who asked.
  const audited = await portal.services.audit.query({ target: { type: 'session', id: sessionId }, action: 'recording.exported', limit: 5 });
  expect(audited.events[0]).toMatchObject({ actor: { id: 'dev:aude' }, outcome: 'ok', details: { jobId: job.id, sha256, format, from, to } });
  const requested = await portal.services.audit.query({ target: { type: 'session', id: sessionId }, action: 'recording.export_requested', limit: 5 });
  expect(requested.events[0]?.details).toMatchObject({ jobId: job.id });
  recorded.set(name, { sessionId, jobId: job.id, sha256 });
}, 120_000);

test('the evidence bundle includes the export beside its recording, and its hash event', async () => {
  const ssh = recorded.get('SSH');
  if (ssh?.jobId === undefined) throw new Error('the SSH export test did not run');
  const summary = await portal.services.recordings.catalog.get(ssh.sessionId);
  const bundle = await download(agents.aude, `/api/requests/${summary?.requestId ?? ''}/bundle`);
  expect(bundle.status).toBe(200);
  const tgz = path.join(work, 'bundle.tar.gz');
  writeFileSync(tgz, bundle.bytes);
  const entries = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' });
  expect(entries).toContain(`sessions/${ssh.sessionId}/exports/${ssh.jobId}.mp4`);
  const events = execFileSync('tar', ['-xzOf', tgz, '--wildcards', '*/audit-events.jsonl'], { encoding: 'utf8' });
  expect(events).toContain(ssh.sha256);
  // The bundled file is the one hashed, and the export does not break the evidence's verification.
  const bundled = execFileSync('tar', ['-xzOf', tgz, '--wildcards', `*/exports/${ssh.jobId}.mp4`], { maxBuffer: 256 << 20 });
  expect(createHash('sha256').update(bundled).digest('hex')).toBe(ssh.sha256);
  const key = (await agents.aude.get('/api/recordings/public-key')).text;
  const verified = await verifyBundle(tgz, key);
  expect(verified.recordings.find((r) => r.sessionId === ssh.sessionId)).toMatchObject({ ok: true, unexpected: [] });
});

test('a vendor may not export; a bad range or an unknown job is refused with its code', async () => {
  const ssh = recorded.get('SSH');
  if (ssh === undefined) throw new Error('the SSH export test did not run');
  const { vera, aude } = agents;
  const refused = await vera.post(`/api/recordings/${ssh.sessionId}/exports`, {});
  expect(refused.status).toBe(403);
  expect(refused.json<{ error: { code: string } }>().error.code).toBe('forbidden');
  expect((await vera.get(`/api/recordings/${ssh.sessionId}/exports/${ssh.jobId ?? ''}`)).status).toBe(403);

  for (const body of [{ from: 2_000, to: 1_000 }, { from: 1_000, to: 1_000 }, { from: 300_000_000 }, { to: 300_000_000 }, { from: -1 }]) {
    const res = await aude.post(`/api/recordings/${ssh.sessionId}/exports`, body);
    expect(res.status).toBe(400);
    expect(res.json<{ error: { code: string } }>().error.code).toMatch(/^(invalid_range|invalid_input)$/);
  }
  const unknown = await aude.get(`/api/recordings/${ssh.sessionId}/exports/00000000-0000-4000-8000-000000000000`);
  expect(unknown.status).toBe(404);
  expect(unknown.json<{ error: { code: string } }>().error.code).toBe('unknown_export');
});
