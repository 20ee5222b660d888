// Access-request API (docs/api.md): create, list, read, cancel, approve, deny, revoke, and the
// live event stream the UI listens to. Handlers validate, ask policies.ts, call the service.
import { Router } from 'express';
import { route } from '../http/validate.ts';
import { assertMayListAllRequests, canSeeRequest, mayDecideSiteFiles, maySeeLiveSession } from '../policies.ts';
import type { EventBus } from '../events/bus.ts';
import { presentLiveEvent } from './presenter.ts';
import type { RequestService } from './service.ts';
import {
  approveSchema,
  cancelSchema,
  createRequestSchema,
  denySchema,
  idParamSchema,
  listQuerySchema,
  revokeSchema,
  type AccessRequest,
  type RequestWithOverlaps,
} from './schema.ts';
import type { AirlockUser } from '../user.ts';
import type { RequestHandler } from 'express';

/** SSE comment lines keep proxies from closing an idle stream. */
const SSE_KEEPALIVE_MS = 25_000;

/** `fresh` re-validates the user with the IdP (identity freshness) before decide and revoke. */
export function requestRoutes(deps: { service: RequestService; events: EventBus; writeLimit: RequestHandler; fresh: RequestHandler }): Router {
  const { service, writeLimit, fresh } = deps;
  const router = Router();

  // Create, approve and read answer the request with its overlaps (RequestWithOverlaps).
  const withOverlaps = async (user: AirlockUser, request: AccessRequest): Promise<RequestWithOverlaps> => ({
    request,
    overlaps: (await service.overlaps(user, [request]))[request.id] ?? [],
  });

  router.post('/api/requests', writeLimit, route({ body: createRequestSchema }, async ({ user, body }) => withOverlaps(user, await service.create(user, body)), 201));

  router.get(
    '/api/requests',
    route({ query: listQuerySchema }, async ({ user, query }) => {
      if (query.scope === 'all') assertMayListAllRequests(user);
      return service.list(user, query);
    }),
  );

  router.get('/api/requests/:id', route({ params: idParamSchema }, async ({ user, params }) => withOverlaps(user, await service.get(user, params.id))));

  router.post(
    '/api/requests/:id/approve',
    writeLimit,
    fresh,
    route({ params: idParamSchema, body: approveSchema }, async ({ user, params, body }) => withOverlaps(user, await service.approve(user, params.id, body))),
  );
  router.post(
    '/api/requests/:id/deny',
    writeLimit,
    fresh,
    route({ params: idParamSchema, body: denySchema }, async ({ user, params, body }) => ({ request: await service.deny(user, params.id, body.comment) })),
  );
  router.post(
    '/api/requests/:id/cancel',
    writeLimit,
    route({ params: idParamSchema, body: cancelSchema }, async ({ user, params }) => ({ request: await service.cancel(user, params.id) })),
  );
  router.post(
    '/api/requests/:id/revoke',
    writeLimit,
    fresh,
    route({ params: idParamSchema, body: revokeSchema }, async ({ user, params, body }) => ({ request: await service.revoke(user, params.id, body.reason) })),
  );

  // Live updates: the events about requests this user may see, as Server-Sent Events.
  router.get(
    '/api/events',
    route({}, async ({ user, req, res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(': connected\n\n');
      const off = deps.events.on((event) => {
        // Observers see no requests, but they hear of their site's live sessions.
        const subject = { siteId: event.siteId, requesterId: event.requesterId };
        // A file through the airlock: the site's plant managers, who decide it, hear of it (the file screen).
        if (event.type === 'session.file') {
          if (mayDecideSiteFiles(user, event.siteId)) res.write(`event: ${event.type}\ndata: ${JSON.stringify(presentLiveEvent(event))}\n\n`);
          return;
        }
        if (!canSeeRequest(user, subject) && !(event.type.startsWith('session.') && maySeeLiveSession(user, { machine: { siteId: event.siteId }, user: { id: event.requesterId } }))) return;
        res.write(`event: ${event.type}\ndata: ${JSON.stringify(presentLiveEvent(event))}\n\n`);
      });
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
      req.on('close', () => {
        off();
        clearInterval(keepalive);
      });
      return undefined;
    }),
  );

  return router;
}
