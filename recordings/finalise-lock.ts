// One finaliser per session at a time, across instances: a Redis lock with a short TTL that its
// holder renews while it works and deletes the moment it stops, success or failure, so a crashed
// holder blocks the session for seconds, and a failed one not at all.
import { randomBytes } from 'node:crypto';
import { keys } from '../server/keys.ts';
import { LuaScript, type RedisClient } from '../server/redis.ts';

/** A holder that dies frees the session after at most this long. */
const LOCK_TTL_MS = 30_000;
/** Renewed at a third of the TTL: two missed renewals (a Redis hiccup) still keep it. */
const LOCK_RENEW_MS = Math.floor(LOCK_TTL_MS / 3);

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

/** The lock was lost (expired while this holder stalled): another finaliser may be at work. */
export class FinaliseLockLostError extends Error {
  constructor(sessionId: string) {
    super(`lost the finalise lock of session ${sessionId}`);
    this.name = 'FinaliseLockLostError';
  }
}

export class FinaliseLock {
  private readonly redis: RedisClient;
  private readonly sessionId: string;
  private readonly token: string;
  private readonly timer: NodeJS.Timeout;
  private held = true;

  private constructor(redis: RedisClient, sessionId: string, token: string) {
    this.redis = redis;
    this.sessionId = sessionId;
    this.token = token;
    this.timer = setInterval(() => this.renew(), LOCK_RENEW_MS);
    this.timer.unref();
  }

  /** The lock, or undefined when another finaliser holds it. */
  static async take(redis: RedisClient, sessionId: string): Promise<FinaliseLock | undefined> {
    const token = randomBytes(16).toString('hex');
    const set = await redis.set(keys.recordings.finaliseLock(sessionId), token, { condition: 'NX', expiration: { type: 'PX', value: LOCK_TTL_MS } });
    return set === 'OK' ? new FinaliseLock(redis, sessionId, token) : undefined;
  }

  /** Before each step that others could also do: stop if someone else may be doing it. */
  assertHeld(): void {
    if (!this.held) throw new FinaliseLockLostError(this.sessionId);
  }

  private renew(): void {
    RENEW.run(this.redis, { keys: [keys.recordings.finaliseLock(this.sessionId)], arguments: [this.token, String(LOCK_TTL_MS)] })
      .then((renewed) => {
        if (renewed !== 1) this.held = false;
      })
      .catch(() => {
        // Redis is down: the finaliser's own Redis steps fail too, and the next renewal decides.
      });
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    this.held = false;
    await RELEASE.run(this.redis, { keys: [keys.recordings.finaliseLock(this.sessionId)], arguments: [this.token] });
  }
}
