// Domain events (request created, decided, expired, cancelled, grant revoked, …) published on
// Redis so that every portal instance, and the chat integrations and live UI on it, hear them.
// Local listeners hear an event when it comes back from Redis: one path for all instances.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { secondConnection, type RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { errorMessage } from '../errors.ts';

export const DOMAIN_EVENT_TYPES = [
  'request.created',
  'request.approval_added',
  'request.decided',
  'request.cancelled',
  'request.expired',
  'request.ended',
  'request.activated',
  'grant.revoked',
  /** The broker's: a session opened or closed on a grant, and a grant nearing its end. */
  'session.started',
  'session.ended',
  /** Someone started or stopped watching a live session (sessions/watchers.ts). */
  'session.watchers_changed',
  /** A required-observer session's gate changed (waiting, observed, paused, controlled): `reason` names the state. */
  'session.observer_changed',
  'grant.ending_soon',
  /** The file airlock's (sessions/files): a file of a session changed state (`state` is the file's). */
  'session.file',
  /** The finaliser's: a session's recording is signed and indexed (reason "incomplete" if so). */
  'recording.ready',
] as const;
export type DomainEventType = (typeof DOMAIN_EVENT_TYPES)[number];

export interface DomainEvent {
  type: DomainEventType;
  requestId: string;
  state: string;
  siteId: string;
  requesterId: string;
  /** Who caused it; null for the system (expiry, window end). */
  actorId: string | null;
  at: string;
  /** For session.* events: the brokered session. */
  sessionId?: string;
  /** For session.ended: the broker's end reason (disconnected, window_ended, revoked, terminated, recording_stalled, instance_lost, …). */
  reason?: string;
  /** For grant.ending_soon: minutes left. */
  minutesLeft?: number;
  /** For session.file: the file (sessions/files/records.ts). */
  fileId?: string;
}

export type DomainEventListener = (event: DomainEvent) => void;

/**
 * Events about a person rather than a request: a sign-in ended, or the IdP changed who the user
 * is. They travel on the same channel as DomainEvent but reach only `onIdentity` listeners, so
 * the request-centric listeners (SSE, chat cards, the broker's grant handling) never see them.
 */
export const IDENTITY_EVENT_TYPES = [
  /** Sign-ins ended: the user's live sessions and watch views opened from them must end. */
  'user.signed_out',
  /** A re-validation with the IdP changed roles, sites or company (the sign-ins stay). */
  'user.identity_changed',
] as const;
export type IdentityEventType = (typeof IDENTITY_EVENT_TYPES)[number];

/** Why sign-ins ended (user.signed_out) or changed (user.identity_changed: `refreshed`). */
export const SIGN_OUT_REASONS = [
  /** POST /auth/logout. */
  'logout',
  /** The browser session reached its absolute lifetime (AIRLOCK_SESSION_TTL_SECONDS). */
  'session_expired',
  /** The IdP refused the refresh token (account disabled, IdP session ended, grant revoked). */
  'refresh_refused',
  /** The IdP still knows the user but its claims no longer make an Airlock user (no role, no company, another subject). */
  'identity_revoked',
  /** The IdP's back-channel logout token (OpenID Connect Back-Channel Logout 1.0). */
  'backchannel_logout',
  /** Someone else signed in on the same browser. */
  'replaced',
] as const;
export type SignOutReason = (typeof SIGN_OUT_REASONS)[number];

export interface IdentityEvent {
  type: IdentityEventType;
  /** The Airlock user (`<provider>:<sub>`). */
  userId: string;
  /** The browser sessions concerned (tickets are bound to them); for user.signed_out, the ones that ended. */
  browserSessionIds: string[];
  /** For user.signed_out: why; for user.identity_changed: `refreshed`. */
  reason: SignOutReason | 'refreshed';
  /** The user's other sign-ins still open after this event (0: the user is signed out everywhere). */
  remainingSignIns: number;
  at: string;
}

export type IdentityEventListener = (event: IdentityEvent) => void;

function isIdentityEvent(v: unknown): v is IdentityEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e['type'] === 'string' &&
    (IDENTITY_EVENT_TYPES as readonly string[]).includes(e['type']) &&
    typeof e['userId'] === 'string' &&
    Array.isArray(e['browserSessionIds']) &&
    (e['browserSessionIds'] as unknown[]).every((id) => typeof id === 'string')
  );
}

function isDomainEvent(v: unknown): v is DomainEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e['type'] === 'string' && (DOMAIN_EVENT_TYPES as readonly string[]).includes(e['type']) && typeof e['requestId'] === 'string';
}

export class EventBus {
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly emitter = new EventEmitter();
  private readonly log: Logger;

  private constructor(publisher: RedisClient, subscriber: RedisClient, log: Logger) {
    this.publisher = publisher;
    this.subscriber = subscriber;
    this.log = log;
    // Each SSE stream and integration adds one listener; the default cap of 10 is too low.
    this.emitter.setMaxListeners(0);
  }

  static async start(redis: RedisClient, log: Logger): Promise<EventBus> {
    const subscriber = secondConnection(redis);
    await subscriber.connect();
    const bus = new EventBus(redis, subscriber, log);
    await subscriber.subscribe(keys.eventsChannel, (message: string) => bus.dispatch(message));
    return bus;
  }

  private dispatch(message: string): void {
    let event: unknown;
    try {
      event = JSON.parse(message);
    } catch {
      this.log.warn('ignored a malformed domain event');
      return;
    }
    if (isDomainEvent(event)) this.emitter.emit('event', event);
    else if (isIdentityEvent(event)) this.emitter.emit('identity', event);
  }

  /** Best effort: the audit log, not the bus, is the record. A lost event costs a UI refresh. */
  async publish(event: DomainEvent): Promise<void> {
    try {
      await this.publisher.publish(keys.eventsChannel, JSON.stringify(event));
    } catch (err) {
      this.log.warn({ err: { message: errorMessage(err) }, type: event.type }, 'domain event not published');
    }
  }

  on(listener: DomainEventListener): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /**
   * Best effort like `publish`: every instance also notices a sign-in that ended because its
   * identity record is gone (the session cookie stops working at once, on every instance).
   */
  async publishIdentity(event: IdentityEvent): Promise<void> {
    try {
      await this.publisher.publish(keys.eventsChannel, JSON.stringify(event));
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, type: event.type }, 'identity event not published');
    }
  }

  /** Hears every instance's identity events (the broker ends a signed-out user's connections). */
  onIdentity(listener: IdentityEventListener): () => void {
    this.emitter.on('identity', listener);
    return () => this.emitter.off('identity', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    this.subscriber.destroy();
  }
}
