// Every Redis key name Airlock uses is built here, so the keyspace can be read in one place.
export const KEY_PREFIX = 'airlock:';

export const keys = {
  /** express-session records: airlock:sess:<sid> (connect-redis adds the id). */
  sessionPrefix: `${KEY_PREFIX}sess:`,
  /** Rate-limit counters: airlock:rl:<limiter>:<subject>. */
  rateLimitPrefix: (limiter: string): string => `${KEY_PREFIX}rl:${limiter}:`,
} as const;
