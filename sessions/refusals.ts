// Refused attempts at the tunnel (a ticket without a grant, a forged upgrade, …) as audit events:
// who, what, why — aggregated by server/audit/aggregated.ts (per source, the user or the address
// when anonymous, action and reason: the first few in a window one by one, then a count). The
// same budget turns a source away at once (429) once it has been refused too often.
import type { Logger } from 'pino';
import { ipKeyGenerator, MemoryStore } from 'express-rate-limit';
import { AggregatedAudit } from '../server/audit/aggregated.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { AirlockUser } from '../server/user.ts';
import type { Metrics } from '../server/metrics.ts';

export class Refusals {
  private readonly perMinute: number;
  private readonly aggregated: AggregatedAudit;
  private readonly budget = new MemoryStore();
  private readonly metrics: Metrics | undefined;

  constructor(deps: { audit: AuditLog; log: Logger; windowMs: number; refusalsPerMinute: number; metrics?: Metrics | undefined }) {
    this.metrics = deps.metrics;
    this.perMinute = deps.refusalsPerMinute;
    this.aggregated = new AggregatedAudit({ audit: deps.audit, log: deps.log, windowMs: deps.windowMs });
    this.budget.init({ windowMs: 60_000 } as Parameters<MemoryStore['init']>[0]); // MemoryStore reads only windowMs
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
    await this.aggregated.record({
      source,
      action,
      reason,
      actor: user === undefined ? null : { id: user.id, name: user.name },
      target: requestId === null ? null : { type: 'request', id: requestId },
      details,
    });
  }

  /** Writes the counts of closed windows (all windows when stopping). */
  flush(all: boolean): Promise<void> {
    return this.aggregated.flush(all);
  }

  async stop(): Promise<void> {
    this.budget.shutdown();
    await this.aggregated.stop();
  }
}
