// Refused attempts as audit events, aggregated so that a flood can neither fill Redis nor drown
// the log: per source (a user, an address, a chat workspace), action and reason, the first few in
// a window are audited one by one, the rest as one event with their count when the window closes.
// The tunnel's refusals (sessions/refusals.ts), failed sign-ins, back-channel logout refusals and
// forged or refused chat callbacks all go through it.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { AuditLog } from './store.ts';

/** Individually audited per source, action and reason in a window: honest retries stay fully visible. */
export const AUDITED_PER_WINDOW = 5;
/** Sources tracked at once; beyond this, new sources share one bucket per action and reason (bounded memory). */
const MAX_TRACKED = 10_000;
/** Closed windows are looked for at most this often (and at least once per window). */
const FLUSH_INTERVAL_MS = 5_000;

export interface RefusedAttempt {
  /** Whom the refusal is counted against: `user:<id>`, `ip:<address>`, `chat:<platform>:<workspace>`. */
  source: string;
  /** Dotted verb of what was refused, e.g. `auth.sign_in`, `chat.callback_refused`. */
  action: string;
  /** A stable code of a bounded set: each reason gets its own window. */
  reason: string;
  actor: { id: string; name: string } | null;
  target: { type: string; id: string } | null;
  details?: Record<string, unknown>;
}

interface Bucket {
  opened: number;
  counted: number;
  /** The first refusal of the window: the aggregate event names its actor, target and source. */
  sample: { actor: RefusedAttempt['actor']; action: string; reason: string; target: RefusedAttempt['target']; source: string };
}

export class AggregatedAudit {
  readonly windowMs: number;
  private readonly audit: AuditLog;
  private readonly log: Logger;
  private readonly buckets = new Map<string, Bucket>();
  private readonly timer: NodeJS.Timeout;

  constructor(deps: { audit: AuditLog; log: Logger; windowMs: number }) {
    this.audit = deps.audit;
    this.log = deps.log;
    this.windowMs = deps.windowMs;
    this.timer = setInterval(() => void this.flush(false), Math.min(this.windowMs, FLUSH_INTERVAL_MS));
    this.timer.unref();
  }

  /** Audits a refusal, or counts it into its window's aggregate once the window has had its few. */
  async record(attempt: RefusedAttempt): Promise<void> {
    const { source, action, reason } = attempt;
    const now = Date.now();
    let key = `${source}|${action}|${reason}`;
    if (!this.buckets.has(key) && this.buckets.size >= MAX_TRACKED) key = `overflow|${action}|${reason}`;
    let bucket = this.buckets.get(key);
    if (bucket !== undefined && now - bucket.opened >= this.windowMs) {
      this.buckets.delete(key);
      await this.close(bucket);
      bucket = undefined;
    }
    if (bucket === undefined) {
      bucket = { opened: now, counted: 0, sample: { actor: attempt.actor, action, reason, target: attempt.target, source: key.startsWith('overflow|') ? 'many' : source } };
      this.buckets.set(key, bucket);
    }
    bucket.counted++;
    if (bucket.counted > AUDITED_PER_WINDOW) return;
    await this.audit.append({
      actor: bucket.sample.actor,
      action,
      target: attempt.target,
      outcome: 'refused',
      reason,
      details: attempt.details ?? {},
      site: null,
    });
  }

  /**
   * For callers on a refusal path: the refusal is answered whatever becomes of its audit event
   * (a state store that is down is the likeliest cause, and its own alarms say so).
   */
  recordQuietly(attempt: RefusedAttempt): void {
    this.record(attempt).catch((err: unknown) => this.log.warn({ err: { message: errorMessage(err) }, action: attempt.action, reason: attempt.reason }, 'could not audit a refused attempt'));
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
      target: sample.target,
      outcome: 'refused',
      reason: sample.reason,
      details: { aggregated: more, source: sample.source, windowStart: new Date(bucket.opened).toISOString(), windowMs: this.windowMs },
      site: null,
    });
  }
}
