// How long a recording is kept and whether a legal hold keeps it longer: its site's retention
// (or the default) and the holds in Redis (by request or machine). The finaliser asks it for the
// retention date it locks uploads until; the purge for what may go.
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import type { InventoryStore } from '../server/inventory/store.ts';

const DAY_MS = 86_400_000;

export class RetentionPolicy {
  private readonly redis: RedisClient;
  private readonly inventory: InventoryStore;
  readonly defaultDays: number;

  constructor(deps: { redis: RedisClient; inventory: InventoryStore; defaultDays: number }) {
    this.redis = deps.redis;
    this.inventory = deps.inventory;
    this.defaultDays = deps.defaultDays;
  }

  /** Each site's retention in days (sites that say nothing keep the default). */
  async daysBySite(): Promise<Map<string, number>> {
    return new Map((await this.inventory.sites()).map((s) => [s.id, s.retentionDays ?? this.defaultDays]));
  }

  /** The session's retention date: its end plus its site's retention. */
  async retainUntil(siteId: string, endedAt: Date): Promise<Date> {
    const days = (await this.daysBySite()).get(siteId) ?? this.defaultDays;
    return new Date(endedAt.getTime() + days * DAY_MS);
  }

  /** A legal hold on the request or the machine keeps the recording past its retention. */
  async held(requestId: string, machineId: string): Promise<boolean> {
    const [byRequest, byMachine] = await Promise.all([this.redis.hExists(keys.recordings.holds('request'), requestId), this.redis.hExists(keys.recordings.holds('machine'), machineId)]);
    return byRequest === 1 || byMachine === 1;
  }
}
