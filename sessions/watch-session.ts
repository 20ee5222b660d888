// A read-only live view: a plant manager joins a live session through guacd (`select` with the
// session's guacd connection id). It may only watch, it ends when the watched session ends, and
// while it shows the screen the vendor sees who is watching (watchers.ts). A plant observer's
// view counts for the required observer, and their keys and pointer are relayed to the
// session's instance, which lets them through only while they hold the controls (observation.ts).
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { errorMessage } from '../server/errors.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { AirlockUser } from '../server/user.ts';
import { joinSettings, type Display } from './tunnel/settings.ts';
import { BrokeredConnection } from './tunnel/transport.ts';
import { InputPolicy } from './input-policy.ts';
import type { LocalConnection, LocalSessions } from './local.ts';
import type { LiveSessionRecord } from './registry.ts';
import type { SessionWatchers } from './watchers.ts';
import type { SessionObservation } from './observation.ts';
import { mayObserve } from '../server/policies.ts';

export interface WatchSessionDeps {
  log: Logger;
  audit: AuditLog;
  guacds: Readonly<Record<string, { host: string; port: number }>>;
  local: LocalSessions;
  watchers: SessionWatchers;
  observation: SessionObservation;
}

export class WatchSession implements LocalConnection {
  readonly id = randomUUID();
  readonly kind = 'watch';
  readonly guacd: string;
  readonly browserSessionId: string;
  readonly requestId: string;
  readonly userId: string;
  readonly watching: string;
  readonly record = undefined;
  private readonly deps: WatchSessionDeps;
  private readonly watcher: AirlockUser;
  private readonly watched: LiveSessionRecord;
  private conn: BrokeredConnection | undefined;
  /** Set when the view showed the screen: its entry in the watchers list, once written. */
  private shown: Promise<void> | undefined;

  constructor(deps: WatchSessionDeps, watcher: AirlockUser, browserSessionId: string, watched: LiveSessionRecord) {
    this.deps = deps;
    this.guacd = watched.guacd;
    this.browserSessionId = browserSessionId;
    this.watcher = watcher;
    this.watched = watched;
    this.requestId = watched.requestId;
    this.userId = watcher.id;
    this.watching = watched.id;
  }

  end(message: string, status: number): void {
    this.conn?.end(message, status);
  }

  notify(message: string): void {
    this.conn?.notify(message);
  }

  open(ws: WebSocket, display: Display): void {
    const { watched } = this;
    const guacd = this.deps.guacds[watched.guacd];
    if (guacd === undefined) {
      ws.close(1011, 'unknown guacd');
      return;
    }
    const policy = new InputPolicy(watched.policy, true);
    const startedAt = Date.now();
    // Decided once, when the view opens, as the watch ticket was: the watchers entry carries it.
    const observer = mayObserve(this.watcher, watched);
    const by = { id: this.watcher.id, name: this.watcher.name };
    this.conn = new BrokeredConnection(ws, {
      sessionId: this.id,
      selector: { join: watched.guacdConnectionId },
      settings: joinSettings(watched.guacdConnectionId, display),
      guacd,
      log: this.deps.log,
      hooks: {
        onReady: () => {
          void this.audit('session.watch_started', { machine: watched.machine.id, vendor: watched.user.id });
          // The vendor sees who watches: recorded once the view really shows the screen.
          this.shown = this.deps.watchers
            .add(this.id, watched, by, observer)
            .catch((err: unknown) => this.deps.log.warn({ err: { message: errorMessage(err) }, sessionId: watched.id }, 'could not record a live view'));
        },
        onOutput: () => undefined,
        onInput: (instruction) => {
          const allowed = policy.decide(instruction).allow;
          // Never to guacd (the join is read-only): an observer's input goes to the session's own connection.
          if (!allowed && observer) this.deps.observation.relay(watched, by, instruction);
          return allowed;
        },
        onClose: () => {
          this.deps.local.remove(this.id);
          // After the entry is written, or a close racing it would leave a watcher behind.
          if (this.shown !== undefined) void this.shown.then(() => this.deps.watchers.remove(this.id, watched));
          void this.audit('session.watch_ended', { seconds: Math.round((Date.now() - startedAt) / 1000) });
        },
      },
    });
    this.deps.local.add(this);
    this.conn.start(guacd);
  }

  private async audit(action: 'session.watch_started' | 'session.watch_ended', details: Record<string, unknown>): Promise<void> {
    await this.deps.audit
      .append({
      actor: { id: this.watcher.id, name: this.watcher.name },
      action,
      target: { type: 'session', id: this.watched.id },
      outcome: 'ok',
      reason: null,
      details,
      site: this.watched.machine.siteId,
      })
      .catch((err: unknown) => this.deps.log.error({ err: { message: errorMessage(err) }, action }, 'could not audit the live view'));
  }
}
