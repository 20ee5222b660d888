// Control across portal instances: a terminate, a revoke or a cancel reaches every instance
// (Redis pub/sub and domain events); the one holding the connection ends it. A live view ends
// with the session it watches, wherever that session ran.
import type { Logger } from 'pino';
import { secondConnection, type RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { notFound } from '../server/errors.ts';
import { mayOverseeSession } from '../server/policies.ts';
import type { AirlockUser } from '../server/user.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { DomainEvent, EventBus, IdentityEvent, SignOutReason } from '../server/events/bus.ts';
import { GUAC_STATUS } from './tunnel/transport.ts';
import type { LocalSessions } from './local.ts';
import type { SessionRegistry } from './registry.ts';
import type { RequestService } from '../server/requests/service.ts';

const SIGNED_OUT_BY_IDP = 'Your organisation ended your sign-in; the session was ended. Sign in again to continue.';
/** What the browser is told, by why the sign-in ended. */
const SIGN_OUT_MESSAGES: Record<SignOutReason, string> = {
  logout: 'You signed out (or your sign-in expired); the session was ended.',
  session_expired: 'You signed out (or your sign-in expired); the session was ended.',
  replaced: 'Someone else signed in on this browser; the session was ended.',
  refresh_refused: SIGNED_OUT_BY_IDP,
  identity_revoked: SIGNED_OUT_BY_IDP,
  backchannel_logout: SIGNED_OUT_BY_IDP,
};

/** "End this session": heard by every instance, acted on by the one holding it. */
type ControlMessage = { type: 'end'; sessionId: string; message: string; reason: string };

export interface ControlDeps {
  log: Logger;
  redis: RedisClient;
  audit: AuditLog;
  events: EventBus;
  registry: SessionRegistry;
  local: LocalSessions;
  requests: RequestService;
}

export class SessionControl {
  private readonly deps: ControlDeps;
  private subscriber: RedisClient | undefined;
  private offEvents: (() => void) | undefined;
  private offIdentity: (() => void) | undefined;

  constructor(deps: ControlDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    // Terminate requests reach every instance; the one holding the session acts.
    this.subscriber = secondConnection(this.deps.redis);
    await this.subscriber.connect();
    await this.subscriber.subscribe(keys.sessions.controlChannel, (message: string) => this.onControl(message));
    this.offEvents = this.deps.events.on((event) => this.onDomainEvent(event));
    this.offIdentity = this.deps.events.onIdentity((event) => this.onIdentityEvent(event));
  }

  stop(): void {
    this.offEvents?.();
    this.offIdentity?.();
    this.subscriber?.destroy();
  }

  /**
   * POST /api/sessions/:id/terminate: ends the session on whichever instance holds it. A
   * terminate alone lets the vendor open the machine again while the grant holds; with
   * `revoke` the grant is revoked too, so nothing can be reopened.
   */
  async terminate(user: AirlockUser, sessionId: string, reason: string | undefined, opts: { revoke?: boolean } = {}): Promise<void> {
    const session = await this.deps.registry.get(sessionId);
    if (session === undefined || !mayOverseeSession(user, session)) throw notFound('unknown_session', 'No such live session.');
    const revoke = opts.revoke === true;
    await this.deps.audit.append({
      actor: { id: user.id, name: user.name },
      action: 'session.terminated',
      target: { type: 'session', id: sessionId },
      outcome: 'ok',
      reason: reason ?? null,
      details: { requestId: session.requestId, machine: session.machine.id, holder: session.instance, revoke },
      site: session.machine.siteId,
    });
    const by = revoke ? `${user.name}, who also revoked your access` : user.name;
    await this.endEverywhere(sessionId, `The session was terminated by ${by}${reason ? `: ${reason}` : '.'}`, revoke ? 'terminated_and_revoked' : 'terminated');
    // The revoke is its own audited transition (grant.revoked), with the same reason.
    if (revoke) await this.deps.requests.revoke(user, session.requestId, reason ?? 'terminated and revoked');
  }

  /** Ends a session on whichever instance holds it (this one included). */
  async endEverywhere(sessionId: string, message: string, reason: string): Promise<void> {
    const control: ControlMessage = { type: 'end', sessionId, message, reason };
    await this.deps.redis.publish(keys.sessions.controlChannel, JSON.stringify(control));
  }

  private onControl(message: string): void {
    let control: ControlMessage;
    try {
      control = JSON.parse(message) as ControlMessage;
    } catch {
      return;
    }
    if (control.type !== 'end' || typeof control.message !== 'string' || typeof control.reason !== 'string') return;
    this.deps.local.get(control.sessionId)?.end(control.message, GUAC_STATUS.SESSION_CLOSED, control.reason);
  }

  /**
   * A sign-out (the user's, an expiry, the IdP's back-channel logout, a refused refresh) ends the
   * user's live sessions and watch views at once; the periodic re-check is the fallback. Only a
   * sign-in replaced in the same browser ends just that browser's connections.
   */
  private onIdentityEvent(event: IdentityEvent): void {
    if (event.type !== 'user.signed_out' || event.reason === 'refreshed') return;
    const message = SIGN_OUT_MESSAGES[event.reason];
    const ended = new Set(event.browserSessionIds);
    for (const c of this.deps.local.all()) {
      if (c.userId !== event.userId) continue;
      if (event.reason === 'replaced' && !ended.has(c.browserSessionId)) continue;
      c.end(message, GUAC_STATUS.SESSION_CLOSED, 'signed_out');
    }
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
