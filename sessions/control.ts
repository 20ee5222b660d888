// Control across portal instances: a terminate, a revoke or a cancel reaches every instance
// (Redis pub/sub and domain events); the one holding the connection ends it. A live view ends
// with the session it watches, wherever that session ran.
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { notFound } from '../server/errors.ts';
import { mayOverseeSession } from '../server/policies.ts';
import type { AirlockUser } from '../server/user.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { DomainEvent, EventBus } from '../server/events/bus.ts';
import { GUAC_STATUS } from './tunnel/transport.ts';
import type { LocalSessions } from './local.ts';
import type { SessionRegistry } from './registry.ts';

type ControlMessage = { type: 'terminate'; sessionId: string; by: { id: string; name: string }; reason: string | null };

export interface ControlDeps {
  log: Logger;
  redis: RedisClient;
  audit: AuditLog;
  events: EventBus;
  registry: SessionRegistry;
  local: LocalSessions;
}

export class SessionControl {
  private readonly deps: ControlDeps;
  private subscriber: RedisClient | undefined;
  private offEvents: (() => void) | undefined;

  constructor(deps: ControlDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    // Terminate requests reach every instance; the one holding the session acts.
    this.subscriber = this.deps.redis.duplicate();
    this.subscriber.on('error', () => {
      // The main client logs outages; this one reconnects and resubscribes by itself.
    });
    await this.subscriber.connect();
    await this.subscriber.subscribe(keys.sessions.controlChannel, (message: string) => this.onControl(message));
    this.offEvents = this.deps.events.on((event) => this.onDomainEvent(event));
  }

  stop(): void {
    this.offEvents?.();
    this.subscriber?.destroy();
  }

  /** POST /api/sessions/:id/terminate: ends the session on whichever instance holds it. */
  async terminate(user: AirlockUser, sessionId: string, reason: string | undefined): Promise<void> {
    const session = await this.deps.registry.get(sessionId);
    if (session === undefined || !mayOverseeSession(user, session)) throw notFound('unknown_session', 'No such live session.');
    await this.deps.audit.append({
      actor: { id: user.id, name: user.name },
      action: 'session.terminated',
      target: { type: 'session', id: sessionId },
      outcome: 'ok',
      reason: reason ?? null,
      details: { requestId: session.requestId, machine: session.machine.id, holder: session.instance },
      site: session.machine.siteId,
    });
    const message: ControlMessage = { type: 'terminate', sessionId, by: { id: user.id, name: user.name }, reason: reason ?? null };
    await this.deps.redis.publish(keys.sessions.controlChannel, JSON.stringify(message));
  }

  private onControl(message: string): void {
    let control: ControlMessage;
    try {
      control = JSON.parse(message) as ControlMessage;
    } catch {
      return;
    }
    if (control.type !== 'terminate') return;
    this.deps.local
      .get(control.sessionId)
      ?.end(`The session was terminated by ${control.by.name}${control.reason ? `: ${control.reason}` : '.'}`, GUAC_STATUS.SESSION_CLOSED, 'terminated');
  }

  private onDomainEvent(event: DomainEvent): void {
    const local = this.deps.local.all();
    if (event.type === 'session.ended') {
      // guacd keeps a joined viewer open after the session it watched is gone: end it here.
      for (const c of local) if (c.watching === event.sessionId) c.end('The session you were watching has ended.', GUAC_STATUS.SESSION_CLOSED, 'watched_session_ended');
      return;
    }
    if (event.type !== 'grant.revoked' && event.type !== 'request.cancelled') return;
    for (const c of local) if (c.requestId === event.requestId) c.end('Access to this machine was revoked.', GUAC_STATUS.SESSION_CLOSED, 'revoked');
  }
}
