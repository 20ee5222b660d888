// The file airlock's records: one per file that went into or out of a session (its name, size,
// SHA-256, scan result, decision and delivery), kept in Redis so every instance and screen sees
// the same state; state changes are conditional (two plant managers clicking at once decide once).
import { z } from 'zod';
import type { RedisClient } from '../../server/redis.ts';
import { LuaScript } from '../../server/redis.ts';
import { keys } from '../../server/keys.ts';

/**
 * Into the plant: quarantined → scanning → awaiting_approval | released | blocked (infected) |
 * failed (no verdict: fail closed); awaiting_approval → released | denied; released → delivering
 * → delivered | failed. Out of the plant: receiving → awaiting_approval | released | failed;
 * awaiting_approval → released | denied.
 */
export const FILE_STATES = ['quarantined', 'scanning', 'awaiting_approval', 'released', 'delivering', 'delivered', 'blocked', 'denied', 'failed', 'receiving'] as const;
export type FileState = (typeof FILE_STATES)[number];

const person = z.object({ id: z.string(), name: z.string() });

export const scanResultSchema = z.object({
  result: z.enum(['clean', 'infected', 'error']),
  /** The signature clamd named (infected only). */
  signature: z.string().nullable(),
  /** The stable error code when no verdict came (scanner_unavailable, scanner_timeout, …). */
  error: z.string().nullable(),
  engine: z.literal('clamd'),
  ms: z.number(),
  at: z.string(),
});
export type ScanResult = z.infer<typeof scanResultSchema>;

export const fileRecordSchema = z.object({
  id: z.uuid(),
  sessionId: z.string(),
  requestId: z.string(),
  machineId: z.string(),
  siteId: z.string(),
  protocol: z.string(),
  /** `in`: from the vendor into the plant; `out`: from the machine to the vendor. */
  direction: z.enum(['in', 'out']),
  name: z.string(),
  mimetype: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  state: z.enum(FILE_STATES),
  /** The vendor (in) or, for downloads, the vendor of the session. */
  by: person,
  createdAt: z.string(),
  updatedAt: z.string(),
  scan: scanResultSchema.nullable(),
  /** Who released or denied it; null `by` for an automatic release (site rule). */
  decision: z.object({ by: person.nullable(), at: z.string(), outcome: z.enum(['released', 'denied']), reason: z.string().nullable() }).nullable(),
  deliveredAt: z.string().nullable(),
  /** Why it is blocked or failed: a stable code and words for the vendor. */
  problem: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type FileRecord = z.infer<typeof fileRecordSchema>;

/** Records outlive their session by this much: the manifest has them for good once finalised. */
const RECORD_TTL_SECONDS = 30 * 24 * 3600;

/** Sets the record if its state is one of ARGV[2..]: returns 1, else 0 (someone else moved it on). */
const TRANSITION = new LuaScript(`
local current = redis.call('HGET', KEYS[1], 'state')
for i = 3, #ARGV do
  if current == ARGV[i] then
    local record = cjson.decode(ARGV[1])
    redis.call('HSET', KEYS[1], 'state', record.state, 'json', ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    return 1
  end
end
return 0
`);

export class FileRecords {
  private readonly redis: RedisClient;

  constructor(redis: RedisClient) {
    this.redis = redis;
  }

  async create(record: FileRecord): Promise<void> {
    const key = keys.files.record(record.id);
    await this.redis.multi()
      .hSet(key, { state: record.state, json: JSON.stringify(record) })
      .expire(key, RECORD_TTL_SECONDS)
      .zAdd(keys.files.ofSession(record.sessionId), { score: Date.parse(record.createdAt), value: record.id })
      .expire(keys.files.ofSession(record.sessionId), RECORD_TTL_SECONDS)
      .exec();
  }

  async get(id: string): Promise<FileRecord | undefined> {
    const json = await this.redis.hGet(keys.files.record(id), 'json');
    return json == null ? undefined : fileRecordSchema.parse(JSON.parse(json));
  }

  /** Moves a record on, only from one of `from`: false when it was elsewhere (decided already, say). */
  async transition(next: FileRecord, from: readonly FileState[]): Promise<boolean> {
    const done = await TRANSITION.run(this.redis, { keys: [keys.files.record(next.id)], arguments: [JSON.stringify(next), String(RECORD_TTL_SECONDS), ...from] });
    return done === 1;
  }

  /** Notes a file blocked as infected on its site's list (the plant's file screen), dropping entries older than `keepMs`. */
  async noteBlocked(record: FileRecord, keepMs: number): Promise<void> {
    const key = keys.files.blockedOfSite(record.siteId);
    const at = Date.parse(record.updatedAt);
    await this.redis.multi()
      .zAdd(key, { score: at, value: record.id })
      .zRemRangeByScore(key, '-inf', at - keepMs)
      .pExpire(key, keepMs)
      .exec();
  }

  /** The site's files blocked as infected since `sinceMs`, newest first. */
  async blockedOfSite(siteId: string, sinceMs: number): Promise<FileRecord[]> {
    const ids = await this.redis.zRange(keys.files.blockedOfSite(siteId), '+inf', sinceMs, { BY: 'SCORE', REV: true });
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is FileRecord => r !== undefined);
  }

  async ofSession(sessionId: string): Promise<FileRecord[]> {
    const ids = await this.redis.zRange(keys.files.ofSession(sessionId), 0, -1);
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is FileRecord => r !== undefined);
  }
}
