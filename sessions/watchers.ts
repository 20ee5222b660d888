// Who is watching a live session, across instances: a Redis hash per session (watch id → who,
// since when, on which instance), written as a live view starts and ends, dropped with the
// session, and healed of the views of instances that died. Each change is announced as the
// domain event `session.watchers_changed`, so the vendor's screen shows it at once.
import { z } from 'zod';
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import type { EventBus } from '../server/events/bus.ts';
import { keys } from '../server/keys.ts';
import { errorMessage } from '../server/errors.ts';
import type { LiveSessionRecord, WatcherView } from './registry.ts';

/** `observer`: the watcher counts as the session's plant observer (policies.mayObserve at the view's start). */
const watcherSchema = z.object({ userId: z.string(), name: z.string(), since: z.string(), instance: z.string(), observer: z.boolean().optional() });
type WatcherRecord = z.infer<typeof watcherSchema>;


export interface WatchersDeps {
  redis: RedisClient;
  events: EventBus;
  instanceId: string;
  log: Logger;
}

export class SessionWatchers {
  private readonly deps: WatchersDeps;

  constructor(deps: WatchersDeps) {
    this.deps = deps;
  }

  /** A live view of `session` by `user` is showing (guacd joined). */
  async add(watchId: string, session: LiveSessionRecord, user: { id: string; name: string }, observer = false): Promise<void> {
    const record: WatcherRecord = { userId: user.id, name: user.name, since: new Date().toISOString(), instance: this.deps.instanceId, ...(observer ? { observer } : {}) };
    await this.deps.redis.hSet(keys.sessions.watchers(session.id), watchId, JSON.stringify(record));
    await this.announce(session);
  }

  /** The live view closed. Best effort: a lost removal is healed when the session or the instance ends. */
  async remove(watchId: string, session: LiveSessionRecord): Promise<void> {
    try {
      if ((await this.deps.redis.hDel(keys.sessions.watchers(session.id), watchId)) === 1) await this.announce(session);
    } catch (err) {
      this.deps.log.warn({ err: { message: errorMessage(err) }, sessionId: session.id }, 'could not record the end of a live view');
    }
  }

  /** The people watching each of these sessions, in one round trip; earliest first. */
  async of(sessionIds: readonly string[]): Promise<Map<string, WatcherView[]>> {
    const out = new Map<string, WatcherView[]>();
    if (sessionIds.length === 0) return out;
    const multi = this.deps.redis.multi();
    for (const id of sessionIds) multi.hGetAll(keys.sessions.watchers(id));
    const replies = (await multi.execAsPipeline()) as unknown as Array<Record<string, string>>;
    sessionIds.forEach((id, i) => out.set(id, people(parseAll(replies[i] ?? {}))));
    return out;
  }

  /** Drops the views held by instances whose heartbeat lapsed; returns how many. */
  async heal(sessions: readonly LiveSessionRecord[]): Promise<number> {
    let dropped = 0;
    const alive = new Map<string, boolean>();
    for (const session of sessions) {
      const entries = await this.deps.redis.hGetAll(keys.sessions.watchers(session.id));
      const dead: string[] = [];
      for (const [watchId, json] of Object.entries(entries)) {
        const w = parseOne(json);
        if (w === undefined) {
          dead.push(watchId);
          continue;
        }
        if (!alive.has(w.instance)) alive.set(w.instance, (await this.deps.redis.exists(keys.sessions.instance(w.instance))) === 1);
        if (alive.get(w.instance) === false) dead.push(watchId);
      }
      if (dead.length === 0) continue;
      dropped += await this.deps.redis.hDel(keys.sessions.watchers(session.id), dead);
      await this.announce(session);
    }
    return dropped;
  }

  private async announce(session: LiveSessionRecord): Promise<void> {
    await this.deps.events.publish({
      type: 'session.watchers_changed',
      requestId: session.requestId,
      state: 'active',
      siteId: session.machine.siteId,
      requesterId: session.user.id,
      actorId: null,
      at: new Date().toISOString(),
      sessionId: session.id,
    });
  }
}

function parseOne(json: string): WatcherRecord | undefined {
  try {
    const parsed = watcherSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The plant observers among a session's watchers (hGetAll of its watchers hash): one entry per person, earliest first. */
export function observersIn(entries: Record<string, string>): Array<{ id: string; name: string }> {
  return people(parseAll(entries).filter((w) => w.observer === true)).map(({ id, name }) => ({ id, name }));
}

function parseAll(entries: Record<string, string>): WatcherRecord[] {
  return Object.values(entries).flatMap((json) => parseOne(json) ?? []);
}

/** One entry per person (two tabs are one watcher), since their first view. */
function people(records: readonly WatcherRecord[]): WatcherView[] {
  const byUser = new Map<string, WatcherView>();
  for (const r of records) {
    const seen = byUser.get(r.userId);
    if (seen === undefined || r.since < seen.since) byUser.set(r.userId, { id: r.userId, name: r.name, since: r.since, ...(r.observer === true || seen?.observer === true ? { observer: true } : {}) });
    else if (r.observer === true) seen.observer = true;
  }
  return [...byUser.values()].sort((a, b) => a.since.localeCompare(b.since));
}
