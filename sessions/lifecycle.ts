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
import type { LiveSessionRecord, SessionRegistry } from './registry.ts';

export interface LifecycleDeps {
  log: Logger;
  audit: AuditLog;
  events: EventBus;
  requests: RequestService;
  registry: SessionRegistry;
  finaliser: Finaliser;
}

export class SessionLifecycle {
  private readonly deps: LifecycleDeps;
  private readonly log: Logger;

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
    await this.publish('session.started', record, user.id);
  }

  /** The connection closed: audit (`session.failed` if it never started), event, then finalise. */
  async ended(end: { sessionId: string; record: LiveSessionRecord | undefined; user: AirlockUser; requestId: string; machine: Machine; reason: string; startedAt: Date }): Promise<void> {
    const { sessionId, record, user, requestId, machine, reason, startedAt } = end;
    try {
      if (record !== undefined) await this.deps.registry.remove(sessionId);
      await this.deps.audit.append({
        actor: { id: user.id, name: user.name },
        action: record === undefined ? 'session.failed' : 'session.ended',
        target: { type: 'session', id: sessionId },
        outcome: 'ok',
        reason,
        details: { requestId, machine: machine.id, seconds: Math.round((Date.now() - startedAt.getTime()) / 1000) },
        site: machine.siteId,
      });
      if (record !== undefined) await this.publish('session.ended', record, user.id, reason);
    } catch (err) {
      this.log.error({ err: { message: errorMessage(err) }, sessionId, reason }, 'could not record the session end');
    }
    try {
      await this.deps.finaliser.finalise(sessionId, { endedAt: new Date(), endReason: reason });
    } catch (err) {
      // The files stay in the spool; the orphan sweep finalises them later.
      this.log.error({ err: { message: errorMessage(err) }, sessionId }, 'finalising the recording failed');
    }
  }

  /** A session whose instance stopped heartbeating (the registry healed it away). */
  async lost(record: LiveSessionRecord): Promise<void> {
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
