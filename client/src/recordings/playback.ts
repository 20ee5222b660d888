// Playback of one recording with guacamole-common-js 1.5.0: a SessionRecording over a
// StaticHTTPTunnel (which streams the file with fetch, so frames become playable while the rest
// downloads), driven by our own clock (engine.ts, shared with the keyframe engine in seekable.ts).
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
import { ClockedPlayback, countAtOrBefore, IDLE_GAP_MS, yieldToEventLoop, type IdleGap, type PlaybackState } from './engine.ts';

/**
 * StaticHTTPTunnel 1.5.0 parses each received chunk in a promise chain that never yields while
 * data keeps arriving (a fast link): timers, FileReader and animation frames — everything the
 * replay needs — starve until the download ends (measured: first frame after ~5 s and 23 MB on
 * a 100 MB recording). So our tunnel's connect() does the same work (fetch, UTF8Parser, Parser,
 * the same states and errors) but yields to the event loop after this much parsing.
 */
const PARSE_SLICE_MS = 8;

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
/** Instructions that change nothing on screen: a frame of only these (and its `sync`) is idle. */
const EMPTY_OPCODES = new Set(['nop', 'sync']);

export class Playback extends ClockedPlayback {
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
  private seeking = false;
  private seekGeneration = 0;

  constructor(url: string, opts: { autoplay: boolean }) {
    super();
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
      this.notify();
    };
    this.recording.onerror = (message) => {
      this.error = message || 'The recording could not be read.';
      this.notify();
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
          this.notify();
        });
      });
    });
  }

  /** Frames whose bytes are surely in the library's replay buffer. */
  private safeFrames(): number {
    if (this.loaded) return this.frameTimes.length;
    const last = this.frameEnds[this.frameEnds.length - 1] ?? 0;
    return countAtOrBefore(this.frameEnds, last - LIBRARY_BLOCK_CHARS - INSTRUCTION_MARGIN_CHARS, (end) => end);
  }

  /** The furthest playable position now; -1 when no frame is playable yet. */
  playable(): number {
    const n = this.safeFrames();
    return n === 0 ? -1 : (this.frameTimes[n - 1] ?? 0);
  }

  state(): PlaybackState {
    const size = this.tunnel.size === null ? null : Number(this.tunnel.size);
    return {
      position: this.position,
      duration: this.recording.getDuration(),
      playable: Math.max(0, this.playable()),
      loaded: this.loaded,
      firstFrame: this.firstFrame,
      error: this.error,
      received: this.frameEnds[this.frameEnds.length - 1] ?? 0,
      total: size !== null && Number.isFinite(size) ? size : null,
      ...this.clockState(),
    };
  }

  protected playFrom(): number {
    if (this.loaded && this.position >= this.recording.getDuration()) this.position = 0; // replay from the start
    return this.position;
  }

  /** A user seek (slider, timeline, search hit): cancels any clock seek in flight. */
  seek(ms: number, done?: () => void): void {
    const limit = this.loaded ? this.recording.getDuration() : Math.max(0, this.playable());
    const target = Math.max(0, Math.min(ms, limit));
    this.position = target;
    this.anchor(target);
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
        this.notify();
      });
    });
    this.notify();
  }

  protected idleGapAt(t: number): IdleGap | null {
    const i = countAtOrBefore(this.activeTimes, t, (at) => at) - 1;
    const from = this.activeTimes[i];
    if (from === undefined) return null;
    // Past the last drawing: idle up to the end, once the end is known.
    const to = this.activeTimes[i + 1] ?? (this.loaded ? this.recording.getDuration() : undefined);
    if (to === undefined || to - from <= IDLE_GAP_MS || t >= to) return null;
    return { from, to };
  }

  protected clockEnd(): number {
    return this.loaded ? this.recording.getDuration() : this.playable();
  }

  protected stepTo(target: number): void {
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
  }

  protected finished(): boolean {
    return this.loaded && !this.seeking && this.position >= this.recording.getDuration();
  }

  /** Time ranges (ms) in which nothing was drawn for longer than IDLE_GAP_MS (the tail once loaded). */
  idleGaps(): IdleGap[] {
    const out: IdleGap[] = [];
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

  dispose(): void {
    this.stopClock();
    this.recording.onprogress = null;
    this.recording.onload = null;
    this.recording.onerror = null;
    this.recording.pause();
    this.recording.abort();
  }
}
