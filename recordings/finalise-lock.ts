// One finaliser per session at a time, across instances: a Redis lock with a short TTL that its
// holder renews while it works and deletes the moment it stops, success or failure, so a crashed
// holder blocks the session for seconds, and a failed one not at all.
import { randomBytes } from 'node:crypto';
import { keys } from '../server/keys.ts';
import { RenewableLock } from '../server/lock.ts';
import type { RedisClient } from '../server/redis.ts';

/** A holder that dies frees the session after at most this long. */
const LOCK_TTL_MS = 30_000;

/** The lock was lost (expired while this holder stalled): another finaliser may be at work. */
export class FinaliseLockLostError extends Error {
  constructor(sessionId: string) {
    super(`lost the finalise lock of session ${sessionId}`);
    this.name = 'FinaliseLockLostError';
  }
}

export class FinaliseLock {
  private readonly lock: RenewableLock;
  private readonly sessionId: string;
  private held = true;

  private constructor(lock: RenewableLock, sessionId: string) {
    this.lock = lock;
    this.sessionId = sessionId;
    this.lock.keepRenewing(() => {
      this.held = false;
    });
  }

  /** The lock, or undefined when another finaliser holds it. */
  static async take(redis: RedisClient, sessionId: string): Promise<FinaliseLock | undefined> {
    const lock = new RenewableLock(redis, keys.recordings.finaliseLock(sessionId), randomBytes(16).toString('hex'), LOCK_TTL_MS);
    return (await lock.take()) ? new FinaliseLock(lock, sessionId) : undefined;
  }

  /** Before each step that others could also do: stop if someone else may be doing it. */
  assertHeld(): void {
    if (!this.held) throw new FinaliseLockLostError(this.sessionId);
  }

  async release(): Promise<void> {
    this.held = false;
    await this.lock.release();
  }
}
