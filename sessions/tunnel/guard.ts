// The upgrade guard on the portal's HTTP server: before guacamole-lite or guacd see anything, a
// WebSocket upgrade must come from our origin, carry a signed-in session cookie and a ticket
// that was issued to that very browser session, and the grant must still hold. Any failure is
// an HTTP error on the raw socket, an audit event, and no connection to guacd.
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { RequestHandler } from 'express';
import { isAirlockUser, type AirlockUser } from '../../server/user.ts';
import { errorBody, errorMessage, toAppError } from '../../server/errors.ts';
import { clampDisplay, type Display } from './settings.ts';
import { TUNNEL_PATH, type Tickets } from '../tickets.ts';
import type { AuthorizedUpgrade, UpgradeAuthorizer } from '../authorizer.ts';
import { Refusals } from '../refusals.ts';

/** The only query parameters a tunnel URL may carry; anything else is an injection attempt. */
const ALLOWED_QUERY = new Set(['ticket', 'width', 'height', 'dpi']);
/** Browser → portal frames are keystrokes and small clipboard chunks; cap what one may be. */
const MAX_FRAME_BYTES = 1024 * 1024;

interface GuardDeps {
  publicUrl: string;
  log: Logger;
  sessionMiddleware: RequestHandler;
  tickets: Tickets;
  authorizer: UpgradeAuthorizer;
  refusals: Refusals;
  /** The browser session's user, re-validated with the IdP when older than the max age (throws AppErrors). */
  freshUser(browserSessionId: string): Promise<AirlockUser>;
  /** This instance is draining: upgrades are refused before anything is read or consumed. */
  draining(): boolean;
  /** Takes over an authorized WebSocket (the broker's `open`). */
  open(ws: WebSocket, auth: AuthorizedUpgrade, display: Display): Promise<void>;
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
  socket.destroy();
}

/** Runs express-session on the upgrade request and returns the signed-in user, if any. */
function sessionUser(req: IncomingMessage, middleware: RequestHandler): Promise<{ user: AirlockUser | undefined; sessionId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const res = new http.ServerResponse(req);
    middleware(req as Parameters<RequestHandler>[0], res as unknown as Parameters<RequestHandler>[1], (err?: unknown) => {
      if (err !== undefined && err !== null) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const r = req as IncomingMessage & { session?: { id: string; passport?: { user?: unknown } } };
      const stored = r.session?.passport?.user;
      resolve({ user: isAirlockUser(stored) ? stored : undefined, sessionId: r.session?.id });
    });
  });
}

export function attachTunnel(server: http.Server, deps: GuardDeps): WebSocketServer {
  const { tickets, refusals, log } = deps;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_BYTES,
    handleProtocols: (protocols) => (protocols.has('guacamole') ? 'guacamole' : false),
  });

  async function guard(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://airlock.invalid');
    if (url.pathname !== TUNNEL_PATH) {
      refuse(socket, 404, 'not_found', 'No WebSocket here.');
      return;
    }
    if (deps.draining()) {
      // The ticket stays unspent: the browser's retry takes it to another instance.
      refuse(socket, 503, 'draining', 'This Airlock portal is restarting; open the session again in a moment.');
      return;
    }
    const ip = req.socket.remoteAddress ?? null;
    const { user, sessionId } = await sessionUser(req, deps.sessionMiddleware);
    // Refusals are counted per source: a source refused too often is turned away before any work.
    const source = Refusals.source(user, ip);
    const refused = (reason: string, requestId: string | null, details: Record<string, unknown>): Promise<void> =>
      refusals.record(user, 'session.upgrade', requestId, reason, { ...details, ip }, source);
    if (await refusals.overBudget(source)) {
      await refused('too_many_attempts', null, {});
      refuse(socket, 429, 'too_many_attempts', 'Too many refused connection attempts; wait a minute and open the session again.');
      return;
    }
    const origin = req.headers.origin;
    if (origin !== deps.publicUrl) {
      await refused('bad_origin', null, { origin: origin ?? null });
      refuse(socket, 403, 'bad_origin', 'This connection did not come from the Airlock page.');
      return;
    }
    if (user === undefined || sessionId === undefined) {
      await refused('unauthenticated', null, {});
      refuse(socket, 401, 'unauthenticated', 'Sign in first.');
      return;
    }
    // Opening a session is privileged: the user as the IdP says now, not as the cookie remembers.
    let current: AirlockUser;
    try {
      current = await deps.freshUser(sessionId);
    } catch (err) {
      const e = toAppError(err);
      await refused(e.code, null, {});
      refuse(socket, e.status, e.code, e.message);
      return;
    }
    const extra = [...url.searchParams.keys()].filter((k) => !ALLOWED_QUERY.has(k));
    const display = clampDisplay({
      width: url.searchParams.get('width') ?? undefined,
      height: url.searchParams.get('height') ?? undefined,
      dpi: url.searchParams.get('dpi') ?? undefined,
    });
    if (extra.length > 0 || !display.ok || url.searchParams.getAll('ticket').length !== 1) {
      // Burn the ticket too: whoever crafted this URL does not get a second try with it.
      const ticket = url.searchParams.get('ticket');
      if (ticket !== null) await tickets.consume(ticket);
      const what = extra.length > 0 ? `unexpected parameter(s): ${extra.join(', ')}` : !display.ok ? `invalid ${display.field}` : 'exactly one ticket is needed';
      await refused('bad_parameters', null, { parameters: extra, display: display.ok ? null : display.field });
      refuse(socket, 400, 'bad_parameters', `The tunnel accepts only a ticket and the display size: ${what}.`);
      return;
    }
    const binding = await tickets.consume(url.searchParams.get('ticket') ?? '');
    if (binding === undefined) {
      await refused('invalid_ticket', null, {});
      refuse(socket, 403, 'invalid_ticket', 'This session link is not valid (used, expired or unknown). Open the session again.');
      return;
    }
    if (binding.userId !== current.id || binding.browserSessionId !== sessionId) {
      await refused('ticket_not_yours', binding.requestId, { ticketUser: binding.userId });
      refuse(socket, 403, 'ticket_not_yours', 'This session link was issued to someone else.');
      return;
    }
    let authorized;
    try {
      authorized = await deps.authorizer.authorize(binding, current);
    } catch (err) {
      const e = toAppError(err);
      await refused(e.code, binding.requestId, {});
      refuse(socket, e.status, e.code, e.message);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // A malformed frame (bad UTF-8, RSV1, unmasked, too large…) must end this connection only:
      // ws closes it; without a listener its 'error' would take the process down. Sessions add their own.
      ws.on('error', (err: Error & { code?: string }) => log.warn({ code: err.code, user: current.id }, 'WebSocket protocol error from the browser'));
      deps.open(ws, authorized, display.display).catch((err: unknown) => {
        log.error({ err: { message: errorMessage(err) } }, 'session open failed');
        ws.close(1011, 'internal error');
      });
    });
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A garbage client must not take the process down: socket errors end that socket only.
    socket.on('error', () => socket.destroy());
    guard(req, socket, head).catch((err: unknown) => {
      // Fail closed: Redis down, audit unwritable… nobody gets in.
      log.error({ err: { message: errorMessage(err) } }, 'upgrade guard failed');
      refuse(socket, 503, 'unavailable', 'Sessions are unavailable right now; try again shortly.');
    });
  });
  return wss;
}
