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

  /** Sealed machine credentials: hash machine id → AES-256-GCM blob (vault.ts). */
  vault: `${KEY_PREFIX}vault`,

  inventory: {
    /** Hashes id → JSON record. */
    sites: `${KEY_PREFIX}inv:sites`,
    companies: `${KEY_PREFIX}inv:companies`,
    machines: `${KEY_PREFIX}inv:machines`,
    /** Set once the inventory file has been imported: later starts keep the admins' edits. */
    seeded: `${KEY_PREFIX}inv:seeded`,
  },

  requests: {
    /** Hash of one access request. */
    request: (id: string): string => `${KEY_PREFIX}req:${id}`,
    /** List of the request's approvals (JSON), in order. */
    approvals: (id: string): string => `${KEY_PREFIX}req:${id}:approvals`,
    /** Sorted sets of request ids by creation time. */
    all: `${KEY_PREFIX}reqs:all`,
    byUser: (userId: string): string => `${KEY_PREFIX}reqs:user:${userId}`,
    bySite: (siteId: string): string => `${KEY_PREFIX}reqs:site:${siteId}`,
    /** Pending request ids scored by window start: what the expiry sweep looks at. */
    pending: `${KEY_PREFIX}reqs:pending`,
    /** Approved or active request ids scored by grant end: what the end-of-window sweep looks at. */
    grants: `${KEY_PREFIX}reqs:grants`,
  },

  /** Domain events across instances (pub/sub channel). */
  eventsChannel: `${KEY_PREFIX}events`,
} as const;
