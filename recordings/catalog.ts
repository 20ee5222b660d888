// The recordings index in Redis: one summary per finalised session, sets per filter value and per
// word of typed and shown text, and a time-ordered set. Search intersects sets, so it stays fast
// for thousands of sessions without scanning them. Words are kept only as keyed hashes
// (HMAC-SHA-256): exact-word search works, but Redis, its RDB and its AOF hold nothing of what
// was typed or shown (a password typed at a prompt included); the text is in the store only.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { machineSummarySchema } from '../server/inventory/schema.ts';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { fileKindSchema } from './manifest.ts';
import { tokenize } from './text.ts';

export const FILTER_FIELDS = ['site', 'vendor', 'company', 'machine', 'approver', 'protocol', 'reason', 'request'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export const summarySchema = z.object({
  sessionId: z.string(),
  requestId: z.string(),
  requester: z.object({ id: z.string(), name: z.string(), company: z.string().nullable() }),
  approvers: z.array(z.object({ id: z.string(), name: z.string() })),
  machine: machineSummarySchema,
  siteId: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  endReason: z.string(),
  incomplete: z.array(z.string()),
  files: z.array(z.object({ kind: fileKindSchema, name: z.string(), bytes: z.number() })),
  /** The folder below the store root: the server's business, never shown by the API (presenter.ts). */
  dir: z.string(),
  /** SHA-256 of the manifest as signed, and when: verification cross-checks them (absent on recordings indexed before). */
  manifestSha256: z.string().optional(),
  finalisedAt: z.string().optional(),
});
export type RecordingSummary = z.infer<typeof summarySchema>;

export interface SearchQuery {
  filters: Partial<Record<FilterField, string>>;
  /** Words that must all occur in what was typed or shown. */
  text: string | undefined;
  from: Date | undefined;
  to: Date | undefined;
  /** Only these sites (approvers); undefined: all. */
  sites: readonly string[] | undefined;
  limit: number;
  offset: number;
}

/** Tokens stored per recording at most: enough for any session, bounded for a runaway one. */
const MAX_TOKENS = 20_000;

/**
 * Bytes of each word's HMAC kept (base64url, 22 characters): 128 bits make two words sharing a
 * hash, over any index this size, as unlikely as guessing the key, at a quarter of the memory.
 */
const WORD_HASH_BYTES = 16;

/** Ids read per round trip while walking the whole index (upgrade, the CLI's cross-check). */
const WALK_BATCH = 500;

/** Keyed hashes of search words, so the index can be searched without holding the words. */
export class WordHasher {
  private readonly key: KeyObject;
  /** Which key hashed an index entry (an HMAC of a label no token can be, not the key itself). */
  readonly keyId: string;

  constructor(key: Buffer) {
    if (key.length < 32) throw new Error('the search index key must have at least 256 bits');
    this.key = createSecretKey(key);
    this.keyId = createHmac('sha256', this.key).update('\u0000key-id').digest('hex').slice(0, 16);
  }

  hash(token: string): string {
    return createHmac('sha256', this.key).update(token, 'utf8').digest().subarray(0, WORD_HASH_BYTES).toString('base64url');
  }
}

function filterValues(s: RecordingSummary): Array<[FilterField, string]> {
  return [
    ['site', s.siteId],
    ['vendor', s.requester.id],
    ...(s.requester.company === null ? [] : [['company', s.requester.company] as [FilterField, string]]),
    ['machine', s.machine.id],
    ...s.approvers.map((a) => ['approver', a.id] as [FilterField, string]),
    ['protocol', s.machine.protocol],
    ['reason', s.endReason],
    ['request', s.requestId],
  ];
}

/** Summaries of these ids, in order; ids not (or no longer) indexed are left out. */
async function readSummaries(redis: RedisClient, ids: readonly string[]): Promise<RecordingSummary[]> {
  if (ids.length === 0) return [];
  const multi = redis.multi();
  for (const id of ids) multi.hGet(keys.recordings.record(id), 'summary');
  const replies = (await multi.exec()) as unknown as Array<string | null>;
  return replies.flatMap((json) => (json === null ? [] : [summarySchema.parse(JSON.parse(json))]));
}

/** Every indexed recording, oldest first, in batches (read-only: the CLI's cross-check needs no key). */
export async function* allSummaries(redis: RedisClient): AsyncGenerator<RecordingSummary> {
  for (let offset = 0; ; offset += WALK_BATCH) {
    const ids = await redis.zRange(keys.recordings.byTime, offset, offset + WALK_BATCH - 1);
    yield* await readSummaries(redis, ids);
    if (ids.length < WALK_BATCH) return;
  }
}

export class RecordingCatalog {
  private readonly redis: RedisClient;
  private readonly words: WordHasher;

  /** `wordKey`: the search index's HMAC key (ManifestSigner.searchIndexKey). */
  constructor(redis: RedisClient, wordKey: Buffer) {
    this.redis = redis;
    this.words = new WordHasher(wordKey);
  }

  async add(summary: RecordingSummary, text: string): Promise<void> {
    const tokens = [...tokenize(text, MAX_TOKENS)].map((t) => this.words.hash(t));
    const id = summary.sessionId;
    const multi = this.redis.multi();
    multi.hSet(keys.recordings.record(id), { summary: JSON.stringify(summary), tokens: tokens.join(' '), tokenKey: this.words.keyId });
    multi.zAdd(keys.recordings.byTime, { score: Date.parse(summary.endedAt), value: id });
    for (const [field, value] of filterValues(summary)) multi.sAdd(keys.recordings.filter(field, value), id);
    for (const t of tokens) multi.sAdd(keys.recordings.token(t), id);
    await multi.exec();
  }

  /**
   * Adds words to an indexed recording (what OCR read on a graphical session's screen, after it
   * was indexed): merged with its words, so `remove` still finds every set it is in.
   */
  async addWords(sessionId: string, text: string): Promise<number> {
    const record = await this.redis.hmGet(keys.recordings.record(sessionId), ['summary', 'tokens']);
    if (record[0] === null) return 0; // purged meanwhile
    const had = new Set((record[1] ?? '').split(' ').filter((x) => x !== ''));
    const added = [...tokenize(text)].map((t) => this.words.hash(t)).filter((h) => !had.has(h)).slice(0, Math.max(0, MAX_TOKENS - had.size));
    if (added.length === 0) return 0;
    const multi = this.redis.multi();
    multi.hSet(keys.recordings.record(sessionId), { tokens: [...had, ...added].join(' '), tokenKey: this.words.keyId });
    for (const t of added) multi.sAdd(keys.recordings.token(t), sessionId);
    await multi.exec();
    return added.length;
  }

  async remove(sessionId: string): Promise<void> {
    const record = await this.redis.hGetAll(keys.recordings.record(sessionId));
    const summary = record['summary'] === undefined ? undefined : summarySchema.parse(JSON.parse(record['summary']));
    const multi = this.redis.multi();
    multi.del(keys.recordings.record(sessionId));
    multi.zRem(keys.recordings.byTime, sessionId);
    if (summary !== undefined) for (const [field, value] of filterValues(summary)) multi.sRem(keys.recordings.filter(field, value), sessionId);
    for (const t of (record['tokens'] ?? '').split(' ').filter((x) => x !== '')) multi.sRem(keys.recordings.token(t), sessionId);
    await multi.exec();
  }

  async get(sessionId: string): Promise<RecordingSummary | undefined> {
    const json = await this.redis.hGet(keys.recordings.record(sessionId), 'summary');
    return json === null || json === undefined ? undefined : summarySchema.parse(JSON.parse(json));
  }

  async getMany(ids: readonly string[]): Promise<RecordingSummary[]> {
    return readSummaries(this.redis, ids);
  }

  /**
   * Replaces the plaintext words of entries indexed before words were hashed (no `tokenKey`)
   * by their hashes, and deletes the plaintext sets. Idempotent and safe to run on every start,
   * from any number of instances (each entry is rewritten in one MULTI). Entries hashed under
   * another key (a different signing key) are counted: search cannot find them by words until
   * they are indexed again.
   */
  async upgradeIndex(): Promise<{ rehashed: number; otherKey: number }> {
    let rehashed = 0;
    let otherKey = 0;
    for (let offset = 0; ; offset += WALK_BATCH) {
      const ids = await this.redis.zRange(keys.recordings.byTime, offset, offset + WALK_BATCH - 1);
      const read = this.redis.multi();
      for (const id of ids) read.hmGet(keys.recordings.record(id), ['tokens', 'tokenKey']);
      const replies = ids.length === 0 ? [] : ((await read.exec()) as unknown as Array<[string | null, string | null]>);
      for (const [i, id] of ids.entries()) {
        const [tokens, tokenKey] = replies[i] ?? [null, null];
        if (tokenKey !== null) {
          if (tokenKey !== this.words.keyId) otherKey++;
          continue;
        }
        const plain = (tokens ?? '').split(' ').filter((t) => t !== '');
        const hashed = [...new Set(plain.flatMap((t) => [...tokenize(t)]).map((t) => this.words.hash(t)))];
        const write = this.redis.multi();
        for (const t of plain) write.sRem(keys.recordings.token(t), id);
        for (const h of hashed) write.sAdd(keys.recordings.token(h), id);
        write.hSet(keys.recordings.record(id), { tokens: hashed.join(' '), tokenKey: this.words.keyId });
        await write.exec();
        rehashed++;
      }
      if (ids.length < WALK_BATCH) return { rehashed, otherKey };
    }
  }

  /** Ids of recordings that ended before `before` (retention), oldest first. */
  async endedBefore(before: Date, count: number): Promise<string[]> {
    return this.redis.zRangeByScore(keys.recordings.byTime, '-inf', `(${before.getTime()}`, { LIMIT: { offset: 0, count } });
  }

  async search(q: SearchQuery): Promise<{ recordings: RecordingSummary[]; total: number }> {
    const sets = Object.entries(q.filters)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([field, value]) => keys.recordings.filter(field, String(value)));
    const words = q.text === undefined ? [] : [...tokenize(q.text)].map((w) => this.words.hash(w));
    // A query word that is not a token (e.g. one character) cannot match anything indexed.
    if (q.text !== undefined && q.text.trim() !== '' && words.length === 0) return { recordings: [], total: 0 };
    sets.push(...words.map((w) => keys.recordings.token(w)));
    const min = q.from?.getTime() ?? Number.NEGATIVE_INFINITY;
    const max = q.to?.getTime() ?? Number.POSITIVE_INFINITY;

    let ids: string[];
    if (sets.length === 0) {
      ids = await this.redis.zRangeByScore(keys.recordings.byTime, min === Number.NEGATIVE_INFINITY ? '-inf' : min, max === Number.POSITIVE_INFINITY ? '+inf' : max);
      ids.reverse();
    } else {
      const members = await this.redis.sInter(sets);
      if (members.length === 0) return { recordings: [], total: 0 };
      const scores = await this.redis.zmScore(keys.recordings.byTime, members);
      ids = members
        .map((id, i) => ({ id, score: scores[i] ?? null }))
        .filter((x): x is { id: string; score: number } => x.score !== null && x.score >= min && x.score <= max)
        .sort((a, b) => b.score - a.score)
        .map((x) => x.id);
    }
    if (q.sites !== undefined) {
      // Approvers see their sites only: filter before paging so pages stay full.
      const allowed = new Set(q.sites);
      const summaries = await this.getMany(ids);
      const visible = summaries.filter((s) => allowed.has(s.siteId));
      return { recordings: visible.slice(q.offset, q.offset + q.limit), total: visible.length };
    }
    return { recordings: await this.getMany(ids.slice(q.offset, q.offset + q.limit)), total: ids.length };
  }
}
