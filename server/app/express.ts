// The express application: middleware order, route mounting, the built client. No I/O of its
// own: everything it talks to comes in as a dependency from portal.ts.
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { errorMiddleware, notFoundHandler } from '../errors.ts';
import { sameOriginOnly } from '../http/same-origin.ts';
import type { RedisClient } from '../redis.ts';
import { healthRoutes } from '../health/routes.ts';
import { authRoutes, SIGN_IN_REFUSED_ACTION } from '../auth/routes.ts';
import type { AggregatedAudit } from '../audit/aggregated.ts';
import type { OidcLogin } from '../auth/oidc.ts';
import type { IdentityStore } from '../auth/identity-store.ts';
import { backchannelLogoutRoutes } from '../auth/backchannel.ts';
import type { AirlockUser } from '../user.ts';
import { DEV_IDP_MOUNT, type DevIdp } from '../auth/dev-idp.ts';
import type { PortalServices } from './services.ts';
import { auditRoutes } from '../audit/routes.ts';
import { inventoryRoutes } from '../inventory/routes.ts';
import { requestRoutes } from '../requests/routes.ts';
import { sessionRoutes } from '../../sessions/routes.ts';
import { recordingRoutes } from '../../recordings/routes.ts';
import { fileRoutes } from '../../sessions/files/routes.ts';
import { seekRoutes } from '../../recordings/seek-routes.ts';
import { exportRoutes } from '../../recordings/export-routes.ts';
import { sourceRateLimit, userRateLimit } from '../http/rate-limit.ts';

export interface AppDeps {
  config: Config;
  log: Logger;
  redis: RedisClient;
  login: OidcLogin;
  devIdp: DevIdp | undefined;
  services: PortalServices;
  /** express-session, shared with the WebSocket upgrade guard. */
  sessionMiddleware: RequestHandler;
  /** Runs after each successful sign-in (the plugins' onSignIn hooks). */
  onSignIn?: (user: AirlockUser) => Promise<void>;
  /** The sign-ins' identity records (the back-channel logout's replay check). */
  signIns: IdentityStore;
  /** GET /metrics behind its bearer token, when metrics are served on this listener. */
  metricsRoutes?: Router;
  /** Refused sign-ins and back-channel logouts, audited aggregated per source and reason. */
  refused: AggregatedAudit;
}

/** API bodies are small JSON documents; anything larger is a mistake or an attack. */
const JSON_BODY_LIMIT = '64kb';

export function createApp(deps: AppDeps): Express {
  const { config, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);

  app.use(
    pinoHttp({
      logger: log,
      // The path only: query strings carry OIDC codes and states.
      serializers: {
        req: (req: { method: string; url: string; id: unknown }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:', 'blob:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
          formAction: ["'self'"],
        },
      },
      strictTransportSecurity: config.publicUrl.startsWith('https:'),
    }),
  );

  app.use(healthRoutes({ redis: deps.redis, guacds: () => deps.services.broker.guacdHealth.all(), draining: () => deps.services.broker.draining }));
  if (deps.metricsRoutes !== undefined) app.use(deps.metricsRoutes);
  if (deps.devIdp !== undefined) app.use(DEV_IDP_MOUNT, deps.devIdp.router);
  // The IdP calls this server to server: no cookie, no Origin, so before the session and CSRF layer.
  app.use(backchannelLogoutRoutes({ login: deps.login, identity: deps.services.identity, store: deps.signIns, log, refused: deps.refused }));

  // Anyone can start a sign-in, and each start stores a session: limit them per source before
  // the session middleware, so a flood is refused before it costs a session record.
  // Its 429s are audited like the other refused sign-ins (a flood writes a handful of events).
  app.use(
    ['/auth/login', '/auth/callback'],
    sourceRateLimit(deps.redis, 'signin', config.rateLimits.signInsPerMinute, {
      onLimited: (req, key) =>
        deps.refused.recordQuietly({ source: key, action: SIGN_IN_REFUSED_ACTION, reason: 'rate_limited', actor: null, target: null, details: { path: req.baseUrl, ip: req.ip ?? null } }),
    }),
  );
  // Sessions, CSRF and body parsing only where they are needed: not for health checks or assets.
  app.use(
    ['/auth', '/api'],
    deps.sessionMiddleware,
    deps.login.passport.initialize(),
    deps.login.passport.session(),
    sameOriginOnly(config.publicUrl),
    express.json({ limit: JSON_BODY_LIMIT }),
  );
  const { services } = deps;
  // Before every /api route, /api/me (in authRoutes) included.
  app.use('/api', userRateLimit(deps.redis, 'api', config.rateLimits.readsPerMinute));
  app.use(authRoutes(deps.login, services.identity, log, { refused: deps.refused, ...(deps.onSignIn === undefined ? {} : { onSignIn: deps.onSignIn }) }));
  // Privileged routes re-validate the user with the IdP first (identity freshness).
  const fresh = services.identity.requireFresh;
  const writeLimit = userRateLimit(deps.redis, 'write', config.rateLimits.writesPerMinute);
  app.use(
    inventoryRoutes({
      inventory: services.inventory,
      vault: services.vault,
      audit: services.audit,
      guacdIds: Object.keys(config.guacds),
      endInvalidatedAccess: (admin, change) => services.requests.endInvalidatedAccess(admin, change),
      fresh,
    }),
  );
  app.use(requestRoutes({ service: services.requests, events: services.events, writeLimit, fresh }));
  app.use(sessionRoutes(services.broker, fresh));
  app.use(fileRoutes(services.broker.files, fresh));
  app.use(recordingRoutes(services.recordings.service, fresh));
  app.use(seekRoutes(services.recordings.service, deps.redis));
  app.use(exportRoutes(services.recordings.service, deps.redis));
  app.use(auditRoutes(services.audit));
  for (const plugin of services.plugins) {
    const routes = plugin.routes?.();
    if (routes !== undefined) app.use(routes);
  }
  app.use('/api', notFoundHandler);

  const clientDir = config.clientDir ?? path.resolve(import.meta.dirname, '../../dist/client');
  if (existsSync(clientDir)) {
    app.use(express.static(clientDir, { index: false, maxAge: '1h' }));
    // Single-page app: every other GET renders index.html and the client routes.
    // Not /metrics either: where it is not served, it answers 404, not the app.
    app.get(/^\/(?!api\/|auth\/|dev-idp\/|metrics$).*/, (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.sendFile(path.join(clientDir, 'index.html'));
    });
  } else {
    log.warn({ clientDir }, 'client not built: run `npm run build:client`');
  }
  app.use(notFoundHandler);
  app.use(errorMiddleware(log));
  return app;
}
