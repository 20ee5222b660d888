// The renderer worker: takes finalised recordings from a queue in Redis (the finaliser puts each
// one there) and renders each once at full speed in headless Chromium, writing its derived data
// (keyframes, thumbnails, activity strip: derived.ts) and auditing it. One recording at a time
// per worker, so its CPU is bounded; `airlock worker` runs it as a process of its own at a low
// priority, and a portal can host one in-process (AIRLOCK_RENDER_WORKER=inprocess: the demo, tests).
// It also runs video export jobs (export.ts), from a queue of their own, after the renders.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import type { AuditLog } from '../server/audit/store.ts';
import { errorMessage } from '../server/errors.ts';
import { keys } from '../server/keys.ts';
import type { RecordingCatalog, RecordingSummary } from './catalog.ts';
import { parseManifest } from './manifest.ts';
import { DERIVED_DIR, DERIVED_FILE_NAMES, EXPORTS_DIR, MANIFEST_FILE, STORE_FILE_NAMES } from './layout.ts';
import { encodeVideo, exportFileName, ExportJobs, type ExportJob } from './export.ts';
import { sha256File } from './manifest.ts';
import { readScreens, writeOcr } from './ocr.ts';
import { hasTypescript } from './layout.ts';
import { buildDerived, KEYFRAME_EVERY_BYTES, type DerivedIndex } from './derived.ts';
import { GuacRenderer, DEFAULT_CHROMIUM_PATH } from './renderer.ts';
import type { ManifestSigner } from './signing.ts';
import { recordingStart } from './clock.ts';

/** How often an idle worker looks at the queue (a finalised recording waits at most this long). */
const POLL_MS = 1_000;
/** Chromium is closed after this long without work (it holds ~150 MB while open). */
const RENDERER_IDLE_MS = 60_000;
export class RenderWorker {
  private readonly redis: RedisClient;
  private readonly store: string;
  private readonly catalog: RecordingCatalog;
  private readonly audit: AuditLog;
  private readonly signer: ManifestSigner;
  private readonly log: Logger;
  private readonly chromiumPath: string;
  private readonly keyframeEveryBytes: number;
  private renderer: GuacRenderer | undefined;
  private lastWork = 0;
  private running: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly exports: ExportJobs;
  /** Whether graphical recordings are read by OCR (tesseract) after their keyframes are built. */
  private readonly ocr: boolean;
  /** Told after each export job, done or failed (the bench waits on it). */
  onExported: ((job: ExportJob) => void) | null = null;
  /** Told after a graphical recording's screens were read by OCR (the bench waits on it). */
  onScreenTextRead: ((sessionId: string, reads: number, ms: number) => void) | null = null;
  /** Told after each recording (the tests and the bench wait on it). */
  onRendered: ((sessionId: string, index: DerivedIndex | undefined, ms: number) => void) | null = null;

  constructor(deps: { redis: RedisClient; store: string; catalog: RecordingCatalog; audit: AuditLog; signer: ManifestSigner; log: Logger; chromiumPath?: string | undefined; keyframeEveryBytes?: number | undefined; ocr?: boolean | undefined }) {
    this.redis = deps.redis;
    this.store = deps.store;
    this.catalog = deps.catalog;
    this.audit = deps.audit;
    this.signer = deps.signer;
    this.log = deps.log.child({ module: 'render-worker' });
    this.chromiumPath = deps.chromiumPath ?? DEFAULT_CHROMIUM_PATH;
    this.keyframeEveryBytes = deps.keyframeEveryBytes ?? KEYFRAME_EVERY_BYTES;
    this.exports = new ExportJobs(deps.redis);
    this.ocr = deps.ocr ?? true;
  }

  /** Starts taking jobs; jobs a stopped worker had taken go back to the queue first. */
  start(): void {
    if (this.running !== undefined) return;
    this.stopping = false;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    this.running = undefined;
    await this.renderer?.close();
    this.renderer = undefined;
  }

  private async loop(): Promise<void> {
    try {
      // A worker that died mid-job left it in the active list: render it again (idempotent).
      while ((await this.redis.lMove(keys.recordings.renderActive, keys.recordings.renderQueue, 'RIGHT', 'RIGHT')) !== null) {
        if (this.stopping) return;
      }
      await this.exports.requeueActive();
    } catch (err) {
      this.log.warn({ err: { message: errorMessage(err) } }, 'could not put back unfinished jobs');
    }
    while (!this.stopping) {
      let sessionId: string | null = null;
      try {
        sessionId = await this.redis.lMove(keys.recordings.renderQueue, keys.recordings.renderActive, 'RIGHT', 'LEFT');
      } catch (err) {
        this.log.warn({ err: { message: errorMessage(err) } }, 'render queue unavailable');
      }
      if (sessionId === null) {
        // Renders first (the player's seeking waits on them; they take seconds), then one export.
        let jobId: string | null = null;
        try {
          jobId = await this.exports.take();
        } catch (err) {
          this.log.warn({ err: { message: errorMessage(err) } }, 'export queue unavailable');
        }
        if (jobId !== null) {
          await this.runExport(jobId);
          await this.exports.finish(jobId).catch(() => undefined);
          this.lastWork = Date.now();
          continue;
        }
        if (this.renderer !== undefined && Date.now() - this.lastWork > RENDERER_IDLE_MS) {
          await this.renderer.close();
          this.renderer = undefined;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          void delay(POLL_MS, undefined, { ref: false }).then(resolve);
        });
        continue;
      }
      const started = performance.now();
      let index: DerivedIndex | undefined;
      try {
        index = await this.render(sessionId);
      } catch (err) {
        this.log.warn({ sessionId, err: { message: errorMessage(err) } }, 'could not render the recording (the player replays it from the start)');
      }
      await this.redis.lRem(keys.recordings.renderActive, 1, sessionId).catch(() => 0);
      this.lastWork = Date.now();
      this.onRendered?.(sessionId, index, performance.now() - started);
    }
  }

  /** Renders one recording now (the CLI's --session, and every queued job). Undefined: nothing to render. */
  async render(sessionId: string): Promise<DerivedIndex | undefined> {
    const summary = await this.catalog.get(sessionId);
    if (summary === undefined) return undefined; // purged, or never indexed
    return this.renderSummary(summary);
  }

  /** Runs one export job: the video file in the recording's exports folder, its hash audited. */
  async runExport(jobId: string): Promise<ExportJob | undefined> {
    const queued = await this.exports.get(jobId);
    if (queued === undefined) return undefined; // expired
    let job: ExportJob = { ...queued, state: 'running', progress: 0 };
    await this.exports.update(job);
    const summary = await this.catalog.get(job.sessionId);
    const started = performance.now();
    try {
      if (summary === undefined) throw new Error('the recording is no longer in the index');
      const dir = path.join(this.store, summary.dir, EXPORTS_DIR);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, exportFileName(job));
      const part = `${file}.part`;
      this.renderer ??= await GuacRenderer.launch(this.chromiumPath);
      const vendor = summary.requester.company === null ? summary.requester.name : `${summary.requester.name} (${summary.requester.company})`;
      const label = `session ${summary.sessionId} · ${summary.machine.name} · ${vendor}`;
      // The caption's time is wall time: the recording's own clock is guacd's (recordings/clock.ts).
      const events = await readFile(path.join(this.store, summary.dir, STORE_FILE_NAMES.events), 'utf8').catch(() => '');
      const startedAt = Date.parse(summary.startedAt);
      // Where the first frame sits on the wall clock, worked out once (the caption asks every tick).
      let firstFrameAt: number | undefined;
      let written = 0;
      // Progress writes in order, all landed before the final state (which must not be overwritten).
      let progressWrites = Promise.resolve();
      const result = await encodeVideo(this.renderer, {
        recordingFile: path.join(this.store, summary.dir, STORE_FILE_NAMES.recording),
        out: part,
        format: job.format,
        from: job.from,
        to: job.to ?? undefined,
        caption: (t, firstSync) => {
          firstFrameAt ??= startedAt + (recordingStart(events, summary.startedAt, firstSync) ?? 0);
          return `${label} · ${new Date(firstFrameAt + t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
        },
        onProgress: (p) => {
          if (p - written < 0.01) return;
          written = p;
          const update = { ...job, progress: Math.min(0.99, p) };
          progressWrites = progressWrites.then(() => this.exports.update(update)).catch(() => undefined);
        },
      }).catch(async (err: unknown) => {
        await rm(part, { force: true });
        throw err;
      });
      await progressWrites;
      await rename(part, file);
      const { sha256, bytes } = await sha256File(file);
      const encodeMs = Math.round(performance.now() - started);
      // The hash is on the record before anyone can download the file.
      await this.audited(job.requestedBy, 'recording.exported', summary, { jobId: job.id, format: job.format, from: job.from, to: job.to, durationMs: result.durationMs, sha256, bytes, encodeMs });
      job = { ...job, state: 'done', progress: 1, sha256, bytes, durationMs: result.durationMs, encodeMs, finishedAt: new Date().toISOString() };
      this.log.info({ sessionId: summary.sessionId, jobId, frames: result.frames, captured: result.captured, ms: encodeMs }, 'recording exported as video');
    } catch (err) {
      this.log.warn({ sessionId: job.sessionId, jobId, err: { message: errorMessage(err) } }, 'could not export the recording');
      job = { ...job, state: 'failed', error: errorMessage(err).slice(0, 300), finishedAt: new Date().toISOString() };
      // A job that ended without a file is on the record too (who asked, what failed).
      await this.audit
        .append({
          actor: job.requestedBy,
          action: 'recording.export_failed',
          target: { type: 'session', id: job.sessionId },
          outcome: 'ok',
          reason: job.error ?? null,
          details: { jobId: job.id, format: job.format, from: job.from, to: job.to },
          site: summary?.siteId ?? null,
        })
        .catch(() => undefined);
    }
    await this.exports.update(job).catch(() => undefined);
    this.onExported?.(job);
    return job;
  }

  /** A step done on a recording, on its session's record (the request first in the details, as on every session event). */
  private audited(actor: AuditEvent['actor'], action: string, summary: RecordingSummary, details: Record<string, unknown>): Promise<unknown> {
    return this.audit.append({ actor, action, target: { type: 'session', id: summary.sessionId }, outcome: 'ok', reason: null, details: { requestId: summary.requestId, ...details }, site: summary.siteId });
  }

  private async renderSummary(summary: RecordingSummary): Promise<DerivedIndex | undefined> {
    const dir = path.join(this.store, summary.dir);
    const manifest = parseManifest(await readFile(path.join(dir, MANIFEST_FILE)));
    const recording = manifest?.files.find((f) => f.kind === 'recording');
    if (manifest === undefined || recording === undefined || recording.bytes === 0) return undefined;
    const started = performance.now();
    this.renderer ??= await GuacRenderer.launch(this.chromiumPath);
    const events = manifest.files.find((f) => f.kind === 'events');
    const index = await buildDerived(
      this.renderer,
      { sessionId: summary.sessionId, dir, recordingName: STORE_FILE_NAMES.recording, recordingSha256: recording.sha256, startedAt: manifest.startedAt, eventsName: events?.name },
      this.signer,
      { keyframeEveryBytes: this.keyframeEveryBytes },
    );
    const indexSha256 = createHash('sha256').update(await readFile(path.join(dir, DERIVED_DIR, DERIVED_FILE_NAMES.index))).digest('hex');
    const ms = Math.round(performance.now() - started);
    // Derived data changes what the player shows: who made it, from what, is on the record.
    await this.audited(null, 'recording.keyframes_built', summary, { recordingSha256: recording.sha256, indexSha256, keyframes: index.keyframes.length, dataBytes: index.dataBytes, renderMs: ms, renderer: index.renderer });
    this.log.info({ sessionId: summary.sessionId, keyframes: index.keyframes.length, mb: Math.round(recording.bytes / 1e5) / 10, ms }, 'recording rendered: keyframes and activity strip built');
    // Graphical sessions have no typescript: what they showed is read off the rendered screen
    // (after the keyframes, which the player is waiting for; OCR takes longer).
    if (!hasTypescript(summary.machine.protocol) && this.ocr) {
      const ocrStarted = performance.now();
      const ocr = await readScreens(this.renderer, path.join(dir, STORE_FILE_NAMES.recording));
      await writeOcr(dir, { version: 1, sessionId: summary.sessionId, recordingSha256: recording.sha256, firstSync: ocr.firstSync, engine: 'tesseract', reads: ocr.reads }, this.signer);
      const words = await this.catalog.addWords(summary.sessionId, ocr.reads.map((r) => r.text).join('\n'));
      const ocrMs = Math.round(performance.now() - ocrStarted);
      // New search words change what search finds: on the record, like the keyframes.
      await this.audited(null, 'recording.screen_text_read', summary, { recordingSha256: recording.sha256, reads: ocr.reads.length, wordsAdded: words, ocrMs, engine: 'tesseract' });
      this.onScreenTextRead?.(summary.sessionId, ocr.reads.length, ocrMs);
    }
    return index;
  }
}
