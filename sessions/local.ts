// The connections this portal instance holds right now: owners' sessions and live views. Control
// messages, domain events and the window timers find their connection here.
import type { LiveSessionRecord } from './registry.ts';

/** What every local connection (LiveSession, WatchSession) offers to control. */
export interface LocalConnection {
  readonly id: string;
  /** An owner's session, or a live view of one. */
  readonly kind: 'session' | 'watch';
  /** The guacd it runs on (caps count per guacd). */
  readonly guacd: string;
  /** The express-session of the browser it belongs to: when that is gone (sign-out, expiry), so is the connection. */
  readonly browserSessionId: string;
  /** The grant (request) the session runs under; for a live view, the watched session's. */
  readonly requestId: string;
  readonly userId: string;
  /** For a live view: the session it watches (which may live on another instance). */
  readonly watching: string | undefined;
  /** Owners, once guacd said `ready`: what the registry holds. */
  readonly record: LiveSessionRecord | undefined;
  /** Ends the connection with a message for the browser; the first reason given is kept. */
  end(message: string, status: number, reason: string): void;
  /** Tells the browser something (e.g. a restart is coming) without ending anything. */
  notify(message: string): void;
}

/** What the caps count of a session that is being set up. */
export type SessionSlot = Pick<LocalConnection, 'id' | 'requestId' | 'userId' | 'guacd'>;

/**
 * How long a slot reserved at the cap check waits for its connection. The connection is
 * created in the same turn of the event loop when the upgrade goes through; a slot outlives
 * that only when the browser went away mid-handshake, and then must not hold the cap for long.
 */
const SLOT_TTL_MS = 10_000;

export class LocalSessions {
  private readonly byId = new Map<string, LocalConnection>();
  private readonly slots = new Map<string, { slot: SessionSlot; timer: NodeJS.Timeout }>();
  private emptied: Array<() => void> = [];

  add(connection: LocalConnection): void {
    this.byId.set(connection.id, connection);
    this.release(connection.id);
  }

  /**
   * Holds a session's place from the cap check until its connection exists (add), so that
   * upgrades checked at the same moment count each other: the check awaits Redis, and without
   * the slot every upgrade in flight would see the same, still empty, instance.
   */
  reserve(slot: SessionSlot): void {
    this.release(slot.id);
    const timer = setTimeout(() => this.slots.delete(slot.id), SLOT_TTL_MS);
    timer.unref();
    this.slots.set(slot.id, { slot, timer });
  }

  /** Gives a reserved slot back (the upgrade failed after the check, or its connection took it over). */
  release(id: string): void {
    const held = this.slots.get(id);
    if (held === undefined) return;
    clearTimeout(held.timer);
    this.slots.delete(id);
  }

  remove(id: string): void {
    this.byId.delete(id);
    if (this.byId.size === 0) {
      for (const resolve of this.emptied) resolve();
      this.emptied = [];
    }
  }

  /** Resolves once this instance holds no connection (at once if it holds none). */
  whenEmpty(): Promise<void> {
    if (this.byId.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptied.push(resolve));
  }

  get(id: string): LocalConnection | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  all(): LocalConnection[] {
    return [...this.byId.values()];
  }

  /** Owners' sessions that are not in the registry yet (still setting up), reserved slots included. */
  settingUp(): SessionSlot[] {
    return [...this.all().filter((c) => c.kind === 'session' && c.record === undefined), ...[...this.slots.values()].map((s) => s.slot)];
  }

  /** Owners' sessions here, live or setting up, reserved slots included (the per-instance cap). */
  sessionCount(): number {
    return this.all().filter((c) => c.kind === 'session').length + this.slots.size;
  }
}
