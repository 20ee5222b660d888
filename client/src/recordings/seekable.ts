// Playback that seeks anywhere at once, from the keyframes the renderer worker built
// (recordings/derived.ts): a seek imports the nearest keyframe at or before the target
// (`Guacamole.Client.importState()`), fetches the recording from that keyframe's byte offset with
// an HTTP Range request, and replays only the frames up to the target. Playing on continues the
// same download. Memory stays bounded: the recording is never held whole, only a read-ahead of
// frames (READ_AHEAD_CHARS) and the last keyframes fetched.
//
// Same surface as Playback (playback.ts), which remains the fallback when a recording has no
// usable keyframes (and upstream SessionRecording's limit: seeking into a part not yet played
// replays from the start, because its keyframes are kept only for frames already played).
import Guacamole from 'guacamole-common-js';
import { keyframeUrl, type SeekIndex } from '../api.ts';
import { ClockedPlayback, countAtOrBefore, IDLE_GAP_MS, SPEEDS, yieldToEventLoop, type IdleGap, type PlaybackState, type Speed } from './engine.ts';

/** Parsing and replaying yield to the page after this much work (a seek never freezes the UI). */
const SLICE_MS = 8;
/** Frames parsed ahead of the position at most, in characters: the player's memory bound. */
const READ_AHEAD_CHARS = 8 * 1024 * 1024;
/** Keyframe states kept in memory (going back and forth around one place is the common case). */
const KEYFRAMES_CACHED = 3;

interface Frame {
  /** ms from the first frame. */
  t: number;
  /** Its instructions, `sync` last. */
  instructions: Array<[string, string[]]>;
  chars: number;
}

/** The recording from one byte offset on, as frames, parsed ahead but not further than READ_AHEAD_CHARS. */
/**
 * The start of a recording, asked for before its seek index arrives: the first frame does not wait
 * for the index's round trip (bench/replay's first frame). Aborted if the index never comes.
 */
export type RecordingHead = { response: Promise<Response>; abort: AbortController };

export function fetchRecordingHead(url: string): RecordingHead {
  const abort = new AbortController();
  const response = fetch(url, { credentials: 'same-origin', headers: { Range: 'bytes=0-' }, signal: abort.signal });
  response.catch(() => undefined); // read (or abandoned) by its FrameStream
  return { response, abort };
}

class FrameStream {
  private readonly frames: Frame[] = [];
  private head = 0;
  private buffered = 0;
  private current: Array<[string, string[]]> = [];
  private currentChars = 0;
  private done = false;
  private readonly abort: AbortController;
  private wakeReader: (() => void) | null = null;
  private wakeConsumer: (() => void) | null = null;
  error: string | null = null;
  /** Bytes received. */
  received = 0;

  /** `head`: the file's start, already asked for (from 0 only). */
  constructor(url: string, from: number, firstSync: number, head?: RecordingHead) {
    this.abort = head?.abort ?? new AbortController();
    void this.read(url, from, firstSync, from === 0 ? head?.response : undefined);
  }

  private async read(url: string, from: number, firstSync: number, asked: Promise<Response> | undefined): Promise<void> {
    try {
      const res = await (asked ?? fetch(url, { credentials: 'same-origin', headers: { Range: `bytes=${from}-` }, signal: this.abort.signal }));
      if ((res.status !== 206 && !(res.status === 200 && from === 0)) || res.body === null) throw new Error(`the recording could not be fetched (HTTP ${res.status})`);
      const parser = new Guacamole.Parser();
      parser.oninstruction = (opcode, parsed) => {
        // The library's parser reuses its arguments array for the next instruction: keep a copy.
        const args = parsed.slice();
        this.current.push([opcode, args]);
        let chars = opcode.length + 2;
        for (const a of args) chars += a.length + 2;
        this.currentChars += chars;
        if (opcode !== 'sync') return;
        const t = Math.max(0, Number.parseInt(args[0] ?? '', 10) - firstSync);
        this.frames.push({ t, instructions: this.current, chars: this.currentChars });
        this.buffered += this.currentChars;
        this.current = [];
        this.currentChars = 0;
      };
      const decoder = new TextDecoder('utf-8');
      const reader = res.body.getReader();
      let slice = performance.now();
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        this.received += chunk.value.byteLength;
        parser.receive(decoder.decode(chunk.value, { stream: true }));
        this.wakeConsumer?.();
        if (performance.now() - slice > SLICE_MS) {
          await yieldToEventLoop();
          slice = performance.now();
        }
        // Read-ahead is full: wait until the player has used some of it.
        while (this.buffered > READ_AHEAD_CHARS && !this.abort.signal.aborted) await new Promise<void>((r) => (this.wakeReader = r));
        if (this.abort.signal.aborted) return;
      }
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.error = err instanceof Error ? err.message : 'The recording could not be read.';
    }
    this.done = true;
    this.wakeConsumer?.();
  }

  /** The next frame, waiting for it to arrive; null at the end (or once closed). */
  async peek(): Promise<Frame | null> {
    for (;;) {
      const f = this.frames[this.head];
      if (f !== undefined) return f;
      if (this.done || this.abort.signal.aborted) return null;
      await new Promise<void>((r) => (this.wakeConsumer = r));
    }
  }

  take(): void {
    const f = this.frames[this.head];
    if (f === undefined) return;
    this.frames[this.head] = undefined as unknown as Frame; // let it go at once
    this.head++;
    this.buffered -= f.chars;
    // Compact now and then, so the array does not keep growing with holes.
    if (this.head > 4096) {
      this.frames.splice(0, this.head);
      this.head = 0;
    }
    if (this.buffered <= READ_AHEAD_CHARS / 2) this.wakeReader?.();
  }

  close(): void {
    this.abort.abort();
    this.wakeReader?.();
    this.wakeConsumer?.();
  }
}

export class SeekablePlayback extends ClockedPlayback {
  readonly display: Guacamole.Display;
  readonly firstSync: number;
  readonly index: SeekIndex;
  /** Always keyframes: the Player tells the two engines apart by this. */
  readonly mode = 'keyframes' as const;
  private readonly sessionId: string;
  private readonly url: string;
  private readonly client: Guacamole.Client;
  private readonly tunnel: InstanceType<typeof Guacamole.SessionRecording._PlaybackTunnel>;
  private stream: FrameStream | null = null;
  private readonly keyframeStates = new Map<number, Promise<object>>();
  /** Serialises replays: a seek waits for the previous one to notice it is superseded. */
  private work: Promise<void> = Promise.resolve();
  private generation = 0;
  private busy = false;

  constructor(sessionId: string, recordingUrl: string, index: SeekIndex, opts: { autoplay: boolean; head?: RecordingHead }) {
    super();
    this.sessionId = sessionId;
    this.url = recordingUrl;
    this.index = index;
    this.firstSync = index.firstSync;
    this.tunnel = new Guacamole.SessionRecording._PlaybackTunnel();
    this.client = new Guacamole.Client(this.tunnel);
    this.client.connect();
    this.display = this.client.getDisplay();
    // The first frame straight from the start of the file (no keyframe to fetch first).
    this.stream = new FrameStream(this.url, 0, this.firstSync, opts.head);
    const generation = this.generation;
    this.work = this.replayTo(0, generation).then(async () => {
      await this.flushed();
      await new Promise<void>((r) => requestAnimationFrame(() => r()));
      if (this.disposed || generation !== this.generation) return;
      this.firstFrame = true;
      this.onFirstFrame?.();
      if (opts.autoplay) this.play();
      this.notify();
    });
  }

  private flushed(): Promise<void> {
    return new Promise((resolve) => this.display.flush(resolve));
  }

  /**
   * Replays frames from the current stream until the next one is after `target`. Syncs in between
   * are dropped and the last one sent: the display renders one frame per animation frame, so a
   * seek's replay coalesced into one display frame is not capped at 60 frames a second.
   */
  private async replayTo(target: number, generation: number): Promise<void> {
    const stream = this.stream;
    if (stream === null) return;
    let lastSync: string[] | null = null;
    let slice = performance.now();
    for (;;) {
      if (generation !== this.generation || this.disposed) break;
      const frame = await stream.peek();
      if (frame === null || frame.t > target || generation !== this.generation) break;
      stream.take();
      for (const [opcode, args] of frame.instructions) {
        if (opcode === 'sync') lastSync = args;
        else this.tunnel.receiveInstruction(opcode, args);
      }
      this.position = frame.t;
      if (performance.now() - slice > SLICE_MS) {
        if (lastSync !== null) this.tunnel.receiveInstruction('sync', lastSync);
        lastSync = null;
        await yieldToEventLoop();
        slice = performance.now();
      }
    }
    if (lastSync !== null) this.tunnel.receiveInstruction('sync', lastSync);
    if (stream.error !== null && this.error === null) {
      this.error = stream.error;
      this.notify();
    }
  }

  private keyframeIndexAt(t: number): number {
    return Math.max(0, countAtOrBefore(this.index.keyframes, t, (k) => k.t) - 1);
  }

  private keyframeState(n: number): Promise<object> {
    let state = this.keyframeStates.get(n);
    if (state === undefined) {
      state = fetch(keyframeUrl(this.sessionId, n, 'state'), { credentials: 'same-origin' }).then((res) => {
        if (!res.ok) throw new Error(`keyframe ${n} could not be fetched (HTTP ${res.status})`);
        return res.json() as Promise<object>;
      });
      state.catch(() => this.keyframeStates.delete(n));
      this.keyframeStates.set(n, state);
      if (this.keyframeStates.size > KEYFRAMES_CACHED) this.keyframeStates.delete(this.keyframeStates.keys().next().value ?? -1);
    }
    return state;
  }

  /** The thumbnail nearest before `t` (for hovering the seek bar). */
  thumbnailUrl(t: number): string {
    return keyframeUrl(this.sessionId, this.keyframeIndexAt(t), 'thumb');
  }

  /** A user seek (slider, timeline, search hit): supersedes any seek or clock step in flight. */
  seek(ms: number, done?: () => void): void {
    const target = Math.max(0, Math.min(ms, this.index.duration));
    const generation = ++this.generation;
    const t0 = performance.now();
    this.anchor(target, t0);
    this.busy = true;
    this.notify();
    const run = this.work.then(async () => {
      if (generation !== this.generation || this.disposed) return;
      const n = this.keyframeIndexAt(target);
      const keyframe = this.index.keyframes[n];
      // Forward within reach of the current stream: no keyframe would replay less.
      const onward = this.stream !== null && this.stream.error === null && target >= this.position && (keyframe === undefined || keyframe.t <= this.position);
      if (!onward && keyframe !== undefined) {
        this.stream?.close();
        this.stream = null;
        const state = await this.keyframeState(n);
        if (generation !== this.generation || this.disposed) return;
        await new Promise<void>((resolve) => this.client.importState(state, resolve));
        this.position = keyframe.t;
        this.stream = new FrameStream(this.url, keyframe.at, this.firstSync);
      }
      await this.replayTo(target, generation);
      await this.flushed();
      if (generation !== this.generation || this.disposed) return;
      this.busy = false;
      this.onSeeked?.(performance.now() - t0);
      done?.();
      this.notify();
    });
    this.work = run.catch((err: unknown) => {
      this.busy = false;
      this.error = err instanceof Error ? err.message : 'The recording could not be read.';
      this.notify();
    });
  }

  state(): PlaybackState {
    return {
      position: this.position,
      duration: this.index.duration,
      playable: this.index.duration,
      // Every position is reachable at once: the whole recording counts as loaded.
      loaded: true,
      firstFrame: this.firstFrame,
      error: this.error,
      received: this.stream?.received ?? 0,
      total: this.index.recordingBytes,
      ...this.clockState(),
    };
  }

  override setSpeed(speed: Speed): void {
    if (!SPEEDS.includes(speed)) return;
    super.setSpeed(speed);
  }

  protected playFrom(): number {
    if (this.position < this.index.duration) return this.position;
    this.seek(0);
    return 0;
  }

  protected idleGapAt(t: number): IdleGap | null {
    return this.index.activity.idle.find((g) => g.from <= t && t < g.to && g.to - g.from > IDLE_GAP_MS) ?? null;
  }

  protected clockEnd(): number {
    return this.index.duration;
  }

  protected stepTo(target: number): void {
    if (!this.busy && target > this.position) {
      this.busy = true;
      const generation = this.generation;
      const run = this.work.then(async () => {
        await this.replayTo(target, generation);
        if (generation === this.generation) this.busy = false;
        this.notify();
      });
      this.work = run.catch(() => undefined);
    }
  }

  protected finished(): boolean {
    return !this.busy && this.position >= this.index.duration;
  }

  idleGaps(): IdleGap[] {
    return this.index.activity.idle.filter((g) => g.to - g.from > IDLE_GAP_MS);
  }

  dispose(): void {
    this.stopClock();
    this.stream?.close();
    this.stream = null;
  }
}
