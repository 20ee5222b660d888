// Derived data of a finalised recording, made once by the renderer worker so that the player can
// seek anywhere at once: keyframes (the Guacamole client's exported state every few MB of the
// recording, with the byte offset where the replay resumes), a small thumbnail per keyframe for
// hovering the seek bar, and the activity strip (output and input density, idle spans, events).
//
// Integrity: derived data is not evidence and is not in the manifest (the manifest is signed and
// audited before the worker runs). Its index is signed with the same key as manifests and names
// the SHA-256 of the recording (from the signed manifest) and of its data file; the server serves
// it only when all three check out, and otherwise the player replays from the start, as before,
// and says why. It can be rebuilt from the recording at any time (`airlock worker --rebuild`).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DERIVED_DIR, DERIVED_FILE_NAMES, DERIVED_WORK_PREFIX } from './layout.ts';
import { feedRange, readFrames } from './frames.ts';
import type { GuacRenderer } from './renderer.ts';
import { verifySignature, type ManifestSigner } from './signing.ts';
import { typedLines } from './text.ts';
import { recordingStart } from './clock.ts';
import { sha256File } from './manifest.ts';

/**
 * A keyframe at least every this many bytes of recording: a seek replays at most this much after
 * importing its keyframe. Measured (bench/replay, a loaded 2-core box, load 5–11): with 2 MB,
 * seeks took 0.25–2.3 s (p95 1.6 s on 100 MB of SSH); with 1 MB, 0.23–0.83 s on SSH and 0.16–1.3 s
 * on VNC. An SSH keyframe is ~300 KB (the terminal's layers as PNG), so derived data is ~30 % of
 * a terminal recording at 1 MB. Halving this halves the replay and doubles that.
 */
export const KEYFRAME_EVERY_BYTES = 1024 * 1024;
/**
 * …and after this much recording time in which something was drawn, so a long, light session
 * (few bytes, many frames) does not replay thousands of frames either.
 */
export const KEYFRAME_EVERY_MS = 120_000;
/**
 * …and after this much time once an eighth of the byte spacing was drawn: a graphical session
 * (VNC, RDP: few bytes a minute, each an image to decode) otherwise gets its keyframes from the
 * time rule alone, and a seek replayed up to two minutes of image updates (VNC seek p95 1.7 s on
 * a loaded box). A light terminal session draws too little to reach it: its keyframes (~300 KB
 * each) stay sparse.
 */
export const KEYFRAME_BUSY_EVERY_MS = 30_000;
/**
 * A fresh page after this many bytes of recording, starting from the keyframe just taken: the
 * page's memory grows with what it replayed (a 1 GB recording crashed the renderer), and a page
 * that starts from a keyframe is exactly what the player does on a seek.
 */
const RECYCLE_PAGE_BYTES = 128 * 1024 * 1024;
/** Bytes of whole frames handed to the renderer per call (one display flush each). */
const FEED_BYTES = 1024 * 1024;
/** Thumbnail width for the seek bar's hover (the height follows the screen). */
export const THUMBNAIL_WIDTH = 240;
/** A stretch with nothing drawn longer than this is idle (the player's IDLE_GAP_MS). */
export const IDLE_GAP_MS = 5_000;
/** Buckets of the activity strip at most (one per pixel column of a wide seek bar, roughly). */
const MAX_BUCKETS = 400;
/** Events listed in the strip at most (a long session typing all day stays small). */
const MAX_EVENTS = 2_000;

const range = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);

export const activitySchema = z.object({
  bucketMs: z.number().positive(),
  /** Bytes of drawing instructions per bucket (what the machine showed). */
  output: z.array(z.number().nonnegative()),
  /** Key and mouse events per bucket (what the vendor did). */
  input: z.array(z.number().nonnegative()),
  idle: z.array(z.object({ from: z.number(), to: z.number() })),
  /** ms from the first frame (the player's position). */
  events: z.array(z.object({ t: z.number(), kind: z.enum(['command', 'clipboard', 'file', 'blocked', 'end']), label: z.string() })),
});
export type Activity = z.infer<typeof activitySchema>;

export const derivedIndexSchema = z.object({
  version: z.literal(1),
  sessionId: z.string(),
  /** The recording this was rendered from (the manifest's hash of recording.guac). */
  recordingSha256: z.string().regex(/^[0-9a-f]{64}$/),
  recordingBytes: z.number().int().nonnegative(),
  dataSha256: z.string().regex(/^[0-9a-f]{64}$/),
  dataBytes: z.number().int().nonnegative(),
  /** The first frame's `sync` (epoch ms in guacd 1.3+) and the last frame's time from it. */
  firstSync: z.number(),
  duration: z.number().nonnegative(),
  width: z.number().int().nonnegative(),
  height: z.number().int().nonnegative(),
  builtAt: z.string(),
  /** What drew the keyframes (a player on another library version may not import them). */
  renderer: z.string(),
  keyframes: z.array(
    z.object({
      /** ms from the first frame: the state after every frame up to this time. */
      t: z.number().nonnegative(),
      /** Byte offset in the recording of the frame after it: where a replay from here resumes. */
      at: z.number().int().nonnegative(),
      state: range,
      thumb: range,
    }),
  ),
  activity: activitySchema,
});
export type DerivedIndex = z.infer<typeof derivedIndexSchema>;

export const RENDERER_NAME = 'chromium+guacamole-common-js@1.5.0';

/** Accumulates the activity strip, per second while reading, rebinned at the end. */
class ActivityCounter {
  private readonly output: number[] = [];
  private readonly input: number[] = [];
  private lastDrawn = 0;
  readonly idle: Array<{ from: number; to: number }> = [];
  readonly events: Activity['events'] = [];

  private second(t: number): number {
    const s = Math.max(0, Math.floor(t / 1000));
    while (this.output.length <= s) {
      this.output.push(0);
      this.input.push(0);
    }
    return s;
  }

  /** One key press or mouse instruction at `t`. */
  addInput(t: number): void {
    const s = this.second(t);
    this.input[s] = (this.input[s] ?? 0) + 1;
  }

  add(t: number, drawn: number, files: readonly string[]): void {
    const s = this.second(t);
    this.output[s] = (this.output[s] ?? 0) + drawn;
    if (drawn > 0 || t === 0) {
      if (t - this.lastDrawn > IDLE_GAP_MS) this.idle.push({ from: this.lastDrawn, to: t });
      this.lastDrawn = t;
    }
    for (const f of files) this.event({ t, kind: 'file', label: `file sent to the browser: ${f}` });
  }

  event(e: Activity['events'][number]): void {
    if (this.events.length < MAX_EVENTS) this.events.push(e);
  }

  finish(duration: number): Activity {
    if (duration - this.lastDrawn > IDLE_GAP_MS) this.idle.push({ from: this.lastDrawn, to: duration });
    const seconds = Math.max(1, this.output.length);
    const per = Math.max(1, Math.ceil(seconds / MAX_BUCKETS));
    const rebin = (xs: number[]) => Array.from({ length: Math.ceil(seconds / per) }, (_, i) => xs.slice(i * per, (i + 1) * per).reduce((a, b) => a + b, 0));
    this.event({ t: duration, kind: 'end', label: 'end of the recording' });
    return { bucketMs: per * 1000, output: rebin(this.output), input: rebin(this.input), idle: this.idle, events: this.events.sort((a, b) => a.t - b.t) };
  }
}

export interface DerivedSource {
  sessionId: string;
  /** The store folder of the recording. */
  dir: string;
  recordingName: string;
  recordingSha256: string;
  /** The session start (the input log's times count from it), and the input log, if any. */
  startedAt: string;
  eventsName: string | undefined;
}

/**
 * Renders the recording once at full speed and writes its derived folder (atomically: a fresh
 * folder renamed over the old one). Returns the index.
 */
export async function buildDerived(renderer: GuacRenderer, source: DerivedSource, signer: ManifestSigner, opts: { keyframeEveryBytes?: number } = {}): Promise<DerivedIndex> {
  const everyBytes = opts.keyframeEveryBytes ?? KEYFRAME_EVERY_BYTES;
  const recording = path.join(source.dir, source.recordingName);
  const work = path.join(source.dir, `${DERIVED_WORK_PREFIX}${randomBytes(6).toString('hex')}`);
  await mkdir(work, { mode: 0o700 });
  let session = await renderer.open();
  let recycledAt = 0;
  const fd = await open(recording, 'r');
  try {
    const data = createWriteStream(path.join(work, DERIVED_FILE_NAMES.data), { mode: 0o600 });
    const dataHash = createHash('sha256');
    let dataBytes = 0;
    const append = async (bytes: Buffer): Promise<[number, number]> => {
      const at = dataBytes;
      dataHash.update(bytes);
      dataBytes += bytes.length;
      if (!data.write(bytes)) await new Promise<void>((r) => data.once('drain', () => r()));
      return [at, bytes.length];
    };
    const feedTo = (from: number, to: number): Promise<void> => feedRange(fd, session, from, to);
    const activity = new ActivityCounter();
    const keyframes: DerivedIndex['keyframes'] = [];
    let firstSync: number | undefined;
    let fed = 0;
    let last: { t: number; at: number } | undefined;
    let drawnSinceKeyframe = 0;
    let t = 0;
    for await (const frame of readFrames(recording)) {
      if (frame.partial === true) {
        if (firstSync !== undefined) for (const k of frame.keys) activity.addInput(Math.min(t, k - firstSync));
        break;
      }
      firstSync ??= frame.sync;
      t = Math.max(t, frame.sync - firstSync);
      activity.add(t, frame.drawn, frame.files);
      // Keys carry their own time (guacd's recording-include-keys format); mouse moves the frame's.
      for (const k of frame.keys) activity.addInput(Number.isFinite(k) ? Math.min(t, Math.max(0, k - firstSync)) : t);
      for (let m = 0; m < frame.mouse; m++) activity.addInput(t);
      drawnSinceKeyframe += frame.drawn;
      const due =
        last === undefined ||
        frame.end - last.at >= everyBytes ||
        (drawnSinceKeyframe > 0 && t - last.t >= KEYFRAME_EVERY_MS) ||
        (drawnSinceKeyframe >= everyBytes / 8 && t - last.t >= KEYFRAME_BUSY_EVERY_MS);
      if (due || frame.end - fed >= FEED_BYTES) {
        await feedTo(fed, frame.end);
        fed = frame.end;
      }
      if (!due) continue;
      const snapshot = await session.snapshot();
      const state = await append(Buffer.from(snapshot));
      const thumb = await append(await session.thumbnail(THUMBNAIL_WIDTH));
      if (frame.end - recycledAt >= RECYCLE_PAGE_BYTES) {
        await session.close();
        session = await renderer.open();
        await session.load(snapshot);
        recycledAt = frame.end;
      }
      keyframes.push({ t, at: frame.end, state, thumb });
      last = { t, at: frame.end };
      drawnSinceKeyframe = 0;
    }
    await feedTo(fed, (await fd.stat()).size);
    await new Promise<void>((resolve, reject) => data.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (firstSync === undefined) throw new Error('the recording has no frames');
    const duration = t;
    // Typed commands, clipboard and blocked input from the portal's input log, on the recording's clock.
    if (source.eventsName !== undefined) {
      const text = await readFile(path.join(source.dir, source.eventsName), 'utf8').catch(() => '');
      const start = recordingStart(text, source.startedAt, firstSync) ?? 0;
      const at = (ms: number) => Math.min(duration, Math.max(0, ms - start));
      for (const line of typedLines(text)) if (line.text.trim() !== '') activity.event({ t: at(line.t), kind: 'command', label: line.text.slice(0, 200) });
      for (const raw of text.split('\n')) {
        if (!raw.includes('"clipboard"') && !raw.includes('"blocked"')) continue;
        try {
          const e = JSON.parse(raw) as { t?: number; type?: string; text?: string; opcode?: string; reason?: string };
          if (e.type === 'clipboard') activity.event({ t: at(e.t ?? 0), kind: 'clipboard', label: `clipboard: ${(e.text ?? '').slice(0, 80)}` });
          if (e.type === 'blocked') activity.event({ t: at(e.t ?? 0), kind: 'blocked', label: `blocked ${e.opcode ?? ''}: ${e.reason ?? ''}`.slice(0, 200) });
        } catch {
          // a torn last line
        }
      }
    }
    const size = await session.size();
    const index: DerivedIndex = {
      version: 1,
      sessionId: source.sessionId,
      recordingSha256: source.recordingSha256,
      recordingBytes: (await fd.stat()).size,
      dataSha256: dataHash.digest('hex'),
      dataBytes,
      firstSync,
      duration,
      width: size.width,
      height: size.height,
      builtAt: new Date().toISOString(),
      renderer: RENDERER_NAME,
      keyframes,
      activity: activity.finish(duration),
    };
    const bytes = Buffer.from(JSON.stringify(index));
    await writeFile(path.join(work, DERIVED_FILE_NAMES.index), bytes, { mode: 0o600 });
    await writeFile(path.join(work, DERIVED_FILE_NAMES.signature), `${signer.sign(bytes)}\n`, { mode: 0o600 });
    const target = path.join(source.dir, DERIVED_DIR);
    await rm(target, { recursive: true, force: true });
    await rename(work, target);
    return index;
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  } finally {
    await fd.close();
    await session.close();
  }
}

/** Why a recording's derived data cannot be used (the player says so and replays from the start). */
export type DerivedProblem = 'missing' | 'signature' | 'malformed' | 'other_recording' | 'data_altered';

export const DERIVED_PROBLEMS: Record<DerivedProblem, string> = {
  missing: 'no keyframes have been built for this recording yet',
  signature: 'the keyframes are not signed by this Airlock (altered or planted)',
  malformed: 'the keyframe index is damaged',
  other_recording: 'the keyframes were built from another recording',
  data_altered: 'the keyframe data does not match its signed index',
};

export type DerivedCheck = { ok: true; index: DerivedIndex; dataFile: string } | { ok: false; problem: DerivedProblem };

/**
 * Checks a recording's derived folder: signed index, built from this recording (`recordingSha256`
 * from the signed manifest), data file as indexed. `hashData` false skips re-hashing the data
 * file (the caller cached an earlier check of the same file).
 */
export async function checkDerived(dir: string, recordingSha256: string | undefined, publicKey: Parameters<typeof verifySignature>[2], hashData = true): Promise<DerivedCheck> {
  const base = path.join(dir, DERIVED_DIR);
  let bytes: Buffer;
  let signature: string;
  try {
    bytes = await readFile(path.join(base, DERIVED_FILE_NAMES.index));
    signature = (await readFile(path.join(base, DERIVED_FILE_NAMES.signature), 'utf8')).trim();
  } catch {
    return { ok: false, problem: 'missing' };
  }
  if (!verifySignature(bytes, signature, publicKey)) return { ok: false, problem: 'signature' };
  let index: DerivedIndex;
  try {
    index = derivedIndexSchema.parse(JSON.parse(bytes.toString('utf8')));
  } catch {
    return { ok: false, problem: 'malformed' };
  }
  if (recordingSha256 === undefined || index.recordingSha256 !== recordingSha256) return { ok: false, problem: 'other_recording' };
  const dataFile = path.join(base, DERIVED_FILE_NAMES.data);
  if (hashData) {
    const actual = await sha256File(dataFile).catch(() => undefined);
    if (actual === undefined || actual.sha256 !== index.dataSha256 || actual.bytes !== index.dataBytes) return { ok: false, problem: 'data_altered' };
  }
  return { ok: true, index, dataFile };
}

/** A stamp that changes with any write to the derived folder's files (ctime cannot be set back). */
export async function derivedStamp(dir: string): Promise<string> {
  const base = path.join(dir, DERIVED_DIR);
  const parts = await Promise.all(Object.values(DERIVED_FILE_NAMES).map((n) => stat(path.join(base, n)).then((s) => `${n}:${s.size}:${s.ctimeMs}:${s.ino}`, () => n)));
  return parts.join('|');
}
