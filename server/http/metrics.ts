// GET /metrics for Prometheus: on a listener of its own (AIRLOCK_METRICS_LISTEN) and/or behind a
// bearer token (AIRLOCK_METRICS_TOKEN). Off unless configured: the figures name sites and guacds.
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Router, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import { errorBody, errorMessage } from '../errors.ts';

export const METRICS_PATH = '/metrics';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** True when the Authorization header carries exactly `Bearer <token>` (compared in constant time). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
}

/** The scrape handler; with a token, anything else gets 401 and no figures. */
export function metricsHandler(metrics: Metrics, token: string | undefined, log: Logger): RequestHandler {
  return (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="airlock-metrics"');
      res.status(401).json(errorBody('metrics_unauthorized', 'The metrics need the bearer token configured in AIRLOCK_METRICS_TOKEN.'));
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => {
        res.setHeader('Content-Type', contentType);
        res.end(body);
      },
      (err: unknown) => {
        log.warn({ err: { message: errorMessage(err) } }, 'metrics scrape failed');
        res.status(500).json(errorBody('metrics_failed', 'The metrics could not be collected.'));
      },
    );
  };
}

/** /metrics on the portal's own listener (token required, see config.ts). */
export function metricsRoute(handler: RequestHandler): Router {
  const router = Router();
  router.get(METRICS_PATH, handler);
  return router;
}

/** A listener that serves /metrics only, for a scrape address apart from the users' one. */
export async function startMetricsServer(listen: { host: string; port: number }, handler: RequestHandler): Promise<{ server: http.Server; url: string; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.get(METRICS_PATH, handler);
  app.use((_req, res) => {
    res.status(404).json(errorBody('not_found', `Only ${METRICS_PATH} is served here.`));
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listen.port;
  return {
    server,
    url: `http://${listen.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
