// Video export of a finalised recording (or a time range of it): jobs in a Redis queue that the
// renderer worker takes one at a time, and the encoder it runs them with. Frames come from the
// renderer (the recording replayed at full speed in headless Chromium, a screenshot of the
// screen at each tick of recording time with a caption burned in), piped to Debian's ffmpeg as
// JPEGs (image2pipe), so an export runs many times faster than real time and never plays back.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { feedRange, readFrames } from './frames.ts';
import type { GuacRenderer } from './renderer.ts';

/** Frames per second of recording time: enough to follow a screen session, cheap to encode. */
export const EXPORT_FPS = 5;
/** A job's state is kept this long after it was asked for (its file stays in the store folder). */
const JOB_TTL_SECONDS = 7 * 86_400;
/** Jobs queued at most (a portal without a worker must not grow the list forever). */
const MAX_QUEUED = 1_000;
/** Bytes of frames fed to the renderer at once while no frame is due (one display flush each). */
const FEED_BYTES = 1024 * 1024;
/** Frames being encoded in the page while the next ones are fed (renderer.ts `frame`). */
const FRAMES_IN_FLIGHT = 4;
/** Progress is written to Redis at most this often. */
const PROGRESS_EVERY_MS = 500;

export const EXPORT_FORMATS = ['mp4', 'webm'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const exportJobSchema = z.object({
  id: z.uuid(),
  sessionId: z.string(),
  /** ms from the recording's first frame (the player's position); `to` null: to the end. */
  from: z.number().int().nonnegative(),
  to: z.number().int().nonnegative().nullable(),
  format: z.enum(EXPORT_FORMATS),
  state: z.enum(['queued', 'running', 'done', 'failed']),
  progress: z.number().min(0).max(1),
  requestedBy: z.object({ id: z.string(), name: z.string() }),
  requestedAt: z.string(),
  finishedAt: z.string().optional(),
  sha256: z.string().optional(),
  bytes: z.number().int().optional(),
  /** The export's length (ms of recording time) and how long it took to make. */
  durationMs: z.number().optional(),
  encodeMs: z.number().optional(),
  error: z.string().optional(),
});
export type ExportJob = z.infer<typeof exportJobSchema>;

/** The job's file name in the recording's exports folder. */
export const exportFileName = (job: Pick<ExportJob, 'id' | 'format'>): string => `${job.id}.${job.format}`;

export class ExportJobs {
  private readonly redis: RedisClient;

  constructor(redis: RedisClient) {
    this.redis = redis;
  }

  async enqueue(input: Pick<ExportJob, 'sessionId' | 'from' | 'to' | 'format' | 'requestedBy'>): Promise<ExportJob> {
    if ((await this.redis.lLen(keys.recordings.exportQueue)) >= MAX_QUEUED) throw new Error('the export queue is full');
    const job: ExportJob = { id: randomUUID(), ...input, state: 'queued', progress: 0, requestedAt: new Date().toISOString() };
    await this.redis.multi().set(keys.recordings.exportJob(job.id), JSON.stringify(job), { EX: JOB_TTL_SECONDS }).lPush(keys.recordings.exportQueue, job.id).exec();
    return job;
  }

  async get(jobId: string): Promise<ExportJob | undefined> {
    const json = await this.redis.get(keys.recordings.exportJob(jobId));
    if (json === null) return undefined;
    const parsed = exportJobSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  }

  async update(job: ExportJob): Promise<void> {
    await this.redis.set(keys.recordings.exportJob(job.id), JSON.stringify(job), { KEEPTTL: true });
  }

  /** The next job for this worker (moved to the active list until `finish`), or null. */
  async take(): Promise<string | null> {
    return this.redis.lMove(keys.recordings.exportQueue, keys.recordings.exportActive, 'RIGHT', 'LEFT');
  }

  async finish(jobId: string): Promise<void> {
    await this.redis.lRem(keys.recordings.exportActive, 1, jobId);
  }

  /** Jobs a stopped worker had taken go back to the queue (an export is made again from scratch). */
  async requeueActive(): Promise<void> {
    while ((await this.redis.lMove(keys.recordings.exportActive, keys.recordings.exportQueue, 'RIGHT', 'RIGHT')) !== null);
  }
}

export interface EncodeOptions {
  recordingFile: string;
  out: string;
  format: ExportFormat;
  from: number;
  /** Undefined: to the end of the recording. */
  to: number | undefined;
  /** The caption burned into each frame at `t` (ms from the first frame; `firstSync` is that frame's sync). */
  caption: (t: number, firstSync: number) => string;
  onProgress?: (progress: number) => void;
  ffmpegPath?: string;
  fps?: number;
}

function ffmpegArgs(format: ExportFormat, fps: number, out: string): string[] {
  // One encoder thread: the worker's CPU stays bounded (it also runs at nice 10).
  const codec =
    format === 'mp4'
      ? ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'stillimage', '-crf', '26', '-pix_fmt', 'yuv420p', '-movflags', '+faststart']
      : ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', '-pix_fmt', 'yuv420p'];
  return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'image2pipe', '-framerate', String(fps), '-c:v', 'mjpeg', '-i', 'pipe:0', '-threads', '1', ...codec, '-f', format, out];
}

/**
 * Replays the recording and encodes the range [from, to] at `fps` frames per second of
 * recording time. A frame is captured only when the screen or the caption changed since the
 * last one; otherwise the last JPEG is sent again (idle spans cost ffmpeg nearly nothing).
 */
export async function encodeVideo(renderer: GuacRenderer, opts: EncodeOptions): Promise<{ durationMs: number; frames: number; captured: number }> {
  const fps = opts.fps ?? EXPORT_FPS;
  const step = 1000 / fps;
  const ffmpeg = spawn(opts.ffmpegPath ?? 'ffmpeg', ffmpegArgs(opts.format, fps, opts.out), { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  ffmpeg.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const exited = new Promise<number>((resolve, reject) => {
    ffmpeg.once('error', reject);
    ffmpeg.once('close', (code) => resolve(code ?? 1));
  });
  // A write to an ffmpeg that died fails with EPIPE: the exit code says why.
  ffmpeg.stdin.on('error', () => undefined);
  const write = async (jpeg: Buffer): Promise<void> => {
    if (!ffmpeg.stdin.write(jpeg)) await new Promise<void>((r) => ffmpeg.stdin.once('drain', () => r()));
  };

  const session = await renderer.open();
  const fd = await open(opts.recordingFile, 'r');
  let frames = 0;
  let captured = 0;
  try {
    let fed = 0;
    let drawnSinceCapture = 1;
    // The last capture (sent again while nothing changed) and the captures still encoding, in order.
    let last: Promise<Buffer> | undefined;
    const inFlight: Array<Promise<Buffer>> = [];
    let lastCaption = '';
    let firstSync: number | undefined;
    let nextTick = opts.from;
    let lastProgress = 0;
    const end = opts.to;
    const feedTo = async (to: number): Promise<void> => {
      if (to <= fed) return;
      await feedRange(fd, session, fed, to);
      fed = to;
    };
    const emit = async (t: number): Promise<void> => {
      const caption = opts.caption(t, firstSync ?? 0);
      if (last === undefined || drawnSinceCapture > 0 || caption !== lastCaption) {
        last = session.frame(caption);
        last.catch(() => undefined); // awaited below, in order; not an unhandled rejection meanwhile
        lastCaption = caption;
        drawnSinceCapture = 0;
        captured++;
      }
      inFlight.push(last);
      frames++;
      while (inFlight.length >= FRAMES_IN_FLIGHT) await write(await (inFlight.shift() as Promise<Buffer>));
      const now = performance.now();
      if (opts.onProgress !== undefined && end !== undefined && now - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = now;
        opts.onProgress(Math.min(1, (t - opts.from) / Math.max(1, end - opts.from)));
      }
    };
    let pendingDrawn = 0;
    let t = 0;
    let cut: number | undefined;
    for await (const frame of readFrames(opts.recordingFile)) {
      if (frame.partial === true) break;
      firstSync ??= frame.sync;
      const ft = Math.max(t, frame.sync - firstSync);
      // Every tick before this frame shows the screen as the frames before it left it.
      while (nextTick < ft && (end === undefined || nextTick <= end)) {
        await feedTo(frame.start);
        drawnSinceCapture += pendingDrawn;
        pendingDrawn = 0;
        await emit(nextTick);
        nextTick += step;
      }
      t = ft;
      pendingDrawn += frame.drawn;
      if (end !== undefined && t > end) {
        cut = frame.start; // the range ends before this frame is drawn
        break;
      }
      if (frame.end - fed >= FEED_BYTES) {
        await feedTo(frame.end);
        drawnSinceCapture += pendingDrawn;
        pendingDrawn = 0;
      }
    }
    if (firstSync === undefined) throw new Error('the recording has no frames');
    // The last frame drawn, then ticks to the range's end (or one frame at the recording's end).
    await feedTo(cut ?? (await fd.stat()).size);
    drawnSinceCapture += cut === undefined ? pendingDrawn : 0;
    const stop = end === undefined ? t : Math.min(end, t);
    for (; nextTick <= stop; nextTick += step) await emit(nextTick);
    if (frames === 0) await emit(stop);
    for (const frame of inFlight.splice(0)) await write(await frame);
  } catch (err) {
    ffmpeg.kill('SIGKILL');
    await exited.catch(() => 1);
    throw err;
  } finally {
    await fd.close();
    await session.close();
  }
  ffmpeg.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`ffmpeg failed (${code}): ${stderr.trim().slice(0, 500)}`);
  opts.onProgress?.(1);
  return { durationMs: Math.round((frames * 1000) / fps), frames, captured };
}
