// Playback of one recording with guacamole-common-js 1.5.0: a SessionRecording over a
// StaticHTTPTunnel (which streams the file with fetch, so frames become playable while the rest
// downloads), driven by our own clock.
//
// Why our own clock: SessionRecording 1.5.0 has play/pause/seek/getPosition/getDuration and
// onprogress/onseek/onplay/onpause, but no playback rate. So playback is a timer that computes
// the position the clock has reached (anchor position + elapsed real time × speed) and calls
// seek(position) to it whenever the previous seek has finished; seeking forward replays just the
// frames in between, so 1× looks like play() and 16× simply replays more frames per tick. The
// same clock implements "skip idle": a stretch longer than IDLE_GAP_MS in which nothing was
// drawn is jumped. Idle means "no drawing", not "no frames": guacd's terminal (SSH, Telnet) ends
// a frame every second whether anything changed or not (terminal.c waits 1 s for output, then
// calls guac_client_end_frame regardless), so an idle SSH session is a `sync` a second and the
// gaps between frames never exceed a second. Skip idle used to look at frame gaps and so played
// a 12-minute idle SSH recording at 1×; it now looks at frames that carry instructions.
//
// Why a "safe" end while downloading: 1.5.0 replays a frame from an in-memory Blob that it only
// extends every 256 K characters (BLOCK_SIZE) of received instructions, but it lists the frame as
// soon as its `sync` is parsed. Replaying a listed frame whose bytes are not in that Blob yet
// draws nothing and the frame is lost. onprogress reports the characters parsed at each frame,
// so we only play up to the last frame that ended at least one block (plus the largest
// instruction we expect) before the parse position; once the download completes, everything.
import Guacamole from 'guacamole-common-js';

/**
 * StaticHTTPTunnel 1.5.0 parses each received chunk in a promise chain that never yields while
 * data keeps arriving (a fast link): timers, FileReader and animation frames — everything the
 * replay needs — starve until the download ends (measured: first frame after ~5 s and 23 MB on
 * a 100 MB recording). So our tunnel's connect() does the same work (fetch, UTF8Parser, Parser,
 * the same states and errors) but yields to the event loop after this much parsing.
 */
const PARSE_SLICE_MS = 8;

/** One macrotask turn, without setTimeout's 4 ms clamp. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/**
 * A StaticHTTPTunnel whose download yields to the page between slices of parsing, and waits on
 * `hold()` when it returns a promise (the first frame being drawn: painting it comes first).
 */
function yieldingStaticTunnel(url: string, hold: () => Promise<void> | null): Guacamole.StaticHTTPTunnel {
  const tunnel = new Guacamole.StaticHTTPTunnel(url);
  let abort: AbortController | null = null;
  tunnel.disconnect = () => {
    abort?.abort();
    abort = null;
    tunnel.setState(Guacamole.Tunnel.State.CLOSED);
  };
  tunnel.connect = () => {
    tunnel.disconnect();
    tunnel.setState(Guacamole.Tunnel.State.CONNECTING);
    const parser = new Guacamole.Parser();
    const utf8 = new Guacamole.UTF8Parser();
    parser.oninstruction = (opcode, args) => tunnel.oninstruction?.(opcode, args);
    const mine = new AbortController();
    abort = mine;
    void (async () => {
      try {
        const res = await fetch(url, { credentials: 'same-origin', signal: mine.signal });
        if (!res.ok || res.body === null) {
          tunnel.onerror?.(new Guacamole.Status(Guacamole.Status.Code.fromHTTPCode(res.status), res.statusText));
          tunnel.disconnect();
          return;
        }
        tunnel.size = res.headers.get('Content-Length');
        tunnel.setState(Guacamole.Tunnel.State.OPEN);
        const reader = res.body.getReader();
        let slice = performance.now();
        for (;;) {
          const chunk = await reader.read();
          if (abort !== mine) return;
          if (chunk.done) break;
          parser.receive(utf8.decode(chunk.value));
          if (performance.now() - slice > PARSE_SLICE_MS) {
            await yieldToEventLoop();
            const wait = hold();
            if (wait !== null) await wait;
            slice = performance.now();
          }
        }
        if (abort === mine) tunnel.disconnect();
      } catch (err) {
        if (abort !== mine) return; // aborted by disconnect()
        tunnel.onerror?.(new Guacamole.Status(0x0200, err instanceof Error ? err.message : 'The recording could not be downloaded.'));
        tunnel.disconnect();
      }
    })();
  };
  return tunnel;
}

/** SessionRecording's internal Blob block, in characters (guacamole-common-js 1.5.0). */
const LIBRARY_BLOCK_CHARS = 262_144;
/** Room for the instruction that crossed the block boundary (guacd sends blobs of a few KB). */
const INSTRUCTION_MARGIN_CHARS = 65_536;
/** Clock resolution: how often the position is advanced while playing. */
const TICK_MS = 40;
/** A stretch with nothing drawn longer than this is "idle"; skip-idle jumps over it. */
export const IDLE_GAP_MS = 5_000;
/** With skip-idle, how much of an idle gap is still shown before jumping (so a pause is visible). */
const IDLE_LEAD_MS = 500;
/** Instructions that change nothing on screen: a frame of only these (and its `sync`) is idle. */
const EMPTY_OPCODES = new Set(['nop', 'sync']);

export const SPEEDS = [1, 2, 4, 8, 16] as const;
export type Speed = (typeof SPEEDS)[number];

export interface PlaybackState {
  /** Current position, ms from the first frame. */
  position: number;
  /** Duration parsed so far (the whole duration once `loaded`). */
  duration: number;
  /** The furthest position that may be played now (see "safe end" above). */
  playable: number;
  loaded: boolean;
  playing: boolean;
  /** True once the first frame has been drawn. */
  firstFrame: boolean;
  error: string | null;
  /** Bytes received / total (null when the server sent no length). */
  received: number;
  total: number | null;
  speed: Speed;
  skipIdle: boolean;
}

export class Playback {
  readonly recording: Guacamole.SessionRecording;
  readonly display: Guacamole.Display;
  /** Absolute timestamp (guacd's `sync`, ms since the epoch in guacd 1.3+) of the first frame. */
  firstSync: number | null = null;
  private readonly tunnel: Guacamole.StaticHTTPTunnel;
  /** Relative time and parse position (characters) of every frame parsed so far. */
  private readonly frameTimes: number[] = [];
  private readonly frameEnds: number[] = [];
  /** Relative times of the frames that drew or did something (not just `sync`), ascending. */
  private readonly activeTimes: number[] = [];
  /** Whether an instruction other than sync/nop arrived since the last `sync`. */
  private frameHasContent = false;
  private loaded = false;
  private playing = false;
  private speed: Speed = 1;
  private skipIdle = false;
  private anchorPos = 0;
  private anchorReal = 0;
  private seeking = false;
  private seekGeneration = 0;
  private position = 0;
  private firstFrame = false;
  private error: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private lastNotify = 0;
  private readonly listeners = new Set<() => void>();
  /** Called once, when the first frame is on screen (for the benchmark and tests). */
  onFirstFrame: (() => void) | null = null;
  /** Called when a user-initiated seek has finished (ms taken). */
  onSeeked: ((ms: number) => void) | null = null;

  constructor(url: string, opts: { autoplay: boolean }) {
    this.tunnel = yieldingStaticTunnel(url, () => this.painting);
    this.recording = new Guacamole.SessionRecording(this.tunnel);
    this.display = this.recording.getDisplay();

    // SessionRecording owns the tunnel's handler; wrap it to read the first absolute timestamp
    // and to tell frames that draw from the terminal's empty once-a-second frames.
    const parse = this.tunnel.oninstruction;
    this.tunnel.oninstruction = (opcode, args) => {
      if (opcode === 'sync') {
        if (this.firstSync === null) this.firstSync = Number.parseInt(args[0] ?? '', 10);
        parse?.(opcode, args); // onprogress (below) runs in here and reads frameHasContent
        this.frameHasContent = false;
        return;
      }
      if (!EMPTY_OPCODES.has(opcode)) this.frameHasContent = true;
      parse?.(opcode, args);
    };
    this.recording.onprogress = (duration, parsed) => {
      this.frameTimes.push(duration);
      this.frameEnds.push(parsed);
      // The first frame counts as activity: it is the screen the recording opens on.
      if (this.frameHasContent || this.activeTimes.length === 0) this.activeTimes.push(duration);
      if (!this.firstFrame && this.playable() >= 0 && this.safeFrames() > 0) this.showFirstFrame(opts.autoplay);
      this.notify(false);
    };
    this.recording.onload = () => {
      this.loaded = true;
      if (!this.firstFrame && this.frameTimes.length > 0) this.showFirstFrame(opts.autoplay);
      this.notify(true);
    };
    this.recording.onerror = (message) => {
      this.error = message || 'The recording could not be read.';
      this.notify(true);
    };
    this.recording.connect();
  }

  private started = false;
  /** While the first frame is being drawn, the download waits for it (see the tunnel). */
  private painting: Promise<void> | null = null;

  /** Draws frame 0 as soon as it is safely in the library's buffer, then plays if asked. */
  private showFirstFrame(autoplay: boolean): void {
    if (this.started) return;
    this.started = true;
    let painted = () => {};
    this.painting = new Promise<void>((resolve) => {
      painted = resolve;
    });
    // Never hold the download for long, whatever happens to the first frame.
    const release = setTimeout(() => painted(), 2_000);
    this.recording.seek(0, () => {
      this.display.flush(() => {
        requestAnimationFrame(() => {
          clearTimeout(release);
          this.painting = null;
          painted();
          if (this.disposed) return;
          this.firstFrame = true;
          this.position = this.recording.getPosition();
          this.onFirstFrame?.();
          if (autoplay) this.play();
          this.notify(true);
        });
      });
    });
  }

  /** Frames whose bytes are surely in the library's replay buffer. */
  private safeFrames(): number {
    if (this.loaded) return this.frameTimes.length;
    const last = this.frameEnds[this.frameEnds.length - 1] ?? 0;
    const limit = last - LIBRARY_BLOCK_CHARS - INSTRUCTION_MARGIN_CHARS;
    // Binary search: the number of frames ending at or before `limit`.
    let lo = 0;
    let hi = this.frameEnds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.frameEnds[mid] ?? 0) <= limit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The furthest playable position now; -1 when no frame is playable yet. */
  playable(): number {
    const n = this.safeFrames();
    return n === 0 ? -1 : (this.frameTimes[n - 1] ?? 0);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Listeners are told at most every 100 ms during loading (onprogress fires per frame). */
  private notify(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastNotify < 100) return;
    this.lastNotify = now;
    for (const l of this.listeners) l();
  }

  state(): PlaybackState {
    const size = this.tunnel.size === null ? null : Number(this.tunnel.size);
    return {
      position: this.position,
      duration: this.recording.getDuration(),
      playable: Math.max(0, this.playable()),
      loaded: this.loaded,
      playing: this.playing,
      firstFrame: this.firstFrame,
      error: this.error,
      received: this.frameEnds[this.frameEnds.length - 1] ?? 0,
      total: size !== null && Number.isFinite(size) ? size : null,
      speed: this.speed,
      skipIdle: this.skipIdle,
    };
  }

  getSpeed(): Speed {
    return this.speed;
  }

  setSpeed(speed: Speed): void {
    this.reanchor();
    this.speed = speed;
    this.notify(true);
  }

  setSkipIdle(on: boolean): void {
    this.skipIdle = on;
    this.notify(true);
  }

  play(): void {
    if (this.disposed || this.playing) return;
    const end = this.loaded ? this.recording.getDuration() : this.playable();
    if (this.loaded && this.position >= end) this.position = 0; // replay from the start
    this.playing = true;
    this.anchorPos = this.position;
    this.anchorReal = performance.now();
    this.schedule();
    this.notify(true);
  }

  pause(): void {
    this.reanchor();
    this.playing = false;
    clearTimeout(this.timer);
    this.notify(true);
  }

  /** A user seek (slider, timeline, search hit): cancels any clock seek in flight. */
  seek(ms: number, done?: () => void): void {
    const limit = this.loaded ? this.recording.getDuration() : Math.max(0, this.playable());
    const target = Math.max(0, Math.min(ms, limit));
    this.position = target;
    this.anchorPos = target;
    this.anchorReal = performance.now();
    const generation = ++this.seekGeneration;
    this.seeking = true;
    const t0 = performance.now();
    this.recording.seek(target, () => {
      if (generation !== this.seekGeneration) return; // superseded (the library cancelled it)
      this.seeking = false;
      this.display.flush(() => {
        if (this.disposed) return;
        this.position = this.recording.getPosition();
        this.onSeeked?.(performance.now() - t0);
        done?.();
        this.notify(true);
      });
    });
    this.notify(true);
  }

  private reanchor(): void {
    if (this.playing) {
      this.anchorPos = this.clockPosition();
      this.anchorReal = performance.now();
    }
  }

  private clockPosition(): number {
    return this.anchorPos + (performance.now() - this.anchorReal) * this.speed;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), TICK_MS);
  }

  /** Index of the last active frame at or before `t` (binary search), or -1. */
  private activeAt(t: number): number {
    let lo = 0;
    let hi = this.activeTimes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.activeTimes[mid] ?? 0) <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The idle gap that `t` lies in, if any. */
  private idleGapAt(t: number): { from: number; to: number } | null {
    const i = this.activeAt(t);
    const from = this.activeTimes[i];
    if (from === undefined) return null;
    // Past the last drawing: idle up to the end, once the end is known.
    const to = this.activeTimes[i + 1] ?? (this.loaded ? this.recording.getDuration() : undefined);
    if (to === undefined || to - from <= IDLE_GAP_MS || t >= to) return null;
    return { from, to };
  }

  private tick(): void {
    if (this.disposed || !this.playing) return;
    let target = this.clockPosition();
    if (this.skipIdle) {
      const gap = this.idleGapAt(target);
      if (gap !== null && target > gap.from + IDLE_LEAD_MS) {
        this.anchorPos = gap.to;
        this.anchorReal = performance.now();
        target = gap.to;
      }
    }
    const end = this.loaded ? this.recording.getDuration() : this.playable();
    if (target >= end) {
      target = end;
      // Caught up with the download: hold the clock here until more arrives.
      this.anchorPos = end;
      this.anchorReal = performance.now();
    }
    if (!this.seeking && target > this.position) {
      const generation = ++this.seekGeneration;
      this.seeking = true;
      this.recording.seek(target, () => {
        if (generation !== this.seekGeneration) return;
        this.seeking = false;
        this.position = this.recording.getPosition();
        this.notify(false);
      });
    }
    if (this.loaded && !this.seeking && this.position >= this.recording.getDuration()) {
      this.playing = false;
      this.notify(true);
      return;
    }
    this.schedule();
  }

  /** Time ranges (ms) in which nothing was drawn for longer than IDLE_GAP_MS (the tail once loaded). */
  idleGaps(): Array<{ from: number; to: number }> {
    const out: Array<{ from: number; to: number }> = [];
    const times = this.loaded ? [...this.activeTimes, this.recording.getDuration()] : this.activeTimes;
    for (let i = 1; i < times.length; i++) {
      const a = times[i - 1] ?? 0;
      const b = times[i] ?? 0;
      if (b - a > IDLE_GAP_MS) out.push({ from: a, to: b });
    }
    return out;
  }

  /** The number of frames parsed and of those that drew something (for tests and diagnostics). */
  frameCounts(): { frames: number; active: number } {
    return { frames: this.frameTimes.length, active: this.activeTimes.length };
  }

  getSkipIdle(): boolean {
    return this.skipIdle;
  }

  dispose(): void {
    this.disposed = true;
    this.playing = false;
    clearTimeout(this.timer);
    this.listeners.clear();
    this.recording.onprogress = null;
    this.recording.onload = null;
    this.recording.onerror = null;
    this.recording.pause();
    this.recording.abort();
  }
}
