// The Redis failures the portal answers as "the store is unavailable" that node-redis has no
// class for: a Sentinel client with no master, a command past its deadline, and a write that
// no replica confirmed (WAIT) and so might not survive a failover.

/** Redis cannot be used right now (no master, no answer in time); the outcome of the call is unknown. */
export class RedisUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
  }
}

/**
 * A write reached the master, but fewer replicas than required confirmed it within the WAIT
 * timeout: a failover now could lose it. The caller must not treat it as done (fail closed).
 */
export class RedisNotDurableError extends Error {
  readonly acknowledged: number;
  readonly required: number;
  constructor(acknowledged: number, required: number) {
    super(`write confirmed by ${acknowledged} of the ${required} replica(s) required`);
    this.name = 'RedisNotDurableError';
    this.acknowledged = acknowledged;
    this.required = required;
  }
}
