// Domain events (request created, decided, expired, cancelled, grant revoked, …) published on
// Redis so that every portal instance, and the chat integrations and live UI on it, hear them.
// Local listeners hear an event when it comes back from Redis: one path for all instances.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { RedisClient } from '../redis.ts';
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
  'grant.ending_soon',
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
}

export type DomainEventListener = (event: DomainEvent) => void;

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
    const subscriber = redis.duplicate();
    subscriber.on('error', () => {
      // The main client logs the outage; the subscriber reconnects and resubscribes by itself.
    });
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

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    this.subscriber.destroy();
  }
}
