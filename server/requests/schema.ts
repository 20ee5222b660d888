// Input schemas of the access-request API and the AccessRequest type the API returns.
import { z } from 'zod';
import { policySchema, type Policy, type Protocol } from '../inventory/schema.ts';

/** Free-text fields are bounded so one request cannot bloat Redis or a chat card. */
export const MAX_TEXT = 2000;
export const MAX_WORK_ORDER = 100;

const isoTime = z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time with a time zone' });
const requestId = z.uuid();

export const createRequestSchema = z.strictObject({
  machineId: z.string().min(1).max(63),
  windowStart: isoTime,
  windowEnd: isoTime,
  reason: z.string().trim().min(1, 'a reason is required').max(MAX_TEXT),
  workOrder: z.string().trim().min(1).max(MAX_WORK_ORDER).optional(),
  policy: policySchema.partial().optional(),
  extendsRequestId: requestId.optional(),
});
export type CreateRequestInput = z.infer<typeof createRequestSchema>;

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
  machine: { id: string; name: string; siteId: string; siteName: string; protocol: Protocol };
  requester: PersonRef & { company: string | null };
  reason: string;
  workOrder: string | null;
  windowStart: string;
  windowEnd: string;
  requestedPolicy: Policy;
  state: RequestState;
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
