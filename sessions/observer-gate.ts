// Required observer, for one live session: whether the vendor's input (and a controlling
// observer's) may reach the machine right now. Held input is dropped, never queued. It decides
// from what the observation store last said (who watches as a plant observer, paused, who holds
// the controls) and fails closed: a store it cannot read within OBSERVATION_STALE_MS holds input.
import type { GuacInstruction } from './tunnel/protocol.ts';

/** Someone named in the gate's state: an observer, whoever paused, whoever holds the controls. */
export interface Actor {
  id: string;
  name: string;
}

/** What the observation store says of a session (observation.ts reads it). */
export interface Observation {
  /** Plant observers of the site watching it now, one entry per person. */
  observers: Actor[];
  pausedBy: Actor | null;
  controller: Actor | null;
}

/**
 * `off`: no observer required (and nobody paused or took over); `grace`: required but still in
 * its unobserved grace; `waiting`: held until an observer watches; `unconfirmed`: held because
 * the store cannot say who watches; `observed`: input flows; `paused`: an observer holds the
 * vendor's input; `controlled`: an observer types, the vendor's input is held.
 */
export type ObserverStateName = 'off' | 'grace' | 'waiting' | 'unconfirmed' | 'observed' | 'paused' | 'controlled';

export interface ObserverView {
  required: boolean;
  state: ObserverStateName;
  /** When this state began. */
  since: string;
  observers: Actor[];
  pausedBy: Actor | null;
  controller: Actor | null;
  /** While held for want of an observer: when the session ends if nobody comes. */
  endsAt: string | null;
}

/** One moment of the observation, for the recording's events and the audit log. */
export type ObserverEvent =
  | { event: 'waiting' | 'unconfirmed' | 'grace' }
  | { event: 'joined' | 'left' | 'paused' | 'resumed' | 'control_taken' | 'control_returned'; by: Actor };

/** How often the gate re-reads the store: with the nudges a fast path, this bounds "held within 1 s". */
export const OBSERVATION_POLL_MS = 300;
/** A store answer older than this no longer counts: input is held (fail closed on a Redis hiccup). */
export const OBSERVATION_STALE_MS = 1_000;

/** Instructions that are not input: keep-alives and flow control, and the display size. */
const NOT_INPUT = new Set(['sync', 'nop', 'ack', 'disconnect', 'size']);

/** What the vendor reads on the session screen, by state. */
export const VENDOR_MESSAGES: Record<ObserverStateName, string> = {
  off: '',
  grace: 'This machine requires a plant observer; your input is held if none joins soon.',
  waiting: 'Waiting for a plant observer: your input is held until a plant observer watches this session.',
  unconfirmed: 'Airlock cannot confirm the plant observer right now: your input is held.',
  observed: 'A plant observer is watching: your input reaches the machine.',
  paused: 'The plant observer paused your input.',
  controlled: 'The plant observer has taken the controls: your input is held.',
};

export interface GateOptions {
  required: boolean;
  graceMs: number;
  limitMs: number;
  read(): Promise<Observation>;
  /** Sends an instruction to guacd on the gate's behalf (releases of keys held when input is taken away). */
  inject(instruction: GuacInstruction): void;
  /** The state changed, with the moments that changed it. */
  changed(view: ObserverView, events: ObserverEvent[]): void;
  /** Nobody observed within the limit. */
  limitReached(): void;
}

const VENDOR = '';

export class ObserverGate {
  private readonly opts: GateOptions;
  private startedAt = 0;
  private lastOk = 0;
  private last: Observation = { observers: [], pausedBy: null, controller: null };
  private view: ObserverView;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private stopped = false;
  /** Since when input is held for want of an observer (the limit counts from here). */
  private heldSince: number | undefined;
  /** Keys pressed and not yet released, by who pressed them ('' the vendor): released when their input is taken away. */
  private readonly pressed = new Map<string, Set<string>>();

  constructor(opts: GateOptions) {
    this.opts = opts;
    this.view = { required: opts.required, state: opts.required ? 'waiting' : 'off', since: new Date().toISOString(), observers: [], pausedBy: null, controller: null, endsAt: null };
  }

  /** The session drew its first frame: the grace and the limit count from now. */
  start(): void {
    this.startedAt = Date.now();
    if (this.opts.required) this.heldSince = this.opts.graceMs > 0 ? undefined : this.startedAt;
    this.evaluate(true);
    // Without a required observer, pausing and taking over are extras: nudges carry them, no polling.
    if (!this.opts.required) {
      void this.refresh();
      return;
    }
    const tick = (): void => {
      if (this.stopped) return;
      void this.refresh();
      this.timer = setTimeout(tick, OBSERVATION_POLL_MS);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  get state(): ObserverView {
    return this.view;
  }

  /** Reads the store again now (a nudge: someone joined, left, paused or took over). */
  async refresh(): Promise<void> {
    if (this.reading || this.stopped) {
      this.evaluate(false);
      return;
    }
    this.reading = true;
    try {
      this.last = await this.opts.read();
      this.lastOk = Date.now();
    } catch {
      // Fail closed: the answer goes stale and input is held until the store answers again.
    } finally {
      this.reading = false;
    }
    if (!this.stopped) this.evaluate(false);
  }

  /** The vendor's instruction: may it reach guacd? */
  admitVendor(instruction: GuacInstruction): boolean {
    if (NOT_INPUT.has(instruction[0] ?? '')) return true;
    this.evaluate(false);
    const { state } = this.view;
    const allowed = state === 'off' || state === 'grace' || state === 'observed';
    if (allowed) this.track(VENDOR, instruction);
    return allowed;
  }

  /** A controlling observer's relayed instruction: only the observer holding the controls, while they do. */
  admitObserver(userId: string, instruction: GuacInstruction): boolean {
    if (NOT_INPUT.has(instruction[0] ?? '')) return false;
    this.evaluate(false);
    const allowed = this.view.state === 'controlled' && this.view.controller?.id === userId;
    if (allowed) this.track(userId, instruction);
    return allowed;
  }

  private track(who: string, instruction: GuacInstruction): void {
    if (instruction[0] !== 'key') return;
    const keys = this.pressed.get(who) ?? new Set<string>();
    this.pressed.set(who, keys);
    if (instruction[2] === '1') keys.add(instruction[1] ?? '');
    else keys.delete(instruction[1] ?? '');
  }

  /** Releases the keys of whoever may no longer type, so nothing stays pressed on the machine. */
  private releaseKeys(): void {
    for (const [who, keys] of this.pressed) {
      const mayType = who === VENDOR ? ['off', 'grace', 'observed'].includes(this.view.state) : this.view.state === 'controlled' && this.view.controller?.id === who;
      if (mayType) continue;
      for (const k of keys) this.opts.inject(['key', k, '0']);
      this.pressed.delete(who);
    }
  }

  private derive(now: number): Omit<ObserverView, 'since' | 'endsAt' | 'required'> {
    const fresh = this.lastOk > 0 && (!this.opts.required || now - this.lastOk <= OBSERVATION_STALE_MS);
    const { observers, pausedBy, controller } = fresh ? this.last : { observers: [], pausedBy: null, controller: null };
    const present = (a: Actor | null): Actor | null => (a !== null && observers.some((o) => o.id === a.id) ? a : null);
    const inControl = present(controller);
    const paused = observers.length > 0 ? pausedBy : null;
    if (!this.opts.required) {
      return { state: inControl !== null ? 'controlled' : paused !== null ? 'paused' : 'off', observers, pausedBy: paused, controller: inControl };
    }
    const inGrace = this.startedAt === 0 || now < this.startedAt + this.opts.graceMs;
    if (observers.length === 0) {
      const state: ObserverStateName = inGrace && this.opts.graceMs > 0 ? 'grace' : this.lastOk > 0 && !fresh ? 'unconfirmed' : 'waiting';
      return { state, observers, pausedBy: null, controller: null };
    }
    return { state: inControl !== null ? 'controlled' : paused !== null ? 'paused' : 'observed', observers, pausedBy: paused, controller: inControl };
  }

  private evaluate(force: boolean): void {
    if (this.startedAt === 0) return;
    const now = Date.now();
    const next = this.derive(now);
    const before = this.view;
    const events: ObserverEvent[] = [];
    const ids = (list: Actor[]): Set<string> => new Set(list.map((a) => a.id));
    // Joins and leaves only from answers the store gave: a stale store is "unconfirmed", not "everyone left".
    if (next.state !== 'unconfirmed' && before.state !== 'unconfirmed') {
      const was = ids(before.observers);
      const is = ids(next.observers);
      for (const o of next.observers) if (!was.has(o.id)) events.push({ event: 'joined', by: o });
      for (const o of before.observers) if (!is.has(o.id)) events.push({ event: 'left', by: o });
    }
    if (before.pausedBy?.id !== next.pausedBy?.id) {
      if (before.pausedBy !== null) events.push({ event: 'resumed', by: before.pausedBy });
      if (next.pausedBy !== null) events.push({ event: 'paused', by: next.pausedBy });
    }
    if (before.controller?.id !== next.controller?.id) {
      if (before.controller !== null) events.push({ event: 'control_returned', by: before.controller });
      if (next.controller !== null) events.push({ event: 'control_taken', by: next.controller });
    }
    const stateChanged = next.state !== before.state;
    if ((stateChanged || force) && (next.state === 'waiting' || next.state === 'unconfirmed' || next.state === 'grace')) events.push({ event: next.state });
    const held = next.state === 'waiting' || next.state === 'unconfirmed';
    if (held && this.heldSince === undefined) this.heldSince = now;
    if (!held) this.heldSince = undefined;
    const endsAt = held && this.heldSince !== undefined ? new Date(this.heldSince + this.opts.limitMs).toISOString() : null;
    if (!force && !stateChanged && events.length === 0) {
      this.checkLimit(now);
      return;
    }
    this.view = { required: this.opts.required, ...next, since: stateChanged || force ? new Date(now).toISOString() : before.since, endsAt };
    this.releaseKeys();
    this.opts.changed(this.view, events);
    this.checkLimit(now);
  }

  private checkLimit(now: number): void {
    if (this.heldSince !== undefined && now - this.heldSince >= this.opts.limitMs && !this.stopped) {
      this.stop();
      this.opts.limitReached();
    }
  }
}
