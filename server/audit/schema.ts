// The audit event as the API shows it (docs/api.md, "Audit"), the event as it is stored in the
// stream, and the query string of GET /api/audit.
import { z } from 'zod';

export type AuditOutcome = 'ok' | 'refused';

export interface AuditEvent {
  /** Redis stream id: also the paging cursor. */
  id: string;
  /** Position in the chain, from 1 without gaps. */
  seq: number;
  at: string;
  actor: { id: string; name: string } | null;
  /** Dotted domain verb, e.g. `request.approved`, `audit.exported`. */
  action: string;
  target: { type: string; id: string } | null;
  outcome: AuditOutcome;
  reason: string | null;
  details: Record<string, unknown>;
  site: string | null;
}

/** What a caller records; the log assigns id and seq, and `at` defaults to now. */
export type AuditEventInput = Omit<AuditEvent, 'id' | 'seq' | 'at'> & { at?: string };

/** Identifiers, names and reasons are short; these caps keep one event from bloating the log. */
const MAX_ID_LENGTH = 256;
const MAX_REASON_LENGTH = 2_000;

const shortText = z.string().min(1).max(MAX_ID_LENGTH);

/**
 * The `event` field of a stream entry: everything but id and seq, which the stream entry
 * carries itself. Also checks what callers pass in, so a bug cannot write a malformed event.
 */
export const storedEventSchema = z.strictObject({
  at: z.iso.datetime(),
  actor: z.strictObject({ id: shortText, name: z.string().max(MAX_ID_LENGTH) }).nullable(),
  action: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'a dotted lowercase verb like request.approved'),
  target: z.strictObject({ type: shortText, id: shortText }).nullable(),
  outcome: z.enum(['ok', 'refused']),
  reason: z.string().max(MAX_REASON_LENGTH).nullable(),
  details: z.record(z.string(), z.unknown()),
  site: shortText.nullable(),
});
export type StoredEvent = z.infer<typeof storedEventSchema>;

/** Most events one GET /api/audit page returns; larger reads are what export is for. */
const MAX_QUERY_LIMIT = 500;
export const DEFAULT_QUERY_LIMIT = 100;

/** Redis stream ids: `<ms>-<n>`. */
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

export interface AuditFilters {
  /** The actor's id, or part of their name or id (case-insensitive). */
  actor?: string | undefined;
  action?: string | undefined;
  site?: string | undefined;
  target?: { type: string; id: string } | undefined;
  /** Inclusive bounds on the event's `at`. */
  from?: Date | undefined;
  to?: Date | undefined;
  limit?: number | undefined;
  /** Only events older than this stream id (the previous page's `nextBefore`). */
  before?: string | undefined;
}

const isoDate = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

/** GET /api/audit's query string. Strict: a misspelt filter is an error, not a silent no-op. */
export const auditQuerySchema = z
  .strictObject({
    actor: shortText.optional(),
    action: shortText.optional(),
    site: shortText.optional(),
    target: z
      .string()
      .max(2 * MAX_ID_LENGTH + 1)
      .regex(/^[^:]+:.+$/, 'type:id')
      .transform((s) => {
        const colon = s.indexOf(':');
        return { type: s.slice(0, colon), id: s.slice(colon + 1) };
      })
      .optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'a whole number')
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_QUERY_LIMIT))
      .default(DEFAULT_QUERY_LIMIT),
    before: z.string().regex(STREAM_ID, 'a stream id like 1700000000000-0').optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, { message: 'from must not be after to', path: ['from'] });
