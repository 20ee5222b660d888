// bench/replay: the recording player and search at scale. Starts its own Redis, guacd, sshd and
// VNC target and a portal (own process); records a real short SSH and VNC session through the
// portal as templates; synthesises from each a long recording (SSH: ≥ 30 min of heavy terminal
// output and ≥ 100 MB; VNC: ≥ 30 min) by repeating the template's frames — the exact
// instructions guacd emitted (img/blob/end, copy, rect/cfill…) — with monotonically increasing
// `sync` timestamps and a few idle gaps; files them as finalised recordings (RecordingCatalog.add;
// the manifest is the template's with the new session id — its signature no longer verifies,
// which the player shows but does not need). Then, in headless Chromium as the auditor: time from
// navigation to the first painted frame, and seek time to 10 random positions (seek call →
// callback + display flush). Since issue 15 the recordings are rendered first by the renderer
// worker (`airlock worker`, a child process, as in production), so the player seeks from keyframes;
// a third recording of ≥ 1 GB (SSH) measures the same at that size, with the page's JS heap after
// its seeks (the player's memory bound). Then search latency over 5,000 indexed sessions (200 queries mixing
// filters and words), with baselines from the same run: an empty search, and a Range GET of the
// recording's first 64 KB.
//
//   node bench/replay.ts                 everything above
//   node bench/replay.ts --no-1gb --no-export   without the 1 GB recording, the OCR and the export
//   node bench/replay.ts --search-only   only the search over 5,000 indexed sessions (no templates,
//                                        synthesis, Chromium or Range baseline): about a minute
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { startServices } from '../dev/supervisor.ts';
import { connectRedis } from '../server/redis.ts';
import { createLogger } from '../server/log.ts';
import { generateKeyringEntry } from '../server/keyring.ts';
import { encodeInstruction, GuacParser, type GuacInstruction } from '../sessions/tunnel/protocol.ts';
import { RecordingCatalog, type RecordingSummary } from '../recordings/catalog.ts';
import { ManifestSigner } from '../recordings/signing.ts';
import { loginAs, type Browserless } from '../test/support/http.ts';
import { CHROMIUM_PATH, signIn } from '../test/support/browser.ts';
import { openTunnel, type Tunnel } from '../test/support/tunnel.ts';
import { approvedRequest, percentile, portalReady, printGrid, round, seedBenchPlant, startBenchPortal } from './lib.ts';
import { spawn } from 'node:child_process';
import { enqueueRender } from '../recordings/render-queue.ts';
import { isDerivedEntry } from '../recordings/layout.ts';
import { TEST_IDP_PASSWORD } from '../test/support/portal.ts';
import { FORM_WORDS, KNOWN_WORDS, SHOW_FORM_WORDS, SHOW_KNOWN_WORDS } from '../test/support/screen-text.ts';

const SSH_MIN_MS = 31 * 60_000;
const SSH_MIN_BYTES = 100 * 1024 * 1024;
/** The large recording: 1 GB of the same SSH frames (skip with --no-1gb). */
const BIG_MIN_BYTES = 1024 * 1024 * 1024;
const BIG = !process.argv.includes('--no-1gb');
/** Rendering 1 GB at nice 10 on a busy 2-core box takes minutes; this bounds the wait. */
const RENDER_TIMEOUT_MS = 30 * 60_000;
const VNC_MIN_MS = 31 * 60_000;
const VNC_MAX_BYTES = 40 * 1024 * 1024;
/** An idle stretch (no frames) every so often, for skip-idle and realism. */
const IDLE_EVERY_MS = 5 * 60_000;
const IDLE_GAP_MS = 20_000;
const FIRST_FRAME_RUNS = 3;
const SEEKS = 10;
/** A seek still running after this is counted at this value (censored) and the next one cancels it. */
const SEEK_TIMEOUT_MS = 30_000;
const INDEXED = 5_000;
const SEARCHES = 200;
const SEARCH_ONLY = process.argv.includes('--search-only');
/** Skip OCR and the export (their figures print as null): the first-frame and seek figures in minutes. */
const NO_EXPORT = process.argv.includes('--no-export');

const progress = (msg: string) => process.stderr.write(`bench/replay: ${msg}\n`);
const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-replay-'));
const spool = path.join(stateDir, 'spool');
const store = path.join(stateDir, 'store');
mkdirSync(spool, { recursive: true });
mkdirSync(store, { recursive: true });

const supervisor = await startServices({ stateDir: path.join(stateDir, 'services'), services: ['redis', 'guacd', 'sshd', 'vnc'], userPrefix: 'airlock-replay' });
const services = supervisor.services;
const { redis, guacd } = services;
if (redis === undefined || guacd === undefined || services.sshd === undefined || services.vnc === undefined) throw new Error('services missing');

const keyring = generateKeyringEntry('replay1');
const seedClient = await connectRedis(redis.url, createLogger('warn'), 'bench-seed');
await seedBenchPlant(seedClient, services, keyring);
// The portal's signing key, so the bench's own index entries hash their words with the portal's key.
const signingKeyPem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const signingKeyFile = path.join(stateDir, 'signing.pem');
writeFileSync(signingKeyFile, signingKeyPem, { mode: 0o600 });
const catalog = new RecordingCatalog(seedClient, new ManifestSigner(signingKeyPem).searchIndexKey());

const { base, child: portal } = await startBenchPortal({
  redisUrl: redis.url,
  guacd,
  env: { AIRLOCK_VAULT_KEYS: keyring, AIRLOCK_SIGNING_KEY_FILE: signingKeyFile, AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_STORE: store, AIRLOCK_RECORDING_MIN_FREE_MB: '16' },
});
const portalExited = new Promise<void>((resolve) => portal.once('exit', () => resolve()));
// The renderer worker, as deployed: `airlock worker` with the portal's configuration.
const worker = SEARCH_ONLY
  ? undefined
  : spawn(process.execPath, [path.join(import.meta.dirname, '../scripts/airlock.ts'), 'worker'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        PATH: process.env['PATH'] ?? '',
        AIRLOCK_MODE: 'test',
        AIRLOCK_PUBLIC_URL: base,
        AIRLOCK_REDIS_URL: redis.url,
        AIRLOCK_GUACD: `${guacd.host}:${guacd.port}`,
        AIRLOCK_DEV_IDP_PASSWORD: TEST_IDP_PASSWORD,
        AIRLOCK_INSECURE_HTTP_COOKIES: 'true',
        AIRLOCK_LOG_LEVEL: 'warn',
        AIRLOCK_VAULT_KEYS: keyring,
        AIRLOCK_SIGNING_KEY_FILE: signingKeyFile,
        AIRLOCK_RECORDING_SPOOL: spool,
        AIRLOCK_RECORDING_STORE: store,
        // Keyframe spacing to try (the default otherwise): AIRLOCK_KEYFRAME_EVERY_KB=1024 npm run bench -- replay
        ...(process.env['AIRLOCK_KEYFRAME_EVERY_KB'] === undefined ? {} : { AIRLOCK_KEYFRAME_EVERY_KB: process.env['AIRLOCK_KEYFRAME_EVERY_KB'] }),
      },
    });
const workerExited = new Promise<void>((resolve) => (worker === undefined ? resolve() : worker.once('exit', () => resolve())));
let browserClose: (() => Promise<void>) | null = null;
async function stop(): Promise<void> {
  await browserClose?.().catch(() => {});
  portal.kill('SIGTERM');
  worker?.kill('SIGTERM');
  await Promise.race([Promise.all([portalExited, workerExited]), delay(5_000)]);
  seedClient.destroy();
  await supervisor.stop();
  if (process.env['KEEP_BENCH_STATE'] === undefined) rmSync(stateDir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop().finally(() => process.exit(130)));

// ─── Helpers ─────────────────────────────────────────────────────────────────────────────────

/** An approved request whose window has just opened. */
async function grantNow(vendor: Browserless, approver: Browserless, machineId: string): Promise<string> {
  const { requestId, start } = await approvedRequest(vendor, approver, machineId, 'bench/replay template session');
  while (Date.now() < start + 200) await delay(100);
  return requestId;
}

async function openSession(vendor: Browserless, requestId: string, size = '1024x768'): Promise<{ id: string; tunnel: Tunnel }> {
  for (let i = 0; ; i++) {
    const res = await vendor.post('/api/sessions', { requestId });
    if (res.status === 201) {
      const { ticket, id } = res.json<{ session: { ticket: string; id: string } }>().session;
      const [w, h] = size.split('x');
      const up = await openTunnel(vendor, { query: `ticket=${encodeURIComponent(ticket)}&width=${w}&height=${h}&dpi=96` });
      if (!up.ok) throw new Error(`tunnel refused (${up.status}): ${up.body}`);
      try {
        await up.tunnel.firstFrame(30_000);
        return { id, tunnel: up.tunnel };
      } catch (err) {
        // guacd children sometimes hang or drop at set-up (LAB): try again with a new ticket.
        const why = up.tunnel.instructions.find((ins) => ins[0] === 'error')?.slice(1).join(' ') ?? String(err);
        progress(`session attempt failed (${why}); retrying`);
        await up.tunnel.close();
        if (i > 3) throw err;
        await delay(1_000);
        continue;
      }
    }
    if (i > 50) throw new Error(`no session (${res.status}): ${res.text}`);
    await delay(200);
  }
}

/** Waits until the finaliser has indexed `sessionId`; returns its summary. */
async function indexed(auditor: Browserless, requestId: string, sessionId: string): Promise<RecordingSummary> {
  for (let i = 0; i < 300; i++) {
    const listed = (await auditor.get(`/api/recordings?request=${requestId}`)).json<{ recordings: Array<{ sessionId: string }> }>().recordings.some((r) => r.sessionId === sessionId);
    // The API does not say where the store keeps it (the bench copies its folder); the index does.
    const found = listed ? await catalog.get(sessionId) : undefined;
    if (found !== undefined) return found;
    await delay(100);
  }
  throw new Error(`recording ${sessionId} was never indexed`);
}

/**
 * Writes a long recording from a template: the template's setup (everything before its first
 * `sync`), then its frames over and over with new timestamps, until both `minMs` of session time
 * and `minBytes` are reached (or `maxBytes`). Frames keep their instructions verbatim.
 */
async function synthesise(template: string, out: string, opts: { minMs: number; minBytes: number; maxBytes: number }): Promise<{ bytes: number; ms: number; frames: number }> {
  const parser = new GuacParser();
  const instructions: GuacInstruction[] = parser.push(readFileSync(template, 'utf8'));
  const setup: string[] = [];
  const frames: string[] = [];
  let current: string[] = [];
  let seenSync = false;
  for (const ins of instructions) {
    const [op = '', ...args] = ins;
    if (op === 'disconnect' || op === 'error' || op === 'nop') continue;
    if (op === 'sync') {
      if (!seenSync) setup.push(...current);
      else frames.push(current.join(''));
      seenSync = true;
      current = [];
      continue;
    }
    current.push(encodeInstruction(op, ...args));
  }
  if (!seenSync || frames.length === 0) throw new Error(`template ${template} has no frames`);
  const frameBytes = frames.reduce((n, f) => n + Buffer.byteLength(f), 0);
  // Enough repetitions for the size; frame spacing so the duration is reached too.
  const targetBytes = Math.min(opts.maxBytes, Math.max(opts.minBytes, frameBytes));
  const totalFrames = Math.max(frames.length, Math.ceil(targetBytes / (frameBytes / frames.length)));
  const idleCount = Math.floor(opts.minMs / IDLE_EVERY_MS);
  const step = Math.max(1, Math.ceil((opts.minMs - idleCount * IDLE_GAP_MS) / totalFrames));
  const ws = createWriteStream(out);
  const write = (s: string) => (ws.write(s) ? Promise.resolve() : new Promise<void>((r) => ws.once('drain', () => r())));
  let t = Date.now() - opts.minMs - 60_000;
  const t0 = t;
  let bytes = 0;
  const head = setup.join('') + encodeInstruction('sync', String(t));
  await write(head);
  bytes += Buffer.byteLength(head);
  let nextIdle = t0 + IDLE_EVERY_MS;
  let n = 0;
  while ((bytes < opts.minBytes || t - t0 < opts.minMs) && bytes < opts.maxBytes) {
    const f = frames[n % frames.length] ?? '';
    t += step;
    if (t >= nextIdle) {
      t += IDLE_GAP_MS;
      nextIdle += IDLE_EVERY_MS;
    }
    const chunk = f + encodeInstruction('sync', String(t));
    await write(chunk);
    bytes += Buffer.byteLength(chunk);
    n++;
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { bytes, ms: t - t0, frames: n };
}

/** Files `file` as a finalised recording cloned from `real` (new session id and folder). */
async function fileAsRecording(real: RecordingSummary, file: string, startedAt: number, ms: number): Promise<RecordingSummary> {
  const sessionId = randomUUID();
  const dir = path.join(path.dirname(real.dir), sessionId);
  const abs = path.join(store, dir);
  mkdirSync(abs, { recursive: true });
  const realDir = path.join(store, real.dir);
  for (const name of readdirSync(realDir)) {
    // The recording is replaced, so is everything derived from it (the worker renders the new one).
    if (name === 'recording.guac' || isDerivedEntry(name)) continue;
    const content = readFileSync(path.join(realDir, name), 'utf8');
    writeFileSync(path.join(abs, name), name === 'manifest.json' ? content.replaceAll(real.sessionId, sessionId) : content);
  }
  rmSync(path.join(abs, 'recording.guac'), { force: true });
  // Move the synthesised file in (same filesystem: a rename).
  renameSync(file, path.join(abs, 'recording.guac'));
  const summary: RecordingSummary = {
    ...real,
    sessionId,
    dir,
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(startedAt + ms).toISOString(),
    files: real.files.map((f) => (f.kind === 'recording' ? { ...f, bytes: statSync(path.join(abs, 'recording.guac')).size } : f)),
  };
  await catalog.add(summary, 'bench synthesised recording');
  return summary;
}

/** Steps 1–3: real template sessions, long synthesised recordings, the player in Chromium. */
async function measurePlayers(vera: Browserless, mona: Browserless, aude: Browserless) {
  // 1. Real template sessions.
  const sshRequest = await grantNow(vera, mona, 'cnc-07');
  const ssh = await openSession(vera, sshRequest);
  await delay(1_500);
  ssh.tunnel.typeText('for i in $(seq 1 40); do ls -la /usr/bin | head -60; done\n');
  await delay(6_000);
  await ssh.tunnel.close();
  const sshReal = await indexed(aude, sshRequest, ssh.id);
  const vncRequest = await grantNow(vera, mona, 'press-hmi');
  const vnc = await openSession(vera, vncRequest);
  await delay(1_500);
  vnc.tunnel.send('mouse', '100', '100', '0');
  vnc.tunnel.typeText('ls -la /usr/bin\n');
  await delay(3_000);
  await vnc.tunnel.close();
  const vncReal = await indexed(aude, vncRequest, vnc.id);
  progress(`templates: ssh ${sshReal.files.find((f) => f.kind === 'recording')?.bytes} B, vnc ${vncReal.files.find((f) => f.kind === 'recording')?.bytes} B`);

  // 2. Long recordings.
  const started = Date.now() - 2 * 3_600_000;
  const sshSynth = await synthesise(path.join(store, sshReal.dir, 'recording.guac'), path.join(stateDir, 'ssh.guac'), { minMs: SSH_MIN_MS, minBytes: SSH_MIN_BYTES, maxBytes: 4 * SSH_MIN_BYTES });
  const sshLong = await fileAsRecording(sshReal, path.join(stateDir, 'ssh.guac'), started, sshSynth.ms);
  const vncSynth = await synthesise(path.join(store, vncReal.dir, 'recording.guac'), path.join(stateDir, 'vnc.guac'), { minMs: VNC_MIN_MS, minBytes: 10 * 1024 * 1024, maxBytes: VNC_MAX_BYTES });
  const vncLong = await fileAsRecording(vncReal, path.join(stateDir, 'vnc.guac'), started, vncSynth.ms);
  progress(`synthesised: ssh ${(sshSynth.bytes / 1e6).toFixed(0)} MB / ${(sshSynth.ms / 60_000).toFixed(1)} min / ${sshSynth.frames} frames; vnc ${(vncSynth.bytes / 1e6).toFixed(1)} MB / ${(vncSynth.ms / 60_000).toFixed(1)} min`);
  const bigSynth = BIG ? await synthesise(path.join(store, sshReal.dir, 'recording.guac'), path.join(stateDir, 'big.guac'), { minMs: SSH_MIN_MS, minBytes: BIG_MIN_BYTES, maxBytes: 1.1 * BIG_MIN_BYTES }) : undefined;
  const bigLong = bigSynth === undefined ? undefined : await fileAsRecording(sshReal, path.join(stateDir, 'big.guac'), started, bigSynth.ms);
  if (bigSynth !== undefined) progress(`synthesised: ssh ${(bigSynth.bytes / 1e6).toFixed(0)} MB / ${(bigSynth.ms / 60_000).toFixed(1)} min / ${bigSynth.frames} frames`);

  // 2b. The renderer worker renders each once (keyframes, thumbnails, activity strip).
  const renders: Array<{ label: string; mb: number; ms: number; keyframes: number }> = [];
  for (const [label, rec, synth] of [['ssh', sshLong, sshSynth], ['vnc', vncLong, vncSynth], ...(bigLong === undefined || bigSynth === undefined ? [] : [['ssh 1 GB', bigLong, bigSynth] as const])] as const) {
    const t0 = performance.now();
    await enqueueRender(seedClient, rec.sessionId);
    let keyframes = 0;
    for (;;) {
      const res = await aude.get(`/api/recordings/${rec.sessionId}/seek`);
      if (res.status === 200) {
        keyframes = res.json<{ seek: { keyframes: unknown[] } }>().seek.keyframes.length;
        break;
      }
      if (worker?.exitCode !== null) throw new Error(`the renderer worker exited (${worker?.exitCode})`);
      if (performance.now() - t0 > RENDER_TIMEOUT_MS) throw new Error(`${label}: not rendered within ${RENDER_TIMEOUT_MS / 60_000} min`);
      await delay(1_000);
    }
    const ms = performance.now() - t0;
    renders.push({ label, mb: synth.bytes / 1024 / 1024, ms, keyframes });
    progress(`rendered ${label}: ${keyframes} keyframes in ${(ms / 1000).toFixed(1)} s (${(synth.bytes / 1024 / 1024 / (ms / 1000)).toFixed(1)} MB/s)`);
  }

  // The worker reads the long VNC recording's screens (OCR) after its keyframes: wait until it
  // is done, so that it does not compete with the player's measurements below.
  const tOcr = performance.now();
  const vncOcr = await audited(aude, 'recording.screen_text_read', vncLong.sessionId, RENDER_TIMEOUT_MS);
  progress(`ocr of the long vnc recording: ${vncOcr['reads']} reads, ${vncOcr['ocrMs']} ms in the worker (waited ${((performance.now() - tOcr) / 1000).toFixed(1)} s)`);

  // 3. The player in Chromium.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browserClose = () => browser.close();
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await signIn(context, base, 'aude');
  page.on('crash', () => progress('the player page crashed'));
  page.on('console', (m) => {
    if (m.type() === 'error') progress(`page console: ${m.text().slice(0, 200)}`);
  });

  interface PlayerRun {
    firstFrame: number[];
    receivedAtFirst: number[];
    total: number;
    seeks: number[];
    timeouts: number;
    heapMb: number;
    mode: string;
  }
  async function measurePlayer(rec: RecordingSummary, label: string): Promise<PlayerRun> {
    const run: PlayerRun = { firstFrame: [], receivedAtFirst: [], total: 0, seeks: [], timeouts: 0, heapMb: NaN, mode: '' };
    for (let i = 0; i < FIRST_FRAME_RUNS; i++) {
      await page.goto('about:blank');
      await page.goto(`${base}/#/recording/${rec.sessionId}`);
      await page.waitForFunction(() => window.__airlockPlayer?.firstFrameAt != null, undefined, { timeout: 60_000 });
      const r = await page.evaluate(() => {
        const p = window.__airlockPlayer;
        if (p === undefined) throw new Error('no player');
        const s = p.playback.state();
        return { at: p.firstFrameAt ?? NaN, received: s.received, total: s.total ?? NaN, loaded: s.loaded, keyframes: 'mode' in p.playback };
      });
      run.firstFrame.push(r.at);
      // With keyframes everything counts as loaded at once; what was fetched is `received`.
      run.receivedAtFirst.push(r.keyframes || !r.loaded ? r.received : r.total);
      run.total = r.total;
      progress(`${label} first frame ${r.at.toFixed(0)} ms, ${(r.received / 1e6).toFixed(1)} MB parsed of ${(r.total / 1e6).toFixed(1)} MB`);
    }
    // Seeks once the whole file is in (before that, seeks are clamped to what has arrived).
    await page.waitForFunction(() => window.__airlockPlayer?.playback.state().loaded === true, undefined, { timeout: 300_000, polling: 500 });
    const duration = await page.evaluate(() => {
      const p = window.__airlockPlayer;
      p?.playback.pause();
      return p?.playback.state().duration ?? 0;
    });
    for (let i = 0; i < SEEKS; i++) {
      const target = Math.floor(Math.random() * duration);
      const ms = await page.evaluate(
        ({ target, timeout }) =>
          new Promise<number>((resolve, reject) => {
            const p = window.__airlockPlayer;
            if (p === undefined) return reject(new Error('no player'));
            const t0 = performance.now();
            const timer = setTimeout(() => resolve(-1), timeout);
            p.playback.seek(target, () => {
              clearTimeout(timer);
              resolve(performance.now() - t0);
            });
          }),
        { target, timeout: SEEK_TIMEOUT_MS },
      );
      if (ms < 0) run.timeouts++;
      run.seeks.push(ms < 0 ? SEEK_TIMEOUT_MS : ms);
      progress(`${label} seek ${i + 1}/${SEEKS} to ${(target / 60_000).toFixed(1)} min: ${ms < 0 ? `> ${SEEK_TIMEOUT_MS} (timed out)` : ms.toFixed(0)} ms`);
    }
    // The page's JS heap after the seeks (Chromium's own figure, after a collection).
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('Performance.enable');
    const metrics = (await cdp.send('Performance.getMetrics')).metrics;
    run.heapMb = (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN) / 1024 / 1024;
    run.mode = await page.evaluate(() => ('mode' in (window.__airlockPlayer?.playback ?? {}) ? 'keyframes' : 'replay from the start'));
    await cdp.detach();
    progress(`${label}: ${run.mode}; JS heap after the seeks ${run.heapMb.toFixed(1)} MB`);
    return run;
  }
  const sshRun = await measurePlayer(sshLong, 'ssh');
  const vncRun = await measurePlayer(vncLong, 'vnc');
  const bigRun = bigLong === undefined ? undefined : await measurePlayer(bigLong, 'ssh 1 GB');
  await browser.close();
  browserClose = null;

  const extras = NO_EXPORT
    ? { ocrRecall: Number.NaN, ocrRecallXterm: Number.NaN, ocrRecallForm: Number.NaN, exportSpeedX: Number.NaN, exportWallSpeedX: Number.NaN, exportMs: Number.NaN, liveIdleMs: Number.NaN, liveBusyMs: Number.NaN, liveRuns: 0 }
    : await measureOcrAndExport(vera, mona, aude, sshLong, sshSynth.ms);
  return { sshLong, sshSynth, vncSynth, bigSynth, sshRun, vncRun, bigRun, renders, ...extras };
}

/** Waits for an audit event of `action` about the session (the worker's progress); its details. */
async function audited(aude: Browserless, action: string, sessionId: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  for (;;) {
    const page = (await aude.get(`/api/audit?action=${action}&limit=200`)).json<{ events: Array<{ target: { id: string } | null; details: Record<string, unknown> }> }>();
    const e = page.events.find((x) => x.target?.id === sessionId);
    if (e !== undefined) return e.details;
    if (worker?.exitCode !== null) throw new Error(`the renderer worker exited (${worker?.exitCode})`);
    if (performance.now() - t0 > timeoutMs) throw new Error(`no ${action} for ${sessionId} within ${timeoutMs / 1000} s`);
    await delay(500);
  }
}

/**
 * Issue 15's OCR and export: recall on VNC sessions showing known words (an xterm, then a Tk form, 1024×768);
 * the 31-minute SSH recording exported whole (speed: its duration ÷ the export's own time, the
 * job's encodeMs; the wall time from the request is reported beside it); and a live session's
 * first frame (POST /api/sessions → first sync) while that export runs ÷ without.
 */
async function measureOcrAndExport(vera: Browserless, mona: Browserless, aude: Browserless, sshLong: RecordingSummary, sshMs: number) {
  // Recall on what a VNC session showed (an xterm, then a form-like window), by the recordings search.
  const recallOf = async (what: string, show: string, words: readonly string[]): Promise<number> => {
    const request = await grantNow(vera, mona, 'press-hmi');
    const vnc = await openSession(vera, request);
    await delay(1_500);
    vnc.tunnel.send('mouse', '200', '200', '0');
    vnc.tunnel.typeText(show);
    await delay(2_000);
    await vnc.tunnel.close();
    await indexed(aude, request, vnc.id);
    // The worker's queue may hold the long recordings' jobs first (one job at a time): minutes on a busy box.
    const ocr = await audited(aude, 'recording.screen_text_read', vnc.id, RENDER_TIMEOUT_MS);
    let found = 0;
    for (const word of words) {
      const res = (await aude.get(`/api/recordings?q=${word}`)).json<{ recordings: Array<{ sessionId: string }> }>();
      if (res.recordings.some((r) => r.sessionId === vnc.id)) found++;
    }
    progress(`ocr recall (${what}) ${found}/${words.length} (${JSON.stringify(ocr)})`);
    return found / words.length;
  };
  const ocrRecallXterm = await recallOf('xterm', SHOW_KNOWN_WORDS, KNOWN_WORDS);
  const ocrRecallForm = await recallOf('form-like window', SHOW_FORM_WORDS, FORM_WORDS);
  const ocrRecall = Math.min(ocrRecallXterm, ocrRecallForm);

  // A VNC machine: the bench's SSH account refused repeated sign-ins in a row (guacd error 769).
  const live = await grantNow(vera, mona, 'press-hmi');
  const liveFirstFrame = async (): Promise<number> => {
    const t = performance.now();
    const s = await openSession(vera, live);
    const ms = performance.now() - t;
    await s.tunnel.close();
    return ms;
  };
  const LIVE_RUNS = 5;
  const idle: number[] = [];
  for (let i = 0; i < LIVE_RUNS; i++) idle.push(await liveFirstFrame());
  const asked = await aude.post(`/api/recordings/${sshLong.sessionId}/exports`, {});
  if (asked.status !== 202) throw new Error(`export refused (${asked.status}): ${asked.text}`);
  const jobId = asked.json<{ export: { id: string } }>().export.id;
  const tExport = performance.now();
  type Job = { state: string; progress: number; encodeMs: number | null; durationMs: number | null; bytes: number | null; error: string | null };
  const job = async (): Promise<Job> => (await aude.get(`/api/recordings/${sshLong.sessionId}/exports/${jobId}`)).json<{ export: Job }>().export;
  const busy: number[] = [];
  for (;;) {
    const j = await job();
    if (j.state === 'done' || j.state === 'failed') break;
    // Live sessions measured only while the export renders (not while it waits in the queue).
    if (j.state === 'running' && busy.length < LIVE_RUNS) {
      const ms = await liveFirstFrame();
      if ((await job()).state === 'running') busy.push(ms);
    } else await delay(500);
    if (performance.now() - tExport > RENDER_TIMEOUT_MS) throw new Error('the export did not finish');
  }
  const done = await job();
  if (done.state !== 'done' || done.encodeMs == null) throw new Error(`the export failed: ${done.error}`);
  const wallMs = performance.now() - tExport;
  progress(`export of ssh (${(sshMs / 60_000).toFixed(1)} min): ${(done.encodeMs / 1000).toFixed(1)} s in the worker, ${(wallMs / 1000).toFixed(1)} s from the request, ${((done.bytes ?? 0) / 1e6).toFixed(1)} MB`);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  progress(`live first frame: idle ${idle.map((x) => x.toFixed(0)).join(', ')} ms; during the export ${busy.map((x) => x.toFixed(0)).join(', ')} ms`);
  return {
    ocrRecall,
    ocrRecallXterm,
    ocrRecallForm,
    exportSpeedX: sshMs / done.encodeMs,
    exportWallSpeedX: sshMs / wallMs,
    exportMs: done.encodeMs,
    liveIdleMs: med(idle),
    liveBusyMs: busy.length === 0 ? NaN : med(busy),
    liveRuns: busy.length,
  };
}

// ─── Run ─────────────────────────────────────────────────────────────────────────────────────

try {
  await portalReady(base);
  const vera = await loginAs(base, 'vera');
  const mona = await loginAs(base, 'mona');
  const aude = await loginAs(base, 'aude');

  const player = SEARCH_ONLY ? undefined : await measurePlayers(vera, mona, aude);
  // 4. Search over 5,000 sessions.
  const vocabulary = {
    commands: ['systemctl', 'restart', 'journalctl', 'tail', 'grep', 'spindle', 'encoder', 'plc', 'firmware', 'update', 'backup', 'config', 'modbus', 'opcua', 'sensor', 'calibrate', 'axis', 'servo', 'alarm', 'reset', 'hmi', 'recipe', 'batch', 'conveyor', 'torque', 'pressure', 'valve', 'pump', 'log', 'diag'],
    shown: ['ok', 'error', 'warning', 'timeout', 'connected', 'failed', 'active', 'running', 'stopped', 'temperature', 'vibration', 'rpm', 'offset', 'checksum', 'version', 'uptime'],
    machines: ['cnc-07', 'press-hmi', 'scada-historian', 'plc-gateway', 'robot-cell-4'],
    sites: ['site-a', 'site-b'],
    vendors: [['dev:vera', 'Vera Vendor', 'acme-automation'], ['dev:victor', 'Victor Vendor', 'bolt-robotics']] as const,
    approvers: [['dev:mona', 'Mona Manager'], ['dev:olga', 'Olga Manager'], ['dev:bruno', 'Bruno Manager']] as const,
    protocols: ['ssh', 'vnc', 'rdp', 'telnet'],
    reasons: ['disconnected', 'window_ended', 'terminated', 'revoked', 'connection_error'],
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
  const tIndex = performance.now();
  const now = Date.now();
  for (let i = 0; i < INDEXED; i++) {
    const [vid, vname, company] = pick(vocabulary.vendors);
    const [aid, aname] = pick(vocabulary.approvers);
    const machine = pick(vocabulary.machines);
    const start = now - Math.floor(Math.random() * 90 * 86_400_000);
    const words = Array.from({ length: 60 }, () => (Math.random() < 0.6 ? pick(vocabulary.commands) : pick(vocabulary.shown)));
    words.push(`wo-${1000 + (i % 500)}`, `host${i % 97}`, `serial${i}`);
    await catalog.add(
      {
        sessionId: randomUUID(),
        requestId: randomUUID(),
        requester: { id: vid, name: vname, company },
        approvers: [{ id: aid, name: aname }],
        machine: { id: machine, name: machine, siteId: pick(vocabulary.sites), protocol: pick(vocabulary.protocols) },
        siteId: pick(vocabulary.sites),
        startedAt: new Date(start).toISOString(),
        endedAt: new Date(start + Math.floor(Math.random() * 3_600_000)).toISOString(),
        endReason: pick(vocabulary.reasons),
        incomplete: [],
        files: [],
        dir: `bench/${i}`,
      },
      words.join(' '),
    );
  }
  progress(`indexed ${INDEXED} sessions in ${((performance.now() - tIndex) / 1000).toFixed(1)} s`);
  const queries: string[] = [];
  for (let i = 0; i < SEARCHES; i++) {
    const q = new URLSearchParams();
    const kind = i % 5;
    if (kind === 0) q.set('q', pick(vocabulary.commands));
    if (kind === 1) q.set('q', `${pick(vocabulary.commands)} ${pick(vocabulary.shown)}`);
    if (kind === 2) {
      q.set('machine', pick(vocabulary.machines));
      q.set('q', pick(vocabulary.commands));
    }
    if (kind === 3) {
      q.set('vendor', pick(vocabulary.vendors)[0]);
      q.set('protocol', pick(vocabulary.protocols));
      q.set('from', new Date(now - 30 * 86_400_000).toISOString());
    }
    if (kind === 4) {
      q.set('site', pick(vocabulary.sites));
      q.set('reason', pick(vocabulary.reasons));
      q.set('q', `serial${Math.floor(Math.random() * INDEXED)}`);
    }
    queries.push(q.toString());
  }
  const timed = async (fn: () => Promise<boolean>): Promise<number> => {
    const t0 = performance.now();
    if (!(await fn())) throw new Error('request failed');
    return performance.now() - t0;
  };
  const searchMs: number[] = [];
  const emptyMs: number[] = [];
  const rangeMs: number[] = [];
  for (const q of queries) searchMs.push(await timed(async () => (await aude.get(`/api/recordings?${q}`)).status === 200));
  for (let i = 0; i < SEARCHES; i++) emptyMs.push(await timed(async () => (await aude.get('/api/recordings?limit=50')).status === 200));
  if (player !== undefined) {
    const { sshLong } = player;
    for (let i = 0; i < SEARCHES; i++) {
      rangeMs.push(
        await timed(async () => (await aude.request('GET', `/api/recordings/${sshLong.sessionId}/files/recording`, { headers: { range: 'bytes=65536-131071' } })).status === 206),
      );
    }
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const p = (xs: number[], q: number) => percentile(sorted(xs), q);
  const median = (xs: number[]) => p(xs, 50);

  const searchRows = [
    ['GET /api/recordings (200 mixed queries)', String(searchMs.length), median(searchMs).toFixed(1), p(searchMs, 95).toFixed(1), p(searchMs, 99).toFixed(1), `${INDEXED + (player === undefined ? 0 : 4)} sessions indexed`],
    ['baseline: GET /api/recordings (no filter)', String(emptyMs.length), median(emptyMs).toFixed(1), p(emptyMs, 95).toFixed(1), p(emptyMs, 99).toFixed(1), 'newest 50'],
  ];
  console.log('');
  if (player === undefined) {
    printGrid(['measure', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'note'], searchRows);
    console.log(JSON.stringify({ search_p99_ms: round(p(searchMs, 99), 1) }));
  } else {
    const { sshSynth, vncSynth, bigSynth, sshRun, vncRun, bigRun, renders, ocrRecall, ocrRecallXterm, ocrRecallForm, exportSpeedX, exportWallSpeedX, exportMs, liveIdleMs, liveBusyMs, liveRuns } = player;
    const recordingMb = sshSynth.bytes / 1024 / 1024;
    printGrid(
      ['measure', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'note'],
      [
        ['ssh: navigation → first frame', String(sshRun.firstFrame.length), median(sshRun.firstFrame).toFixed(0), p(sshRun.firstFrame, 95).toFixed(0), '', `${recordingMb.toFixed(0)} MB, ${(sshSynth.ms / 60_000).toFixed(1)} min; ${(median(sshRun.receivedAtFirst) / 1024 / 1024).toFixed(1)} MB parsed at first frame`],
        ['ssh: seek to a random position', String(sshRun.seeks.length), median(sshRun.seeks).toFixed(0), p(sshRun.seeks, 95).toFixed(0), '', `seek() → callback + display flush, file loaded; ${sshRun.timeouts} censored at ${SEEK_TIMEOUT_MS / 1000} s`],
        ['vnc: navigation → first frame', String(vncRun.firstFrame.length), median(vncRun.firstFrame).toFixed(0), p(vncRun.firstFrame, 95).toFixed(0), '', `${(vncSynth.bytes / 1024 / 1024).toFixed(1)} MB, ${(vncSynth.ms / 60_000).toFixed(1)} min`],
        ['vnc: seek to a random position', String(vncRun.seeks.length), median(vncRun.seeks).toFixed(0), p(vncRun.seeks, 95).toFixed(0), '', `${vncRun.timeouts} censored at ${SEEK_TIMEOUT_MS / 1000} s`],
        ...(bigRun === undefined || bigSynth === undefined
          ? []
          : [
              ['ssh 1 GB: navigation → first frame', String(bigRun.firstFrame.length), median(bigRun.firstFrame).toFixed(0), p(bigRun.firstFrame, 95).toFixed(0), '', `${(bigSynth.bytes / 1024 / 1024).toFixed(0)} MB, ${(bigSynth.ms / 60_000).toFixed(1)} min`],
              ['ssh 1 GB: seek to a random position', String(bigRun.seeks.length), median(bigRun.seeks).toFixed(0), p(bigRun.seeks, 95).toFixed(0), '', `${bigRun.timeouts} censored; JS heap after the seeks ${bigRun.heapMb.toFixed(1)} MB`],
            ]),
        ...renders.map((r) => [`worker: render ${r.label}`, '1', r.ms.toFixed(0), '', '', `${r.keyframes} keyframes, ${(r.mb / (r.ms / 1000)).toFixed(1)} MB/s (enqueue → seek index served)`]),
        ['worker: export ssh as mp4', '1', exportMs.toFixed(0), '', '', `${exportSpeedX.toFixed(1)}× real time in the worker, ${exportWallSpeedX.toFixed(1)}× from the request (queue included)`],
        ['live first frame while exporting', String(liveRuns), liveBusyMs.toFixed(0), '', '', `without an export ${liveIdleMs.toFixed(0)} ms: ratio ${(liveBusyMs / liveIdleMs).toFixed(2)}`],
        ['ocr recall (vnc xterm, known words)', String(KNOWN_WORDS.length), '', '', '', ocrRecallXterm.toFixed(2)],
        ['ocr recall (vnc form-like window, known words)', String(FORM_WORDS.length), '', '', '', ocrRecallForm.toFixed(2)],
        ['player mode / JS heap', '', '', '', '', `ssh ${sshRun.mode} ${sshRun.heapMb.toFixed(1)} MB; vnc ${vncRun.mode} ${vncRun.heapMb.toFixed(1)} MB`],
        ...searchRows,
        ['baseline: Range GET 64 KB of the recording', String(rangeMs.length), median(rangeMs).toFixed(1), p(rangeMs, 95).toFixed(1), p(rangeMs, 99).toFixed(1), '206, authorised'],
      ],
    );
    console.log(
      JSON.stringify({
        first_frame_ms: round(median(sshRun.firstFrame), 0),
        seek_p95_ms: round(p(sshRun.seeks, 95), 0),
        seek_p95_ms_1gb: bigRun === undefined ? null : round(p(bigRun.seeks, 95), 0),
        search_p99_ms: round(p(searchMs, 99), 1),
        // The lower of the two screens' recalls.
        ocr_recall: round(ocrRecall, 2),
        ocr_recall_xterm: round(ocrRecallXterm, 2),
        ocr_recall_form: round(ocrRecallForm, 2),
        export_speed_x: round(exportSpeedX, 1),
        recording_mb: round(recordingMb, 1),
        seek_p95_ms_vnc: round(p(vncRun.seeks, 95), 0),
        first_frame_ms_vnc: round(median(vncRun.firstFrame), 0),
        live_first_frame_ratio_exporting: Number.isFinite(liveBusyMs) ? round(liveBusyMs / liveIdleMs, 2) : null,
      }),
    );
  }
} finally {
  await stop();
}

declare global {
  interface Window {
    __airlockPlayer?: { playback: import('../client/src/recordings/Player.tsx').AnyPlayback; sessionId: string; firstFrameAt: number | null; seekTimes: number[] };
  }
}
