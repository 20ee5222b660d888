// The append-only, hash-chained audit log in a Redis Stream: appending (one atomic Lua step),
// querying newest first, verifying the chain, and exporting it as re-verifiable JSON lines.
//
// Each stream entry holds `seq`, `prev` (the previous entry's hash), `hash` and `event` (the
// event JSON, hashed byte for byte); hash = SHA-256(prev "\n" seq "\n" event). The head key holds
// the newest hash, so a deleted tail shows too.
import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { keys } from '../keys.ts';
import type { RedisClient } from '../redis.ts';
import { APPEND_SCRIPT, AUDIT_KEYS, GENESIS_HASH } from './lua.ts';
import { DEFAULT_QUERY_LIMIT, storedEventSchema, type AuditEvent, type AuditEventInput, type AuditFilters, type StoredEvent } from './schema.ts';

/**
 * Largest event JSON we append. It holds a request's 2,000-character reason even in a
 * multi-byte script. The hash runs in Lua inside Redis and blocks every other client meanwhile
 * (measured 65–105 µs per 64-byte block): the cap bounds that to about 13 ms.
 */
export const MAX_EVENT_BYTES = 8 * 1024;

/** Entries per XRANGE while verifying or exporting: few round trips, bounded memory. */
const WALK_BATCH = 1_000;

/** Entries per XREVRANGE while a filtered query looks for matches. */
const QUERY_SCAN_BATCH = 1_000;

/**
 * Most entries one query examines. Bounds a request's work on a large log when the filters
 * match little (10,000 entries take about 0.2 s to read and parse); the caller continues from
 * `nextBefore`, so such a page may hold fewer than `limit` events.
 */
export const MAX_SCANNED_PER_QUERY = 10_000;

/**
 * `at` is when the event is recorded. A caller may pass the `now` it also wrote into its state
 * change, so both carry the same instant, but no other time: queries rely on `at` being close
 * to the stream id's time. Five minutes covers a slow request between reading the clock and EVAL.
 */
export const MAX_AT_DRIFT_MS = 5 * 60 * 1000;

/**
 * Stream ids carry Redis's clock, `at` the portal's. from/to narrow the scan by stream id with
 * this much slack either side and then filter on `at` exactly; an hour is far beyond the drift
 * above plus any NTP-synced skew, and still turns a day's query over a year into a short scan.
 */
const CLOCK_SKEW_ALLOWANCE_MS = 60 * 60 * 1000;

export type BreakReason = 'malformed' | 'hash_mismatch' | 'seq_gap' | 'prev_mismatch' | 'head_mismatch' | 'seq_counter_mismatch';

export interface BrokenLink {
  /** 0-based position in the stream; for head/counter mismatches, one past the last entry. */
  index: number;
  /** Stream id of the broken entry; null for head/counter mismatches (no entry is at fault). */
  id: string | null;
  reason: BreakReason;
}

export interface VerifyResult {
  ok: boolean;
  /** Entries found intact before the first break (all of them when ok). */
  checked: number;
  firstBroken: BrokenLink | null;
}

/** One link as read from the stream or an export line; any field may be missing when tampered. */
export interface ChainEntry {
  id: string | undefined;
  seq: string | undefined;
  prev: string | undefined;
  hash: string | undefined;
  event: string | undefined;
}

/** Where the log says its chain ends (head key and seq counter); null when the key is absent. */
export interface ChainEnd {
  head: string | null;
  seq: string | null;
}

export interface AuditPage {
  events: AuditEvent[];
  /** Pass as `before` for the next (older) page; null when the log has no older events. */
  nextBefore: string | null;
}

/** A caller tried to append an event that does not fit the schema or the size cap (a bug). */
export class InvalidAuditEventError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidAuditEventError';
  }
}

/** An entry's event cannot be read back: the log was tampered with or damaged. */
export class AuditLogCorruptError extends AppError {
  readonly entryId: string;
  constructor(entryId: string, cause?: unknown) {
    super(500, 'audit_log_corrupt', `Audit entry ${entryId} is unreadable; run the audit log verification.`, { cause, report: true });
    this.name = 'AuditLogCorruptError';
    this.entryId = entryId;
  }
}

/** The hash of one link; identical to the Lua in lua.ts. */
export function chainHash(prev: string, seq: string, eventJson: string): string {
  return createHash('sha256').update(`${prev}\n${seq}\n${eventJson}`, 'utf8').digest('hex');
}

/**
 * The exact event JSON to append, fields in a fixed order. Scripts that embed
 * AUDIT_LUA_PRELUDE pass this string as the event_json argument of audit_append.
 */
export function encodeAuditEvent(input: AuditEventInput, now: Date = new Date()): string {
  const parsed = storedEventSchema.safeParse({
    at: input.at ?? now.toISOString(),
    actor: input.actor,
    action: input.action,
    target: input.target,
    outcome: input.outcome,
    reason: input.reason,
    details: input.details,
    site: input.site,
  });
  if (!parsed.success) throw new InvalidAuditEventError(`invalid audit event: ${describeIssues(parsed.error.issues)}`, { cause: parsed.error });
  if (Math.abs(Date.parse(parsed.data.at) - now.getTime()) > MAX_AT_DRIFT_MS) {
    throw new InvalidAuditEventError(`audit event time ${parsed.data.at} is not the time of recording`);
  }
  const json = JSON.stringify(parsed.data);
  if (Buffer.byteLength(json, 'utf8') > MAX_EVENT_BYTES) throw new InvalidAuditEventError(`audit event larger than ${MAX_EVENT_BYTES} bytes`);
  return json;
}

function describeIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.map(String).join('.') || '(event)'}: ${i.message}`).join('; ');
}

const SEQ = /^[1-9]\d{0,15}$/;
const HEX_HASH = /^[0-9a-f]{64}$/;

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

function checkLink(entry: ChainEntry, lastSeq: number, lastHash: string): BreakReason | null {
  const { seq, prev, hash, event } = entry;
  if (entry.id === undefined || seq === undefined || prev === undefined || hash === undefined || event === undefined) return 'malformed';
  if (!SEQ.test(seq) || !HEX_HASH.test(prev) || !HEX_HASH.test(hash) || !isJsonObject(event)) return 'malformed';
  if (chainHash(prev, seq, event) !== hash) return 'hash_mismatch';
  if (Number(seq) !== lastSeq + 1) return 'seq_gap';
  if (prev !== lastHash) return 'prev_mismatch';
  return null;
}

/**
 * Walks a chain oldest first and reports the first broken link. Pure: the entries come from
 * the stream (AuditLog.verify) or from an export file (offline). With `end`, also checks that
 * the log's head and seq counter point at the last entry, so a removed tail shows.
 */
export async function verifyChain(entries: Iterable<ChainEntry> | AsyncIterable<ChainEntry>, end?: ChainEnd): Promise<VerifyResult> {
  let index = 0;
  let lastSeq = 0;
  let lastHash = GENESIS_HASH;
  for await (const entry of entries) {
    const reason = checkLink(entry, lastSeq, lastHash);
    if (reason !== null) return { ok: false, checked: index, firstBroken: { index, id: entry.id ?? null, reason } };
    lastSeq = Number(entry.seq);
    lastHash = entry.hash ?? GENESIS_HASH;
    index++;
  }
  if (end !== undefined) {
    const broken = (reason: BreakReason): VerifyResult => ({ ok: false, checked: index, firstBroken: { index, id: null, reason } });
    if ((end.head ?? GENESIS_HASH) !== lastHash) return broken('head_mismatch');
    if ((end.seq ?? '0') !== String(lastSeq)) return broken('seq_counter_mismatch');
  }
  return { ok: true, checked: index, firstBroken: null };
}

/**
 * One export line: `{"id","seq","prev","hash","event":<the stored event JSON, verbatim>}`.
 * Each line is plain JSON for SIEMs and tools, and the event's exact bytes (which the hash
 * covers) can be cut back out of it, see parseExportLine.
 */
export function exportLine(entry: ChainEntry): string {
  const seq = entry.seq !== undefined && SEQ.test(entry.seq) ? Number(entry.seq) : (entry.seq ?? null);
  const head = JSON.stringify({ id: entry.id ?? null, seq, prev: entry.prev ?? null, hash: entry.hash ?? null });
  // A damaged event that is not a JSON object goes out as a JSON string, so the line stays
  // JSON and the offline verifier reports it as malformed, like the online one.
  const event = entry.event !== undefined && isJsonObject(entry.event) ? entry.event : JSON.stringify(entry.event ?? null);
  return `${head.slice(0, -1)},"event":${event}}`;
}

/** The chain entry in one export line; fields it cannot recover are undefined (→ malformed). */
export function parseExportLine(line: string): ChainEntry {
  const missing: ChainEntry = { id: undefined, seq: undefined, prev: undefined, hash: undefined, event: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return missing;
  }
  if (typeof parsed !== 'object' || parsed === null) return missing;
  const p = parsed as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const seq = typeof p['seq'] === 'number' ? String(p['seq']) : str(p['seq']);
  const fields = { id: str(p['id']), seq, prev: str(p['prev']), hash: str(p['hash']) };
  // exportLine wrote exactly this prefix; the event's bytes are what follows, minus the last brace.
  const prefix = `${JSON.stringify({ id: p['id'], seq: p['seq'], prev: p['prev'], hash: p['hash'] }).slice(0, -1)},"event":`;
  const event = line.startsWith(prefix) && line.endsWith('}') ? line.slice(prefix.length, -1) : undefined;
  return { ...fields, event };
}

interface StreamEntry {
  id: string;
  message: Record<string, string>;
}

function toChainEntry(entry: StreamEntry): ChainEntry {
  const m = entry.message;
  return { id: entry.id, seq: m['seq'], prev: m['prev'], hash: m['hash'], event: m['event'] };
}

function toAuditEvent(entry: StreamEntry): AuditEvent {
  const { seq, event } = entry.message;
  let stored: StoredEvent;
  try {
    stored = storedEventSchema.parse(JSON.parse(event ?? ''));
  } catch (err) {
    throw new AuditLogCorruptError(entry.id, err);
  }
  if (seq === undefined || !SEQ.test(seq)) throw new AuditLogCorruptError(entry.id);
  return { id: entry.id, seq: Number(seq), ...stored };
}

function matcher(f: AuditFilters): ((e: AuditEvent) => boolean) | null {
  const tests: ((e: AuditEvent) => boolean)[] = [];
  if (f.actor !== undefined) {
    // An id, or part of a name or id ("mona" finds Mona Manager), whatever its case.
    const needle = f.actor.toLowerCase();
    const wanted = f.actor;
    tests.push((e) => e.actor !== null && (e.actor.id === wanted || e.actor.name.toLowerCase().includes(needle) || e.actor.id.toLowerCase().includes(needle)));
  }
  if (f.action !== undefined) tests.push((e) => e.action === f.action);
  if (f.site !== undefined) tests.push((e) => e.site === f.site);
  if (f.target !== undefined) {
    const { type, id } = f.target;
    tests.push((e) => e.target?.type === type && e.target.id === id);
  }
  if (f.from !== undefined) {
    const from = f.from.getTime();
    tests.push((e) => Date.parse(e.at) >= from);
  }
  if (f.to !== undefined) {
    const to = f.to.getTime();
    tests.push((e) => Date.parse(e.at) <= to);
  }
  return tests.length === 0 ? null : (e) => tests.every((t) => t(e));
}

/** XREVRANGE's upper bound: before `before` (exclusive) and not far after `to`. */
function upperBound(f: AuditFilters): string {
  const toMs = f.to === undefined ? undefined : f.to.getTime() + CLOCK_SKEW_ALLOWANCE_MS;
  if (f.before !== undefined && (toMs === undefined || Number(f.before.split('-')[0]) <= toMs)) return `(${f.before}`;
  return toMs === undefined ? '+' : String(toMs);
}

function lowerBound(f: AuditFilters): string {
  return f.from === undefined ? '-' : String(Math.max(0, f.from.getTime() - CLOCK_SKEW_ALLOWANCE_MS));
}

export class AuditLog {
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  /** Durable (WAIT with Sentinel): an event the caller went on after is not lost in a failover. */
  async append(input: AuditEventInput): Promise<AuditEvent> {
    const eventJson = encodeAuditEvent(input);
    const reply = await APPEND_SCRIPT.runDurably(this.#redis, { keys: [...AUDIT_KEYS], arguments: [eventJson] });
    if (!Array.isArray(reply) || typeof reply[0] !== 'string' || typeof reply[1] !== 'number') {
      throw new Error(`unexpected reply from the audit append script: ${JSON.stringify(reply)}`);
    }
    return { id: reply[0], seq: reply[1], ...(JSON.parse(eventJson) as StoredEvent) };
  }

  /** Newest first, filtered, at most `limit` events per page. */
  async query(filters: AuditFilters): Promise<AuditPage> {
    const limit = filters.limit ?? DEFAULT_QUERY_LIMIT;
    const matches = matcher(filters);
    // Unfiltered, the next `limit` entries are exactly the page; filtered, read ahead in batches.
    const batchSize = matches === null ? limit : QUERY_SCAN_BATCH;
    const lower = lowerBound(filters);
    let upper = upperBound(filters);
    const events: AuditEvent[] = [];
    let scanned = 0;
    for (;;) {
      const batch = await this.#redis.xRevRange(keys.audit.stream, upper, lower, { COUNT: batchSize });
      for (const entry of batch) {
        const event = toAuditEvent(entry);
        scanned++;
        if (matches === null || matches(event)) events.push(event);
        if (events.length === limit || scanned === MAX_SCANNED_PER_QUERY) return { events, nextBefore: entry.id };
      }
      const last = batch.at(-1);
      if (last === undefined || batch.length < batchSize) return { events, nextBefore: null };
      upper = `(${last.id}`;
    }
  }

  /** Checks the whole chain as it stood when the call began (later appends are left for next time). */
  async verify(): Promise<VerifyResult> {
    const [head, seq, newest] = await this.#redis
      .multi()
      .get(keys.audit.head)
      .get(keys.audit.seq)
      .xRevRange(keys.audit.stream, '+', '-', { COUNT: 1 })
      .execTyped();
    const untilId = newest[0]?.id;
    const entries = untilId === undefined ? [] : this.#walk(untilId);
    return verifyChain(entries, { head, seq });
  }

  /** Export lines (see exportLine), oldest first, up to the newest entry when the call began. */
  async *exportLines(): AsyncIterable<string> {
    const [newest] = await this.#redis.xRevRange(keys.audit.stream, '+', '-', { COUNT: 1 });
    if (newest === undefined) return;
    for await (const entry of this.#walk(newest.id)) yield exportLine(entry);
  }

  /** Entries oldest first up to and including `untilId`, read in batches. */
  async *#walk(untilId: string): AsyncGenerator<ChainEntry> {
    let start = '-';
    for (;;) {
      const batch = await this.#redis.xRange(keys.audit.stream, start, untilId, { COUNT: WALK_BATCH });
      for (const entry of batch) yield toChainEntry(entry);
      const last = batch.at(-1);
      if (last === undefined || batch.length < WALK_BATCH) return;
      start = `(${last.id}`;
    }
  }
}
