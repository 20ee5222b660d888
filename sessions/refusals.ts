// Refused attempts (a ticket without a grant, a forged upgrade, …) as audit events: who, what,
// why — aggregated, so that a flood cannot fill Redis or drown the log: per source (the user, or
// the address when anonymous), action and reason, the first few in a window are audited one by
// one, the rest as one event with their count when the window closes. The same budget turns a
// source away at once (429) once it has been refused too often.
import type { Logger } from 'pino';
import { ipKeyGenerator, MemoryStore } from 'express-rate-limit';
import { errorMessage } from '../server/errors.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { AirlockUser } from '../server/user.ts';
import type { Metrics } from '../server/metrics.ts';

/** Individually audited per source, action and reason in a window: a vendor's honest retries stay fully visible. */
const AUDITED_PER_WINDOW = 5;
/** Sources tracked at once; beyond this, new sources share one bucket per action and reason (bounded memory). */
const MAX_TRACKED = 10_000;

interface Bucket {
  opened: number;
  counted: number;
  sample: { actor: { id: string; name: string } | null; action: string; reason: string; requestId: string | null; source: string };
}

export class Refusals {
  private readonly audit: AuditLog;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly perMinute: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly budget = new MemoryStore();
  private readonly timer: NodeJS.Timeout;
  private readonly metrics: Metrics | undefined;

  constructor(deps: { audit: AuditLog; log: Logger; windowMs: number; refusalsPerMinute: number; metrics?: Metrics | undefined }) {
    this.metrics = deps.metrics;
    this.audit = deps.audit;
    this.log = deps.log;
    this.windowMs = deps.windowMs;
    this.perMinute = deps.refusalsPerMinute;
    this.budget.init({ windowMs: 60_000 } as Parameters<MemoryStore['init']>[0]); // MemoryStore reads only windowMs
    this.timer = setInterval(() => void this.flush(false), Math.min(this.windowMs, 5_000));
    this.timer.unref();
  }

  /** The source a refusal is counted against: the signed-in user, else the client address (IPv6 by /56, as express-rate-limit). */
  static source(user: AirlockUser | undefined, ip: string | null): string {
    return user !== undefined ? `user:${user.id}` : `ip:${ip === null ? 'unknown' : ipKeyGenerator(ip)}`;
  }

  /** True when the source was refused more often than the budget allows this minute. */
  async overBudget(source: string): Promise<boolean> {
    return ((await this.budget.get(source))?.totalHits ?? 0) >= this.perMinute;
  }

  /** Audits a refusal (or counts it into its window's aggregate) and charges the source's budget. */
  async record(user: AirlockUser | undefined, action: string, requestId: string | null, reason: string, details: Record<string, unknown> = {}, source = Refusals.source(user, null)): Promise<void> {
    this.metrics?.refusals.inc({ action, reason });
    await this.budget.increment(source);
    const now = Date.now();
    let key = `${source}|${action}|${reason}`;
    if (!this.buckets.has(key) && this.buckets.size >= MAX_TRACKED) key = `overflow|${action}|${reason}`;
    let bucket = this.buckets.get(key);
    if (bucket !== undefined && now - bucket.opened >= this.windowMs) {
      await this.close(bucket);
      bucket = undefined;
    }
    if (bucket === undefined) {
      bucket = { opened: now, counted: 0, sample: { actor: user === undefined ? null : { id: user.id, name: user.name }, action, reason, requestId, source: key.startsWith('overflow|') ? 'many' : source } };
      this.buckets.set(key, bucket);
    }
    bucket.counted++;
    if (bucket.counted > AUDITED_PER_WINDOW) return;
    await this.audit.append({
      actor: bucket.sample.actor,
      action,
      target: requestId === null ? null : { type: 'request', id: requestId },
      outcome: 'refused',
      reason,
      details,
      site: null,
    });
  }

  /** Writes the counts of closed windows (all windows when stopping). */
  async flush(all: boolean): Promise<void> {
    const now = Date.now();
    for (const [key, bucket] of this.buckets) {
      if (!all && now - bucket.opened < this.windowMs) continue;
      this.buckets.delete(key);
      await this.close(bucket).catch((err: unknown) => this.log.warn({ err: { message: errorMessage(err) } }, 'could not audit aggregated refusals'));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.budget.shutdown();
    await this.flush(true);
  }

  /** One event for the refusals beyond the individually audited ones. */
  private async close(bucket: Bucket): Promise<void> {
    const more = bucket.counted - AUDITED_PER_WINDOW;
    if (more <= 0) return;
    const { sample } = bucket;
    await this.audit.append({
      actor: sample.actor,
      action: sample.action,
      target: sample.requestId === null ? null : { type: 'request', id: sample.requestId },
      outcome: 'refused',
      reason: sample.reason,
      details: { aggregated: more, source: sample.source, windowStart: new Date(bucket.opened).toISOString(), windowMs: this.windowMs },
      site: null,
    });
  }
}
