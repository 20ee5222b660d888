// The audit suites (test/audit.test.ts, server/audit/lua.test.ts): their own Redis database,
// so flushing it disturbs no other suite, and the approval event they append (which the SIEM
// formatter's unit test formats too).
import { createClient } from 'redis';
import type { RedisClient } from '../../server/redis.ts';
import type { AuditEventInput } from '../../server/audit/schema.ts';
import { redisDbUrl } from './services.ts';

export const AUDIT_TEST_DB = 7;

/** A client on the audit suites' database (the caller flushes and closes it). */
export async function connectAuditTestRedis(): Promise<RedisClient> {
  const redis: RedisClient = createClient({ url: redisDbUrl(AUDIT_TEST_DB) });
  await redis.connect();
  return redis;
}

/** Ann approving request r1 at plant-a; `overrides` replace fields. */
export function approvalEvent(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    actor: { id: 'dev:ann', name: 'Ann Approver' },
    action: 'request.approved',
    target: { type: 'request', id: 'r1' },
    outcome: 'ok',
    reason: null,
    details: {},
    site: 'plant-a',
    ...overrides,
  };
}
