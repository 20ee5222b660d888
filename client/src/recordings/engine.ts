// What the two playback engines share (playback.ts replays the file as it downloads,
// seekable.ts seeks by keyframes): the state they report, their listeners, and the clock that
// plays at a speed and skips idle stretches. Each engine says how far the clock may run, where
// the idle gaps are, and how it moves its display to the position the clock has reached.

export const SPEEDS = [1, 2, 4, 8, 16] as const;
export type Speed = (typeof SPEEDS)[number];

/** A stretch with nothing drawn longer than this is "idle"; skip-idle jumps over it. */
export const IDLE_GAP_MS = 5_000;

export interface PlaybackState {
  /** Current position, ms from the first frame. */
  position: number;
  /** Duration parsed so far (the whole duration once `loaded`). */
  duration: number;
  /** The furthest position that may be played now (see "safe end" in playback.ts). */
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

export interface IdleGap {
  from: number;
  to: number;
}

/** One macrotask turn, without setTimeout's 4 ms clamp. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** How many of the ascending `items` have a key at or before `limit` (binary search). */
export function countAtOrBefore<T>(items: readonly T[], limit: number, key: (item: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const item = items[mid];
    if (item !== undefined && key(item) <= limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Clock resolution: how often the position is advanced while playing. */
const TICK_MS = 40;
/** With skip-idle, how much of an idle gap is still shown before jumping (so a pause is visible). */
const IDLE_LEAD_MS = 500;
/** Non-forced notifications (per parsed frame while loading) reach listeners at most this often. */
const NOTIFY_THROTTLE_MS = 100;

export abstract class ClockedPlayback {
  protected position = 0;
  protected playing = false;
  protected firstFrame = false;
  protected error: string | null = null;
  protected disposed = false;
  private speed: Speed = 1;
  private skipIdle = false;
  /** The clock: the position it had at `anchorReal` (performance.now()), running at `speed`. */
  private anchorPos = 0;
  private anchorReal = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastNotify = 0;
  private readonly listeners = new Set<() => void>();
  /** Called once, when the first frame is on screen (for the benchmark and tests). */
  onFirstFrame: (() => void) | null = null;
  /** Called when a user-initiated seek has finished (ms taken). */
  onSeeked: ((ms: number) => void) | null = null;

  abstract state(): PlaybackState;
  abstract seek(ms: number, done?: () => void): void;
  /** Time ranges (ms) in which nothing was drawn for longer than IDLE_GAP_MS. */
  abstract idleGaps(): IdleGap[];
  /** The idle gap that `t` lies in, if any. */
  protected abstract idleGapAt(t: number): IdleGap | null;
  /** The furthest position the clock may reach now. */
  protected abstract clockEnd(): number;
  /** Where play() starts: the position, or the start again once at the end. */
  protected abstract playFrom(): number;
  /** Moves the display towards `target` unless a step is still in flight. */
  protected abstract stepTo(target: number): void;
  /** Whether playing has reached the end of the recording (the clock stops). */
  protected abstract finished(): boolean;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Unforced calls are throttled (see NOTIFY_THROTTLE_MS). */
  protected notify(force = true): void {
    const now = performance.now();
    if (!force && now - this.lastNotify < NOTIFY_THROTTLE_MS) return;
    this.lastNotify = now;
    for (const l of this.listeners) l();
  }

  /** The part of state() the clock owns. */
  protected clockState(): Pick<PlaybackState, 'playing' | 'speed' | 'skipIdle'> {
    return { playing: this.playing, speed: this.speed, skipIdle: this.skipIdle };
  }

  getSpeed(): Speed {
    return this.speed;
  }

  setSpeed(speed: Speed): void {
    this.reanchor();
    this.speed = speed;
    this.notify();
  }

  getSkipIdle(): boolean {
    return this.skipIdle;
  }

  setSkipIdle(on: boolean): void {
    this.skipIdle = on;
    this.notify();
  }

  play(): void {
    if (this.disposed || this.playing) return;
    const from = this.playFrom();
    this.playing = true;
    this.anchor(from);
    this.schedule();
    this.notify();
  }

  pause(): void {
    this.reanchor();
    this.playing = false;
    clearTimeout(this.timer);
    this.notify();
  }

  /** Sets the clock to `position` now (a seek moves it; playing continues from there). */
  protected anchor(position: number, at = performance.now()): void {
    this.anchorPos = position;
    this.anchorReal = at;
  }

  /** Stops the clock and drops the listeners for good. */
  protected stopClock(): void {
    this.disposed = true;
    this.playing = false;
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  private reanchor(): void {
    if (this.playing) this.anchor(this.clockPosition());
  }

  private clockPosition(): number {
    return this.anchorPos + (performance.now() - this.anchorReal) * this.speed;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    if (this.disposed || !this.playing) return;
    let target = this.clockPosition();
    if (this.skipIdle) {
      const gap = this.idleGapAt(target);
      if (gap !== null && target > gap.from + IDLE_LEAD_MS) {
        this.anchor(gap.to);
        target = gap.to;
      }
    }
    const end = this.clockEnd();
    if (target >= end) {
      target = end;
      // Caught up with the end (or with the download): hold the clock here until more arrives.
      this.anchor(end);
    }
    this.stepTo(target);
    if (this.finished()) {
      this.playing = false;
      this.notify();
      return;
    }
    this.schedule();
  }
}
