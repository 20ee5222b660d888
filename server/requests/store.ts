// Access requests in Redis: the atomic create and transition scripts, reads, and the indexes
// that listing, expiry and grant look-ups use. No rules here beyond what the Lua enforces.
import type { RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { conflict, notFound } from '../errors.ts';
import type { Policy } from '../inventory/schema.ts';
import type { AccessRequest, ExpiredReason, PersonRef, RequestState, StartMode } from './schema.ts';
import { CREATE_SCRIPT, TRANSITION_SCRIPT } from './lua.ts';
import { DEFAULT_TIME_ZONE } from '../plant-time.ts';

export type TransitionAction = 'approve' | 'deny' | 'cancel' | 'expire' | 'revoke' | 'activate' | 'end';

export interface TransitionArgs {
  comment?: string | undefined;
  windowEnd?: string | undefined;
  windowEndMs?: number | undefined;
  policy?: Record<string, boolean> | undefined;
  reason?: string | undefined;
  /** Approve, "start when approved": the end of the window if this approval is the last (now + length). */
  approvalEnd?: string | undefined;
  approvalEndMs?: number | undefined;
}

export type TransitionResult = { ok: true; state: RequestState } | { ok: false; code: string; state: RequestState };

/** The immutable part of a request, stored as JSON in the `doc` field. */
export interface RequestDoc {
  machine: Omit<AccessRequest['machine'], 'siteTimeZone'>;
  requester: Omit<AccessRequest['requester'], 'companyName'>;
  reason: string;
  workOrder: string | null;
  extendsRequestId: string | null;
  createdAt: string;
}

export interface NewRequest {
  id: string;
  doc: RequestDoc;
  windowStart: string;
  windowEnd: string;
  windowStartMs: number;
  windowEndMs: number;
  requiredApprovals: 1 | 2;
  requestedPolicy: AccessRequest['requestedPolicy'];
  createdAtMs: number;
  startMode: StartMode;
  /** The window's length (for on_approval, what the approval grants from its own moment). */
  durationMs: number;
  /** When the request expires if nobody decides: its window's end, or the on_approval deadline. */
  expiresAtMs: number;
}

/** A stored request plus the raw numbers the services need. */
export interface StoredRequest {
  request: AccessRequest;
  siteId: string;
  requesterId: string;
  machineId: string;
  windowStartMs: number;
  /** Pending until then; afterwards it is expired, even before the sweep records it. */
  expiresAtMs: number;
  grantEndMs: number | null;
}

function parseJson<T>(value: string | undefined): T | null {
  return value === undefined || value === '' ? null : (JSON.parse(value) as T);
}

const EXPIRED_REASONS: ReadonlySet<string> = new Set<ExpiredReason>(['window_ended', 'not_decided_in_time', 'window_started']);

function toStored(id: string, h: Record<string, string>, approvals: string[]): StoredRequest {
  const doc = parseJson<RequestDoc>(h['doc']);
  if (doc === null) throw new Error(`request ${id} has no doc`);
  const windowStartMs = Number(h['windowStartMs']);
  const windowEndMs = Number(h['windowEndMs']);
  // Requests filed before start modes existed: a set window, pending until its end.
  const startMode: StartMode = h['startMode'] === 'now' || h['startMode'] === 'on_approval' ? h['startMode'] : 'at';
  const durationMs = h['durationMs'] === undefined ? windowEndMs - windowStartMs : Number(h['durationMs']);
  const expiresAtMs = h['expiresAtMs'] === undefined ? windowEndMs : Number(h['expiresAtMs']);
  const state = (h['state'] ?? 'pending') as RequestState;
  const storedReason = h['expiredReason'];
  // An expiry recorded before reasons were: it happened at the window's start (the earlier rule).
  const expiredReason = state !== 'expired' ? null : storedReason !== undefined && EXPIRED_REASONS.has(storedReason) ? (storedReason as ExpiredReason) : 'window_started';
  const request: AccessRequest = {
    id,
    // Zone and company name come from the inventory when the service presents the request.
    machine: { ...doc.machine, siteTimeZone: DEFAULT_TIME_ZONE },
    requester: { ...doc.requester, companyName: doc.requester.company },
    reason: doc.reason,
    workOrder: doc.workOrder,
    windowStart: h['windowStart'] ?? '',
    windowEnd: h['windowEnd'] ?? '',
    // Written by create() from a validated policy; read back as is on the hot listing path.
    requestedPolicy: parseJson<Policy>(h['requestedPolicy']) ?? { clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: true },
    state,
    timing: { start: startMode, durationMinutes: Math.round(durationMs / 60_000), decideBy: new Date(expiresAtMs).toISOString() },
    expiredReason,
    requiredApprovals: h['requiredApprovals'] === '2' ? 2 : 1,
    approvals: approvals.map((json) => {
      const a = JSON.parse(json) as { by: PersonRef; at: string; comment: string | null };
      return { by: a.by, at: a.at, comment: a.comment };
    }),
    decision: parseJson(h['decision']),
    grant: parseJson(h['grant']),
    revocation: parseJson(h['revocation']),
    extendsRequestId: doc.extendsRequestId,
    createdAt: doc.createdAt,
    updatedAt: h['updatedAt'] ?? doc.createdAt,
  };
  return {
    request,
    siteId: h['siteId'] ?? '',
    requesterId: h['requesterId'] ?? '',
    machineId: h['machineId'] ?? '',
    windowStartMs,
    expiresAtMs,
    grantEndMs: h['grantEndMs'] === undefined ? null : Number(h['grantEndMs']),
  };
}

export class RequestStore {
  private readonly redis: RedisClient;

  constructor(redis: RedisClient) {
    this.redis = redis;
  }

  async create(r: NewRequest, auditEventJson: string): Promise<void> {
    const fields = {
      id: r.id,
      state: 'pending',
      siteId: r.doc.machine.siteId,
      machineId: r.doc.machine.id,
      requesterId: r.doc.requester.id,
      requiredApprovals: String(r.requiredApprovals),
      windowStart: r.windowStart,
      windowEnd: r.windowEnd,
      windowStartMs: String(r.windowStartMs),
      windowEndMs: String(r.windowEndMs),
      requestedPolicy: JSON.stringify(r.requestedPolicy),
      doc: JSON.stringify(r.doc),
      updatedAt: r.doc.createdAt,
      startMode: r.startMode,
      durationMs: String(r.durationMs),
      expiresAtMs: String(r.expiresAtMs),
    };
    const result = (await CREATE_SCRIPT.runDurably(this.redis, {
      keys: [
        keys.requests.request(r.id),
        keys.requests.all,
        keys.requests.byUser(r.doc.requester.id),
        keys.requests.bySite(r.doc.machine.siteId),
        keys.requests.pending,
        keys.audit.stream,
        keys.audit.head,
        keys.audit.seq,
      ],
      arguments: [r.id, JSON.stringify(fields), String(r.createdAtMs), String(r.expiresAtMs), auditEventJson],
    })) as string[];
    if (result[0] !== 'ok') throw conflict('duplicate_request', 'A request with this id exists already.');
  }

  /**
   * Durable (WAIT with Sentinel): an approval, denial, revocation or grant the caller was told
   * about survives a failover; one no replica confirmed answers 503 store_not_durable.
   */
  async transition(id: string, action: TransitionAction, actor: PersonRef | null, args: TransitionArgs, now: Date): Promise<TransitionResult> {
    const result = (await TRANSITION_SCRIPT.runDurably(this.redis, {
      keys: [
        keys.requests.request(id),
        keys.requests.approvals(id),
        keys.requests.pending,
        keys.requests.grants,
        keys.audit.stream,
        keys.audit.head,
        keys.audit.seq,
      ],
      arguments: [action, JSON.stringify(actor), now.toISOString(), String(now.getTime()), JSON.stringify(args)],
    })) as string[];
    if (result[0] === 'missing') throw notFound('unknown_request', 'No such request.');
    if (result[0] === 'ok') return { ok: true, state: result[1] as RequestState };
    return { ok: false, code: result[1] ?? 'conflict', state: result[2] as RequestState };
  }

  async get(id: string): Promise<StoredRequest | undefined> {
    return (await this.getMany([id]))[0];
  }

  /** Reads several requests in one round trip; missing ids are skipped. */
  async getMany(ids: readonly string[]): Promise<StoredRequest[]> {
    if (ids.length === 0) return [];
    const multi = this.redis.multi();
    for (const id of ids) {
      multi.hGetAll(keys.requests.request(id));
      multi.lRange(keys.requests.approvals(id), 0, -1);
    }
    // A pipeline, not a transaction: a consistent snapshot is not needed to list, speed is.
    const replies = (await multi.execAsPipeline()) as unknown as Array<Record<string, string> | string[]>;
    const out: StoredRequest[] = [];
    ids.forEach((id, i) => {
      const h = replies[2 * i] as Record<string, string> | undefined;
      const approvals = (replies[2 * i + 1] as string[] | undefined) ?? [];
      if (h !== undefined && Object.keys(h).length > 0) out.push(toStored(id, h, approvals));
    });
    return out;
  }

  /** Newest first: ids from a creation-time index, `offset` and `count` as in ZRANGE REV. */
  async idsFrom(indexKey: string, offset: number, count: number): Promise<string[]> {
    return this.redis.zRange(indexKey, offset, offset + count - 1, { REV: true });
  }

  /** Every id in an index; for the live ones (pending, grants), whose size follows what is live. */
  async members(indexKey: string): Promise<string[]> {
    return this.redis.zRange(indexKey, 0, -1);
  }

  /** Ids in a score-ordered index whose score is ≤ max (pending by expiry, grants by end). */
  async dueIds(indexKey: string, maxScore: number, count: number): Promise<string[]> {
    return this.redis.zRangeByScore(indexKey, '-inf', maxScore, { LIMIT: { offset: 0, count } });
  }
}
