// One-time tickets: what the browser holds instead of a guacamole-lite token, an address or a
// credential. 256 random bits, stored (by hash) for ~30 s, bound to the user, the browser
// session, the grant and the machine, consumed atomically (GETDEL) by the upgrade guard.
// Issuing checks what can be checked before the WebSocket: the grant, the spool, the credential,
// and the machine's step-up (a recent sign-in with a second factor).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { durableCommand, type RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import type { AirlockUser } from '../server/user.ts';
import { AppError, forbidden, notFound, unavailable } from '../server/errors.ts';
import { mayOverseeSession } from '../server/policies.ts';
import type { InventoryStore } from '../server/inventory/store.ts';
import { hostKeyRefusal } from '../server/inventory/host-keys.ts';
import type { Mode } from '../server/config.ts';
import type { Policy } from '../server/inventory/schema.ts';
import type { Vault } from '../server/vault/vault.ts';
import type { RequestService } from '../server/requests/service.ts';
import { SPOOL_MESSAGES, spoolProblem } from '../recordings/spool.ts';
import type { SessionRegistry } from './registry.ts';
import type { GuacdHealth } from './tunnel/guacd-health.ts';
import type { Refusals } from './refusals.ts';
import { IdentityStore } from '../server/auth/identity-store.ts';
import { stepUpRequired, stepUpSatisfied } from '../server/auth/step-up.ts';

/** Long enough for a browser to open the WebSocket, short enough that a leaked ticket is stale. */
export const TICKET_TTL_SECONDS = 30;
const TICKET_BYTES = 32;

const bindingSchema = z.strictObject({
  kind: z.enum(['session', 'watch']),
  userId: z.string(),
  /** The express-session id of the browser that asked. */
  browserSessionId: z.string(),
  machineId: z.string(),
  /** kind session: the grant (request id); kind watch: the request of the watched session. */
  requestId: z.string(),
  /** kind session: the session id to create; kind watch: the live session to join. */
  sessionId: z.string(),
  /** When the ticket was issued (ms since the epoch): set-up latency is measured from here. */
  issuedAt: z.number().int().optional(),
});
export type TicketBinding = z.infer<typeof bindingSchema>;

const hashTicket = (ticket: string): string => createHash('sha256').update(ticket).digest('hex');

export class TicketStore {
  private readonly redis: RedisClient;

  constructor(redis: RedisClient) {
    this.redis = redis;
  }

  async issue(binding: TicketBinding): Promise<string> {
    const ticket = randomBytes(TICKET_BYTES).toString('base64url');
    await this.redis.set(keys.sessions.ticket(hashTicket(ticket)), JSON.stringify({ ...binding, issuedAt: Date.now() }), { EX: TICKET_TTL_SECONDS });
    return ticket;
  }

  /**
   * Consumes a ticket: the first caller gets its binding, every later one undefined. The GETDEL
   * is durable (WAIT with Sentinel): a deletion only the master knew of would be undone by a
   * failover and the ticket usable again, so an unconfirmed one throws and the upgrade is refused.
   */
  async consume(ticket: string): Promise<TicketBinding | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(ticket)) return undefined;
    const json = await durableCommand(this.redis, ['GETDEL', keys.sessions.ticket(hashTicket(ticket))]);
    if (typeof json !== 'string') return undefined;
    const parsed = bindingSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  }
}

export const TUNNEL_PATH = '/tunnel';

export interface SessionTicket {
  id: string;
  ticket: string;
  tunnelPath: string;
  machine: { id: string; name: string; protocol: string };
  endsAt: string;
  policy: Policy;
}

export interface TicketDeps {
  redis: RedisClient;
  requests: RequestService;
  inventory: InventoryStore;
  vault: Vault;
  registry: SessionRegistry;
  refusals: Refusals;
  recording: { spool: string; minFreeBytes: number };
  guacdHealth: GuacdHealth;
  /** `standard` refuses SSH machines without a pinned host key (host-keys.ts). */
  mode: Mode;
  /** This instance is draining (restarting): sessions open elsewhere. */
  draining(): boolean;
}

/** A draining instance's answer: not a fault, the retry lands on another instance. */
export const drainingError = (): AppError =>
  new AppError(503, 'draining', 'This Airlock portal is restarting; open the session again in a moment.', { report: false });

/** The ticket office: issues tickets for the HTTP API and consumes them for the upgrade guard. */
export class Tickets {
  private readonly deps: TicketDeps;
  private readonly store: TicketStore;
  /** The sign-ins' identity records: when the browser session's second factor was last shown (step-up). */
  private readonly signIns: IdentityStore;

  constructor(deps: TicketDeps) {
    this.deps = deps;
    this.store = new TicketStore(deps.redis);
    this.signIns = new IdentityStore(deps.redis);
  }

  /** POST /api/sessions: a ticket to open the grant's machine now. */
  async issueForSession(user: AirlockUser, browserSessionId: string, requestId: string): Promise<SessionTicket> {
    const { requests, inventory, vault, refusals } = this.deps;
    if (this.deps.draining()) throw drainingError();
    const request = await requests.get(user, requestId);
    if (request.requester.id !== user.id) throw notFound('unknown_request', 'No such request.');
    const grant = await requests.grantOf(requestId, user.id, request.machine.id);
    if (grant === undefined) {
      await refusals.record(user, 'session.ticket', requestId, 'no_grant');
      throw forbidden('no_grant', 'You have no access to this machine right now: the grant is not valid at this time.');
    }
    const machine = await inventory.machine(request.machine.id);
    if (machine === undefined) throw notFound('unknown_machine', 'This machine is no longer in the inventory.');
    const untrusted = hostKeyRefusal(machine, this.deps.mode);
    if (untrusted !== undefined) {
      await refusals.record(user, 'session.ticket', requestId, untrusted.code);
      throw untrusted;
    }
    const problem = await spoolProblem(this.deps.recording.spool, this.deps.recording.minFreeBytes);
    if (problem !== undefined) {
      await refusals.record(user, 'session.ticket', requestId, problem);
      throw unavailable('recording_unavailable', SPOOL_MESSAGES[problem]);
    }
    if (this.deps.guacdHealth.status(machine.guacd)?.ok === false) {
      await refusals.record(user, 'session.ticket', requestId, 'guacd_unavailable', { guacd: machine.guacd });
      throw unavailable('guacd_unavailable', "The machine could not be reached: the plant's remote-access gateway is not answering. Try again in a few minutes.");
    }
    if (!(await vault.has(machine.id))) {
      await refusals.record(user, 'session.ticket', requestId, 'no_credential');
      throw unavailable('machine_not_configured', 'This machine has no credential configured; ask an administrator.');
    }
    // Last: the person re-authenticates only for a session that would otherwise open.
    if (machine.stepUpMinutes !== undefined && !stepUpSatisfied(await this.signIns.get(browserSessionId), machine.stepUpMinutes)) {
      await refusals.record(user, 'session.ticket', requestId, 'step_up_required', { stepUpMinutes: machine.stepUpMinutes });
      throw stepUpRequired(machine.stepUpMinutes);
    }
    const id = randomUUID();
    const ticket = await this.store.issue({ kind: 'session', userId: user.id, browserSessionId, machineId: machine.id, requestId, sessionId: id });
    return {
      id,
      ticket,
      tunnelPath: TUNNEL_PATH,
      machine: { id: machine.id, name: machine.name, protocol: machine.protocol },
      endsAt: grant.end.toISOString(),
      policy: grant.policy,
    };
  }

  /** POST /api/sessions/:id/watch: a ticket to join a live session read-only. */
  async issueForWatch(user: AirlockUser, browserSessionId: string, sessionId: string): Promise<{ ticket: string; tunnelPath: string }> {
    if (this.deps.draining()) throw drainingError();
    const session = await this.deps.registry.get(sessionId);
    if (session === undefined || !mayOverseeSession(user, session)) throw notFound('unknown_session', 'No such live session.');
    const ticket = await this.store.issue({
      kind: 'watch',
      userId: user.id,
      browserSessionId,
      machineId: session.machine.id,
      requestId: session.requestId,
      sessionId,
    });
    return { ticket, tunnelPath: TUNNEL_PATH };
  }

  /** The upgrade guard: the first caller gets the binding, every later one undefined. */
  consume(ticket: string): Promise<TicketBinding | undefined> {
    return this.store.consume(ticket);
  }
}
