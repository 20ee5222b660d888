// A renewable Redis lock: SET NX PX under a token of its holder's, renewed while it works and
// released the moment it stops, both only while the key still holds that token (a holder that
// stalled past the TTL can never extend or free its successor's lock).
import { LuaScript, type RedisClient } from './redis.ts';

// KEYS: lock. ARGV: token, ttl. Extends the lock only if we still hold it.
const RENEW = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

// KEYS: lock. ARGV: token. Deletes the lock only if it is still ours.
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`);

export class RenewableLock {
  readonly key: string;
  readonly token: string;
  readonly ttlMs: number;
  private readonly redis: RedisClient;
  private timer: NodeJS.Timeout | undefined;

  constructor(redis: RedisClient, key: string, token: string, ttlMs: number) {
    this.redis = redis;
    this.key = key;
    this.token = token;
    this.ttlMs = ttlMs;
  }

  /** SET NX PX: true when this holder took it. */
  async take(): Promise<boolean> {
    return (await this.redis.set(this.key, this.token, { condition: 'NX', expiration: { type: 'PX', value: this.ttlMs } })) === 'OK';
  }

  /** Extends the TTL; false when the lock is no longer ours (expired, or another holder's). */
  async renew(): Promise<boolean> {
    return (await RENEW.run(this.redis, { keys: [this.key], arguments: [this.token, String(this.ttlMs)] })) === 1;
  }

  /**
   * Renews at a third of the TTL (two missed renewals, a Redis hiccup, still keep it) until
   * `stopRenewing`; `onLost` when a renewal finds it gone. A renewal Redis refuses is left to the
   * holder's own Redis steps, which fail too.
   */
  keepRenewing(onLost: () => void): void {
    this.stopRenewing();
    this.timer = setInterval(() => {
      this.renew()
        .then((renewed) => {
          if (!renewed) onLost();
        })
        .catch(() => undefined);
    }, Math.floor(this.ttlMs / 3));
    this.timer.unref();
  }

  stopRenewing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops renewing and deletes the lock if it is still ours. */
  async release(): Promise<void> {
    this.stopRenewing();
    await RELEASE.run(this.redis, { keys: [this.key], arguments: [this.token] });
  }
}
