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

  identity: {
    /**
     * One sign-in (browser session id → JSON IdentityRecord: the user as last validated, when,
     * the sealed refresh token); lives exactly as long as the browser session (auth/identity-store.ts).
     */
    record: (browserSessionId: string): string => `${KEY_PREFIX}idn:s:${browserSessionId}`,
    /** Set of the browser session ids of one Airlock user. */
    ofUser: (userId: string): string => `${KEY_PREFIX}idn:user:${userId}`,
    /** Set of the browser session ids signed in through one IdP session (`sid`, hashed). */
    ofIdpSession: (providerId: string, sidHash: string): string => `${KEY_PREFIX}idn:sid:${providerId}:${sidHash}`,
    /** Sorted set of sign-ins (JSON [browserSessionId, userId]) by the end of their browser session. */
    expiries: `${KEY_PREFIX}idn:expiries`,
    /** Held while one instance refreshes a sign-in with the IdP (refresh tokens may rotate). */
    refreshLock: (browserSessionId: string): string => `${KEY_PREFIX}idn:lock:${browserSessionId}`,
    /** Back-channel logout tokens already used (jti, hashed): a replay is refused. */
    logoutJti: (providerId: string, jtiHash: string): string => `${KEY_PREFIX}idn:jti:${providerId}:${jtiHash}`,
  },

  /** Sealed machine credentials: hash machine id → AES-256-GCM blob (vault.ts). */
  vault: `${KEY_PREFIX}vault`,

  inventory: {
    /** Hashes id → JSON record. */
    sites: `${KEY_PREFIX}inv:sites`,
    companies: `${KEY_PREFIX}inv:companies`,
    machines: `${KEY_PREFIX}inv:machines`,
    /** Hash `<kind>:<id>` → the record's version, bumped by every write (If-Match / ETag). Kept after a delete, so a re-created record never reuses a version. */
    versions: `${KEY_PREFIX}inv:versions`,
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
    /** Pending request ids scored by when they expire undecided (window end, or the on-approval deadline): what the expiry sweep looks at. */
    pending: `${KEY_PREFIX}reqs:pending`,
    /** Approved or active request ids scored by grant end: what the end-of-window sweep looks at. */
    grants: `${KEY_PREFIX}reqs:grants`,
  },

  chat: {
    /** Chat user → linked Airlock user: hash linkId (`platform:workspace:chatUser`) → JSON ChatLink. */
    links: `${KEY_PREFIX}chat:links`,
    /** Set of the link ids of one Airlock user. */
    linksOfUser: (userId: string): string => `${KEY_PREFIX}chat:links:user:${userId}`,
    /** An Airlock user's roles and sites as last seen in the portal (JSON ChatProfile). */
    profile: (userId: string): string => `${KEY_PREFIX}chat:profile:${userId}`,
    /**
     * Entra object id (the `oid` a sign-in carried) → Airlock user id: Teams names clickers by the
     * same id (`aadObjectId`), so they are linked without a code. Lapses with the profile.
     */
    profileByEntraId: (objectId: string): string => `${KEY_PREFIX}chat:profile:entra:${objectId}`,
    /** Lower-cased email → Airlock user id, for admin-enabled email matching. */
    profileByEmail: (email: string): string => `${KEY_PREFIX}chat:profile:email:${email}`,
    /** One-time link code → the chat identity it was sent to (TTL). */
    linkCode: (code: string): string => `${KEY_PREFIX}chat:code:${code}`,
    /** Hash copyId → JSON CopyRef: every posted copy of a request's or a session's message. */
    copies: (subject: string): string => `${KEY_PREFIX}chat:copies:${subject}`,
    /** The nonce a button must carry now for a message scope (decide:<request>, session:<id>, extend:<request>). */
    nonce: (scope: string): string => `${KEY_PREFIX}chat:nonce:${scope}`,
    /** Callbacks already handled (digest, TTL): a replay is answered without acting twice. */
    seenCallback: (platform: string, digest: string): string => `${KEY_PREFIX}chat:seen:${platform}:${digest}`,
    /** Domain events one instance has claimed to fan out, so N instances post once. */
    eventClaim: (digest: string): string => `${KEY_PREFIX}chat:claim:${digest}`,
  },

  sessions: {
    /** One-time tickets, by SHA-256 of the ticket (a dump of Redis holds no usable ticket). */
    ticket: (ticketHash: string): string => `${KEY_PREFIX}ticket:${ticketHash}`,
    /** Live sessions: hash session id → JSON (no secrets). */
    live: `${KEY_PREFIX}sessions:live`,
    /** Who watches a live session: hash watch id → JSON {userId, name, since, instance}; dropped with the session. */
    watchers: (sessionId: string): string => `${KEY_PREFIX}sessions:watchers:${sessionId}`,
    /** Heartbeat of a portal instance; its sessions are swept when it expires. */
    instance: (instanceId: string): string => `${KEY_PREFIX}instance:${instanceId}`,
    /** Terminate requests to whichever instance holds the session (pub/sub channel). */
    controlChannel: `${KEY_PREFIX}sessions:control`,
    /** Required observer: hash `paused`/`controller` → JSON {id, name, at}, as observers set them; dropped with the session. */
    observerControl: (sessionId: string): string => `${KEY_PREFIX}sessions:observer:${sessionId}`,
    /** The observer gate's state of a live session (JSON), for the live list and the watch screen; dropped with the session. */
    observerState: (sessionId: string): string => `${KEY_PREFIX}sessions:observer-state:${sessionId}`,
    /** "Look again at the observer control of this session" (pub/sub, every instance; the gates also poll). */
    observerChannel: `${KEY_PREFIX}sessions:observer`,
    /** An observer's relayed input, to the instance holding the session (pub/sub, one channel per instance). */
    observerInput: (instanceId: string): string => `${KEY_PREFIX}sessions:observer-input:${instanceId}`,
  },

  recordings: {
    /** Hash of one finalised recording's index entry. */
    record: (sessionId: string): string => `${KEY_PREFIX}rec:${sessionId}`,
    /** All recordings scored by end time (ms). */
    byTime: `${KEY_PREFIX}recs:time`,
    /** Sets of recording ids per filter value (site, vendor, company, machine, approver, protocol, reason, request). */
    filter: (field: string, value: string): string => `${KEY_PREFIX}recs:f:${field}:${value}`,
    /** Sets of recording ids per search word, by its keyed hash (catalog.ts): no text of what was typed or shown. */
    token: (token: string): string => `${KEY_PREFIX}recs:t:${token}`,
    /** Legal holds: a hash per kind, id → JSON {by, at, reason}. */
    holds: (kind: 'request' | 'machine'): string => `${KEY_PREFIX}holds:${kind}`,
    /** One finaliser per session at a time (finalise-lock.ts: a short TTL, renewed while it works). */
    finaliseLock: (sessionId: string): string => `${KEY_PREFIX}rec:lock:${sessionId}`,
    /** Held by the one instance running the retention purge. */
    purgeLock: `${KEY_PREFIX}recs:purge-lock`,
    /** Finalised recordings waiting for the renderer worker (session ids, oldest on the right). */
    renderQueue: `${KEY_PREFIX}recs:render:queue`,
    /** Session ids a worker has taken and not finished (put back in the queue when a worker starts). */
    renderActive: `${KEY_PREFIX}recs:render:active`,
    /** Video export jobs waiting for a worker (job ids, oldest on the right), and those taken. */
    exportQueue: `${KEY_PREFIX}recs:export:queue`,
    exportActive: `${KEY_PREFIX}recs:export:active`,
    /** One export job's state (JSON, with a TTL: export.ts). */
    exportJob: (jobId: string): string => `${KEY_PREFIX}recs:export:job:${jobId}`,
  },

  files: {
    /** One file through the airlock (sessions/files): hash {state, json}; expires a while after its session. */
    record: (fileId: string): string => `${KEY_PREFIX}file:${fileId}`,
    /** Sorted set of a session's file ids by when they arrived. */
    ofSession: (sessionId: string): string => `${KEY_PREFIX}files:session:${sessionId}`,
    /** Sorted set of a site's files blocked as infected, by when: the plant's file screen lists the recent ones. */
    blockedOfSite: (siteId: string): string => `${KEY_PREFIX}files:blocked:${siteId}`,
  },

  siem: {
    /** Stream id of the last audit entry handed to the syslog receiver: forwarding resumes after it. */
    cursor: `${KEY_PREFIX}siem:cursor`,
    /** The one instance forwarding now (value: its instance id, TTL renewed while it forwards). */
    lock: `${KEY_PREFIX}siem:lock`,
  },

  /** Domain events across instances (pub/sub channel). */
  eventsChannel: `${KEY_PREFIX}events`,
} as const;
