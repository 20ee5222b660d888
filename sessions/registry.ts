// The live-session registry in Redis: who is connected to what, on which portal instance, since
// when. No secrets (the guacd connection id, the key to join, never leaves the server). Each
// instance keeps a heartbeat; sessions of an instance whose heartbeat lapsed are swept.
import { z } from 'zod';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { machineSummarySchema, policySchema } from '../server/inventory/schema.ts';
import type { ObserverView } from './observer-gate.ts';


/** An instance is presumed dead this long after its last heartbeat. */
export const INSTANCE_TTL_SECONDS = 10;
/** Heartbeats come well inside the TTL. */
export const HEARTBEAT_INTERVAL_MS = 3_000;

export const liveSessionSchema = z.object({
  id: z.string(),
  requestId: z.string(),
  machine: machineSummarySchema,
  user: z.object({ id: z.string(), name: z.string(), company: z.string().nullable() }),
  instance: z.string(),
  startedAt: z.string(),
  endsAt: z.string(),
  policy: policySchema,
  /** Server-only: which guacd and which of its connections, for read-only joins. */
  guacd: z.string(),
  guacdConnectionId: z.string(),
});
export type LiveSessionRecord = z.infer<typeof liveSessionSchema>;

/** A person watching a live session (sessions/watchers.ts keeps them): one entry per person. */
export interface WatcherView {
  id: string;
  name: string;
  since: string;
  /** Present when the watcher counts as the session's plant observer (required observer). */
  observer?: boolean;
}

/** What the API shows: the record without its server-only fields, who is watching it and its observer gate (null: none known). */
export function presentLiveSession(
  s: LiveSessionRecord,
  watchers: readonly WatcherView[] = [],
  observer: ObserverView | null = null,
): Omit<LiveSessionRecord, 'guacd' | 'guacdConnectionId'> & { watchers: WatcherView[]; observer: ObserverView | null } {
  const { guacd: _g, guacdConnectionId: _c, ...visible } = s;
  return { ...visible, watchers: [...watchers], observer };
}

export class SessionRegistry {
  private readonly redis: RedisClient;
  private readonly instanceId: string;

  constructor(redis: RedisClient, instanceId: string) {
    this.redis = redis;
    this.instanceId = instanceId;
  }

  async heartbeat(): Promise<void> {
    await this.redis.set(keys.sessions.instance(this.instanceId), new Date().toISOString(), { EX: INSTANCE_TTL_SECONDS });
  }

  async add(session: LiveSessionRecord): Promise<void> {
    await this.redis.hSet(keys.sessions.live, session.id, JSON.stringify(session));
  }

  /** Removes the entry and who was watching it; true for the caller that removed it. */
  async remove(sessionId: string): Promise<boolean> {
    const [removed] = (await this.redis
      .multi()
      .hDel(keys.sessions.live, sessionId)
      .del([keys.sessions.watchers(sessionId), keys.sessions.observerControl(sessionId), keys.sessions.observerState(sessionId)])
      .exec()) as unknown as [number, number];
    return removed === 1;
  }

  async get(sessionId: string): Promise<LiveSessionRecord | undefined> {
    const json = await this.redis.hGet(keys.sessions.live, sessionId);
    if (json === null || json === undefined) return undefined;
    const parsed = liveSessionSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  }

  async all(): Promise<LiveSessionRecord[]> {
    const out: LiveSessionRecord[] = [];
    for (const json of Object.values(await this.redis.hGetAll(keys.sessions.live))) {
      const parsed = liveSessionSchema.safeParse(JSON.parse(json));
      if (parsed.success) out.push(parsed.data);
    }
    return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  /** Removes the sessions of instances that stopped heartbeating; returns what was removed. */
  async heal(): Promise<LiveSessionRecord[]> {
    const sessions = await this.all();
    const instances = [...new Set(sessions.map((s) => s.instance))];
    if (instances.length === 0) return [];
    const alive = await Promise.all(instances.map((i) => this.redis.exists(keys.sessions.instance(i))));
    const dead = new Set(instances.filter((_, i) => alive[i] === 0));
    const removed: LiveSessionRecord[] = [];
    for (const s of sessions) {
      // HDEL's answer decides who reports it when several instances heal at once.
      if (dead.has(s.instance) && (await this.remove(s.id))) removed.push(s);
    }
    return removed;
  }
}
