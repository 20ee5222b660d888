// Session API (docs/api.md, "Brokered sessions"): tickets to open or watch a session, the list
// of live sessions, and terminate. The WebSocket itself is tunnel/guard.ts.
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { route } from '../server/http/validate.ts';
import { unauthenticated } from '../server/errors.ts';
import type { SessionBroker } from './broker.ts';
import type { SessionTicket, Tickets } from './tickets.ts';
import type { presentLiveSession } from './registry.ts';
import { OBSERVER_ACTIONS } from './observation.ts';

/** The answers of this API as the browser reads them (client/src/api.ts imports these types). */
export type OpenedSessionView = SessionTicket;
export type TunnelTicketView = Awaited<ReturnType<Tickets['issueForWatch']>>;
export type LiveSessionView = ReturnType<typeof presentLiveSession>;

const openSchema = z.strictObject({ requestId: z.uuid() });
const sessionParam = z.strictObject({ id: z.uuid() });
const observerSchema = z.strictObject({ action: z.enum(OBSERVER_ACTIONS) });
const terminateSchema = z.strictObject({ reason: z.string().trim().max(2000).optional(), revoke: z.boolean().optional() });

/** `fresh` re-validates the user with the IdP (identity freshness) before every privileged call. */
export function sessionRoutes(broker: SessionBroker, fresh: RequestHandler): Router {
  const router = Router();
  const browserSession = (req: { session?: { id?: string } }): string => {
    const id = req.session?.id;
    if (id === undefined) throw unauthenticated();
    return id;
  };

  router.post(
    '/api/sessions',
    fresh,
    route({ body: openSchema }, async ({ user, body, req }) => ({ session: await broker.tickets.issueForSession(user, browserSession(req), body.requestId) }), 201),
  );
  router.get('/api/sessions', route({}, async ({ user }) => ({ sessions: await broker.list(user) })));
  router.post(
    '/api/sessions/:id/watch',
    fresh,
    route({ params: sessionParam }, async ({ user, params, req }) => broker.tickets.issueForWatch(user, browserSession(req), params.id)),
  );
  router.post(
    '/api/sessions/:id/observer',
    fresh,
    route({ params: sessionParam, body: observerSchema }, async ({ user, params, body }) => broker.observe(user, params.id, body.action)),
  );
  router.post(
    '/api/sessions/:id/terminate',
    fresh,
    route({ params: sessionParam, body: terminateSchema }, async ({ user, params, body }) => {
      await broker.terminate(user, params.id, body.reason, { revoke: body.revoke === true });
      return undefined;
    }),
  );
  return router;
}
