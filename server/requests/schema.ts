// Input schemas of the access-request API and the AccessRequest type the API returns.
import { z } from 'zod';
import { policySchema, type Policy, type Protocol } from '../inventory/schema.ts';

/** Free-text fields are bounded so one request cannot bloat Redis or a chat card. */
export const MAX_TEXT = 2000;
export const MAX_WORK_ORDER = 100;

const isoTime = z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time with a time zone' });
const requestId = z.uuid();

/**
 * How a request's window starts: `at` a set time (windowStart–windowEnd), `now` (the window
 * starts when the request is filed and ends at windowEnd, or after durationMinutes), or
 * `on_approval` (the window starts when the request is approved and lasts durationMinutes).
 */
export const START_MODES = ['at', 'now', 'on_approval'] as const;
export type StartMode = (typeof START_MODES)[number];

/**
 * Why a request expired: `window_ended` (nobody decided before its window ended),
 * `not_decided_in_time` (a "start when approved" request nobody decided within
 * ON_APPROVAL_DECIDE_HOURS), `window_started` (expired under the earlier rule, at its window's start).
 */
export const EXPIRED_REASONS = ['window_ended', 'not_decided_in_time', 'window_started'] as const;
export type ExpiredReason = (typeof EXPIRED_REASONS)[number];

/** Most minutes a window may last, whatever the machine says (inventory's cap). */
const MAX_DURATION_MINUTES = 7 * 24 * 60;

export const createRequestSchema = z.strictObject({
  machineId: z.string().min(1).max(63),
  start: z.enum(START_MODES, { message: 'at, now or on_approval' }).default('at'),
  /** Required with `start: at`; absent otherwise. */
  windowStart: isoTime.optional(),
  /** Required with `start: at`; with `now`, this or durationMinutes. */
  windowEnd: isoTime.optional(),
  /** With `start: on_approval` (required) or `now`: how long the window lasts. */
  durationMinutes: z.number({ message: 'a number of minutes' }).int('a whole number of minutes').min(1, 'at least one minute').max(MAX_DURATION_MINUTES).optional(),
  reason: z.string().trim().min(1, 'a reason is required').max(MAX_TEXT),
  workOrder: z.string().trim().min(1).max(MAX_WORK_ORDER).optional(),
  policy: policySchema.partial().optional(),
  extendsRequestId: requestId.optional(),
});
export type CreateRequestInput = z.infer<typeof createRequestSchema>;
/** What a client sends (defaults not yet applied: `start` may be left out for `at`). */
export type CreateRequestBody = z.input<typeof createRequestSchema>;

export const approveSchema = z.strictObject({
  comment: z.string().trim().max(MAX_TEXT).optional(),
  windowEnd: isoTime.optional(),
  policy: policySchema.partial().optional(),
});

export const denySchema = z.strictObject({ comment: z.string().trim().max(MAX_TEXT).optional() });
export const revokeSchema = z.strictObject({ reason: z.string().trim().max(MAX_TEXT).optional() });
export const cancelSchema = z.strictObject({});

export const REQUEST_STATES = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'active', 'ended', 'revoked'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export const listQuerySchema = z.strictObject({
  scope: z.enum(['mine', 'waiting', 'all']).default('mine'),
  state: z.enum(REQUEST_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d{1,9}$/).optional(),
});

export const idParamSchema = z.strictObject({ id: requestId });

export interface PersonRef {
  id: string;
  name: string;
}

export interface AccessRequest {
  id: string;
  /** `siteName` and `siteTimeZone` as the inventory has them now. */
  machine: { id: string; name: string; siteId: string; siteName: string; siteTimeZone: string; protocol: Protocol };
  /** `company` is the company's id; `companyName` its name (the id when the company is gone). */
  requester: PersonRef & { company: string | null; companyName: string | null };
  reason: string;
  workOrder: string | null;
  windowStart: string;
  windowEnd: string;
  requestedPolicy: Policy;
  state: RequestState;
  /** How the window starts, how long it lasts, and until when a decision can still be taken. */
  timing: { start: StartMode; durationMinutes: number; decideBy: string };
  /** Why the request expired (state `expired`), else null. */
  expiredReason: ExpiredReason | null;
  requiredApprovals: 1 | 2;
  approvals: Array<{ by: PersonRef; at: string; comment: string | null }>;
  decision: { by: PersonRef; at: string; comment: string | null } | null;
  grant: { start: string; end: string; policy: Policy } | null;
  revocation: { by: PersonRef; at: string; reason: string | null } | null;
  extendsRequestId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** GET /api/requests: one page, and the cursor of the next one (null on the last). */
export interface RequestPage {
  requests: AccessRequest[];
  nextCursor: string | null;
  /** scope mine and waiting: per request id, the overlapping requests of the same vendor and machine (only ids that have some). */
  overlaps?: Record<string, string[]>;
}

/** POST /api/requests, POST /api/requests/:id/approve, GET /api/requests/:id: the request, and the other live requests of its vendor for its machine whose windows overlap it. */
export interface RequestWithOverlaps {
  request: AccessRequest;
  overlaps: string[];
}
