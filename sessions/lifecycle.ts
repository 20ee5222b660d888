// What a session's start and end write down: the registry entry, the request's state, the audit
// events, the domain events the UIs and chat hear, and the hand-over to the finaliser.
import type { Logger } from 'pino';
import { errorMessage } from '../server/errors.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { EventBus } from '../server/events/bus.ts';
import type { RequestService } from '../server/requests/service.ts';
import type { Machine } from '../server/inventory/schema.ts';
import type { AirlockUser } from '../server/user.ts';
import type { Finaliser } from '../recordings/finaliser.ts';
import type { Metrics } from '../server/metrics.ts';
import type { LiveSessionRecord, SessionRegistry } from './registry.ts';

export interface LifecycleDeps {
  log: Logger;
  audit: AuditLog;
  events: EventBus;
  requests: RequestService;
  registry: SessionRegistry;
  finaliser: Finaliser;
  metrics?: Metrics | undefined;
}

export interface SessionEnd {
  sessionId: string;
  record: LiveSessionRecord | undefined;
  user: AirlockUser;
  requestId: string;
  machine: Machine;
  reason: string;
  /** What exactly went wrong, for the plant (e.g. a WebSocket error code). */
  detail?: string | undefined;
  startedAt: Date;
}

/** An end written this much later (after an outage) carries its real time in the details. */
const LATE_MS = 5_000;

export class SessionLifecycle {
  private readonly deps: LifecycleDeps;
  private readonly log: Logger;
  /** Ends not yet fully written (audit, finalise), by session id. */
  private readonly unfinished = new Map<string, { end: SessionEnd; endedAt: Date; audited: boolean }>();
  /** Ends being written now (a draining instance waits for them before it exits). */
  private readonly writing = new Set<Promise<unknown>>();

  constructor(deps: LifecycleDeps) {
    this.deps = deps;
    this.log = deps.log;
  }

  /** guacd is ready: registry, request active, audit, event. Throws when any of it fails (the caller ends the session). */
  async started(record: LiveSessionRecord, user: AirlockUser): Promise<void> {
    await this.deps.registry.add(record);
    await this.deps.requests.markActive(record.requestId, { id: user.id, name: user.name });
    await this.deps.audit.append({
      actor: { id: user.id, name: user.name },
      action: 'session.started',
      target: { type: 'session', id: record.id },
      outcome: 'ok',
      reason: null,
      details: { requestId: record.requestId, machine: record.machine.id, protocol: record.machine.protocol, instance: record.instance },
      site: record.machine.siteId,
    });
    // The registry entry and the audit event are what the session may not run without; a lost
    // announcement is repaired by the UIs' polling.
    await this.publish('session.started', record, user.id).catch((err: unknown) => this.log.warn({ err: { message: errorMessage(err) }, sessionId: record.id }, 'could not announce the session start'));
  }

  /**
   * The connection closed: audit (`session.failed` if it never started), event, then finalise.
   * What fails (the state store down) is kept and retried by the housekeeping round, so a
   * session that ends during an outage still gets its audit event and its recording once the store is back.
   */
  async ended(end: SessionEnd): Promise<void> {
    const endedAt = new Date();
    this.deps.metrics?.sessionEnded(end.reason, end.record !== undefined);
    const audited = await this.auditEnd(end, endedAt).then(
      () => true,
      (err: unknown) => {
        this.log.error({ err: { message: errorMessage(err) }, sessionId: end.sessionId, reason: end.reason }, 'could not record the session end; will retry');
        return false;
      },
    );
    const finalised = await this.finalise(end, endedAt);
    if (!audited || !finalised) this.unfinished.set(end.sessionId, { end, endedAt, audited });
  }

  /** Registers an end being written (the closing connection's `ended` call, and what precedes it). */
  track(writing: Promise<unknown>): void {
    const settled = writing.catch(() => undefined);
    this.writing.add(settled);
    void settled.then(() => this.writing.delete(settled));
  }

  /** Resolves once every end registered so far is written (or has failed and waits for a retry). */
  async settled(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing);
  }

  /** Retries the ends that could not be written (called by the housekeeping round). */
  async retryUnfinished(): Promise<void> {
    for (const [sessionId, u] of this.unfinished) {
      if (!u.audited) {
        try {
          await this.auditEnd(u.end, u.endedAt);
          u.audited = true;
        } catch {
          return; // the store is still down: try again next round
        }
      }
      if (await this.finalise(u.end, u.endedAt)) this.unfinished.delete(sessionId);
    }
  }

  /** A session whose end is still being written here: not an orphan for the sweep. */
  isUnfinished(sessionId: string): boolean {
    return this.unfinished.has(sessionId);
  }

  private async finalise(end: SessionEnd, endedAt: Date): Promise<boolean> {
    try {
      this.deps.metrics?.finalised(await this.deps.finaliser.finalise(end.sessionId, { endedAt, endReason: end.reason }), endedAt);
      return true;
    } catch (err) {
      this.deps.metrics?.finaliseFailures.inc();
      this.log.error({ err: { message: errorMessage(err) }, sessionId: end.sessionId }, 'finalising the recording failed; will retry');
      return false;
    }
  }

  private async auditEnd(end: SessionEnd, endedAt: Date): Promise<void> {
    const { sessionId, record, user, requestId, machine, reason, startedAt } = end;
    if (record !== undefined) await this.deps.registry.remove(sessionId);
    await this.deps.audit.append({
      actor: { id: user.id, name: user.name },
      action: record === undefined ? 'session.failed' : 'session.ended',
      target: { type: 'session', id: sessionId },
      outcome: 'ok',
      reason,
      details: {
        requestId,
        machine: machine.id,
        seconds: Math.round((endedAt.getTime() - startedAt.getTime()) / 1000),
        ...(end.detail === undefined ? {} : { detail: end.detail }),
        ...(Date.now() - endedAt.getTime() > LATE_MS ? { endedAt: endedAt.toISOString() } : {}),
      },
      site: machine.siteId,
    });
    // The audit event is written; a lost notification is repaired by the UIs' polling.
    if (record !== undefined) {
      await this.publish('session.ended', record, user.id, reason).catch((err: unknown) => this.log.warn({ err: { message: errorMessage(err) }, sessionId }, 'could not announce the session end'));
    }
  }

  /** A session whose instance stopped heartbeating (the registry healed it away). */
  async lost(record: LiveSessionRecord): Promise<void> {
    this.deps.metrics?.sessionEnded('instance_lost', true);
    await this.deps.audit.append({
      actor: null,
      action: 'session.lost',
      target: { type: 'session', id: record.id },
      outcome: 'ok',
      reason: 'instance_lost',
      details: { instance: record.instance, requestId: record.requestId, machine: record.machine.id },
      site: record.machine.siteId,
    });
    await this.publish('session.ended', record, record.user.id, 'instance_lost');
  }

  /** The window ends in `minutes`: the vendor's screen and chat warn. */
  async endingSoon(requestId: string, machine: Machine, user: AirlockUser, sessionId: string, minutes: number): Promise<void> {
    await this.deps.events.publish({
      type: 'grant.ending_soon',
      requestId,
      state: 'active',
      siteId: machine.siteId,
      requesterId: user.id,
      actorId: null,
      at: new Date().toISOString(),
      sessionId,
      minutesLeft: minutes,
    });
  }

  private async publish(type: 'session.started' | 'session.ended', record: LiveSessionRecord, userId: string, reason?: string): Promise<void> {
    await this.deps.events.publish({
      type,
      requestId: record.requestId,
      state: type === 'session.started' ? 'active' : 'ended',
      siteId: record.machine.siteId,
      requesterId: userId,
      actorId: userId,
      at: new Date().toISOString(),
      sessionId: record.id,
      ...(reason === undefined ? {} : { reason }),
    });
  }
}
