// Every Redis key name Airlock uses is built here, so the keyspace can be read in one place.
export const KEY_PREFIX = 'airlock:';

export const keys = {
  /** express-session records: airlock:sess:<sid> (connect-redis adds the id). */
  sessionPrefix: `${KEY_PREFIX}sess:`,
  /** Rate-limit counters: airlock:rl:<limiter>:<subject>. */
  rateLimitPrefix: (limiter: string): string => `${KEY_PREFIX}rl:${limiter}:`,

  audit: {
    /** The append-only, hash-chained audit stream. */
    stream: `${KEY_PREFIX}audit`,
    /** Hash of the newest event: detects deletion of the tail. */
    head: `${KEY_PREFIX}audit:head`,
    /** Sequence counter: every event's position, so gaps show. */
    seq: `${KEY_PREFIX}audit:seq`,
  },

  /** Domain events across instances (pub/sub channel). */
  eventsChannel: `${KEY_PREFIX}events`,
} as const;
