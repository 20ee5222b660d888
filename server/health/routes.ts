// Liveness (/healthz: the process answers) and readiness (/readyz: Redis and guacd reachable).
import { Router } from 'express';
import net from 'node:net';
import { redisAlive, type RedisClient } from '../redis.ts';
import { errorBody } from '../errors.ts';

/** A dependency slower than this is reported not ready: load balancers poll often. */
const PROBE_TIMEOUT_MS = 1_000;

export function tcpReachable(host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function healthRoutes(deps: { redis: RedisClient; guacd: { host: string; port: number } }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [redisOk, guacdOk] = await Promise.all([
      redisAlive(deps.redis, PROBE_TIMEOUT_MS),
      tcpReachable(deps.guacd.host, deps.guacd.port),
    ]);
    const failing = [...(redisOk ? [] : ['redis']), ...(guacdOk ? [] : ['guacd'])];
    if (failing.length === 0) {
      res.json({ status: 'ready', checks: { redis: 'ok', guacd: 'ok' } });
      return;
    }
    res.status(503).json({
      ...errorBody('not_ready', `Not ready: ${failing.join(', ')} unreachable.`),
      checks: { redis: redisOk ? 'ok' : 'unreachable', guacd: guacdOk ? 'ok' : 'unreachable' },
    });
  });
  return router;
}
