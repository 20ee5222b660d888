// Paces connection set-ups per guacd: guacd 1.3 hangs some children when many connections start
// at once, and sets up only a few per second on a small host (LAB.md). Each guacd gets at most
// `maxInFlight` set-ups at a time (from dial to `ready`), started at least `spacingMs` apart;
// the rest wait their turn in order instead of piling up inside guacd. Only guacds that need it
// are paced: guacd ≥ 1.5 (its handshake offers VERSION_1_5_0) did not hang on 360 burst set-ups
// here (LAB.md), so it gets its set-ups at once.
import { setTimeout as delay } from 'node:timers/promises';

interface Lane {
  inFlight: number;
  nextStart: number;
  waiting: Array<() => void>;
}

export class Pacer {
  private readonly spacingMs: number;
  private readonly maxInFlight: number;
  private readonly lanes = new Map<string, Lane>();

  private readonly needsPacing: (guacd: string) => boolean;

  /** `needsPacing(guacd)`: false lets that guacd's set-ups start at once (unknown guacds are paced). */
  constructor(spacingMs: number, maxInFlight: number, needsPacing: (guacd: string) => boolean = () => true) {
    this.spacingMs = spacingMs;
    this.maxInFlight = maxInFlight;
    this.needsPacing = needsPacing;
  }

  private lane(guacd: string): Lane {
    let lane = this.lanes.get(guacd);
    if (lane === undefined) {
      lane = { inFlight: 0, nextStart: 0, waiting: [] };
      this.lanes.set(guacd, lane);
    }
    return lane;
  }

  /** Resolves when the caller may start a set-up on `guacd`; call the returned function once it is over. */
  async slot(guacd: string): Promise<() => void> {
    if (!this.needsPacing(guacd)) return () => undefined;
    const lane = this.lane(guacd);
    if (lane.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => lane.waiting.push(resolve));
    else lane.inFlight++;
    const now = Date.now();
    const at = Math.max(now, lane.nextStart);
    lane.nextStart = at + this.spacingMs;
    if (at > now) await delay(at - now);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = lane.waiting.shift();
      // The slot passes straight to the next in line; otherwise it is freed.
      if (next !== undefined) next();
      else lane.inFlight--;
    };
  }
}
