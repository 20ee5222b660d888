// Liveness (/healthz: the process answers) and readiness (/readyz: Redis answers, and every
// configured guacd answers a Guacamole handshake in time — a hung guacd still accepts TCP).
import { Router } from 'express';
import { redisAlive, type RedisClient } from '../redis.ts';
import { errorBody } from '../errors.ts';

/** A dependency slower than this is reported not ready: load balancers poll often. */
const PROBE_TIMEOUT_MS = 1_000;

/** One guacd as the broker's background handshakes last found it. */
export interface GuacdCheck {
  ok: boolean;
  problem: 'unreachable' | 'unresponsive' | null;
  version: string | null;
  checkedAt: string;
}

/**
 * `draining`: the instance is restarting (SIGTERM) and answers 503 so that load balancers move
 * new users elsewhere while its live sessions wind down.
 */
export function healthRoutes(deps: { redis: RedisClient; guacds: () => Record<string, GuacdCheck>; draining?: () => boolean }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (deps.draining?.() === true) {
      res.status(503).json(errorBody('draining', 'Not ready: this instance is restarting.'));
      return;
    }
    const redisOk = await redisAlive(deps.redis, PROBE_TIMEOUT_MS);
    const guacds = deps.guacds();
    const failingGuacds = Object.entries(guacds).filter(([, g]) => !g.ok);
    // One word for all guacds (a hung one is worse news than an unreachable one), then each.
    const guacd = failingGuacds.length === 0 ? 'ok' : failingGuacds.some(([, g]) => g.problem === 'unresponsive') ? 'unresponsive' : 'unreachable';
    const checks = { redis: redisOk ? 'ok' : 'unreachable', guacd, guacds };
    const failing = [...(redisOk ? [] : ['redis']), ...failingGuacds.map(([id, g]) => `guacd ${id} ${g.problem ?? 'failing'}`)];
    if (failing.length === 0) {
      res.json({ status: 'ready', checks });
      return;
    }
    res.status(503).json({ ...errorBody('not_ready', `Not ready: ${failing.join(', ')}.`), checks });
  });
  return router;
}
