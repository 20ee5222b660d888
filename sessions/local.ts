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

export class LocalSessions {
  private readonly byId = new Map<string, LocalConnection>();
  private emptied: Array<() => void> = [];

  add(connection: LocalConnection): void {
    this.byId.set(connection.id, connection);
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

  /** Owners' sessions that are not in the registry yet (still setting up). */
  settingUp(): LocalConnection[] {
    return this.all().filter((c) => c.kind === 'session' && c.record === undefined);
  }
}
