// The session broker: turns a valid grant into a recorded guacd session and keeps it honest —
// tickets, paced set-up with a `ready` timeout, mandatory recording with a watchdog, the
// input-event log, window end and warnings, revoke and terminate on any instance, live view,
// and the registry of live sessions. The upgrade guard (upgrade.ts) calls `authorize` and `open`.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../server/config.ts';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { WARN_MINUTES } from '../server/domain.ts';
import type { AirlockUser } from '../server/user.ts';
import { AppError, forbidden, notFound, unavailable } from '../server/errors.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { EventBus, DomainEvent } from '../server/events/bus.ts';
import type { InventoryStore } from '../server/inventory/store.ts';
import type { Vault } from '../server/vault/vault.ts';
import type { RequestService } from '../server/requests/service.ts';
import { hasRole, isSiteApprover } from '../server/policies.ts';
import type { Machine, Policy } from '../server/inventory/schema.ts';
import { TicketStore, type TicketBinding } from './tickets.ts';
import { connectionSettings, joinSettings, type Display } from './tunnel/settings.ts';
import { BrokeredConnection, GUAC_STATUS } from './tunnel/transport.ts';
import { RecordingWatchdog, spoolProblem, type SpoolProblem } from './recording-watchdog.ts';
import { InputEventLog } from './input-log.ts';
import { InputPolicy } from './input-policy.ts';
import { Pacer } from './tunnel/pacer.ts';
import { HEARTBEAT_INTERVAL_MS, presentLiveSession, SessionRegistry, type LiveSessionRecord } from './registry.ts';
import type { Finaliser, SessionContext } from '../recordings/finaliser.ts';


const SPOOL_MESSAGES: Record<SpoolProblem, string> = {
  spool_unwritable: 'Sessions are unavailable: the recording storage cannot be written. No recording, no session.',
  disk_low: 'Sessions are unavailable: the recording disk is nearly full. No recording, no session.',
};

export interface SessionTicket {
  id: string;
  ticket: string;
  tunnelPath: string;
  machine: { id: string; name: string; protocol: string };
  endsAt: string;
  policy: Policy;
}

/** What the guard learned, passed on to `open`. */
export interface AuthorizedUpgrade {
  binding: TicketBinding;
  user: AirlockUser;
  machine: Machine;
  /** kind session: the grant's policy and end; kind watch: the watched session. */
  policy: Policy;
  endsAt: Date;
  watched: LiveSessionRecord | undefined;
}

interface ActiveSession {
  record: LiveSessionRecord | undefined;
  requestId: string;
  conn: BrokeredConnection;
  endReason: string | undefined;
  /** For a live view: the session it watches (which may live on another instance). */
  watching: string | undefined;
}

type ControlMessage = { type: 'terminate'; sessionId: string; by: { id: string; name: string }; reason: string | null };

export const TUNNEL_PATH = '/tunnel';

export class SessionBroker {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly redis: RedisClient;
  private readonly audit: AuditLog;
  private readonly events: EventBus;
  private readonly inventory: InventoryStore;
  private readonly vault: Vault;
  private readonly requests: RequestService;
  private readonly finaliser: Finaliser;
  readonly tickets: TicketStore;
  readonly registry: SessionRegistry;
  private readonly pacer: Pacer;
  private readonly local = new Map<string, ActiveSession>();
  private subscriber: RedisClient | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private offEvents: (() => void) | undefined;

  constructor(deps: {
    config: Config;
    log: Logger;
    redis: RedisClient;
    audit: AuditLog;
    events: EventBus;
    inventory: InventoryStore;
    vault: Vault;
    requests: RequestService;
    finaliser: Finaliser;
  }) {
    this.config = deps.config;
    this.log = deps.log.child({ module: 'broker' });
    this.redis = deps.redis;
    this.audit = deps.audit;
    this.events = deps.events;
    this.inventory = deps.inventory;
    this.vault = deps.vault;
    this.requests = deps.requests;
    this.finaliser = deps.finaliser;
    this.tickets = new TicketStore(deps.redis);
    this.registry = new SessionRegistry(deps.redis, deps.config.instanceId);
    this.pacer = new Pacer(deps.config.broker.guacdPaceMs, deps.config.broker.guacdMaxSetups);
  }

  async start(): Promise<void> {
    await this.registry.heartbeat();
    await this.healRegistry();
    await this.finaliseOrphans();
    this.heartbeat = setInterval(() => {
      this.registry
        .heartbeat()
        .then(() => this.healRegistry())
        .then(() => this.finaliseOrphans())
        .catch((err: unknown) => this.log.warn({ err: { message: (err as Error).message } }, 'session registry heartbeat failed'));
    }, HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
    // Terminate requests reach every instance; the one holding the session acts.
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('error', () => {
      // The main client logs outages; this one reconnects and resubscribes by itself.
    });
    await this.subscriber.connect();
    await this.subscriber.subscribe(keys.sessions.controlChannel, (message: string) => this.onControl(message));
    this.offEvents = this.events.on((event) => this.onDomainEvent(event));
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.offEvents?.();
    for (const s of this.local.values()) s.conn.end('The portal is restarting; reconnect in a moment.', GUAC_STATUS.SESSION_CLOSED);
    this.subscriber?.destroy();
  }

  /** Sessions this instance holds (for tests and metrics). */
  localSessionIds(): string[] {
    return [...this.local.keys()];
  }

  // ---- tickets (HTTP API) ----

  /** POST /api/sessions: a ticket to open the grant's machine now. */
  async issueSessionTicket(user: AirlockUser, browserSessionId: string, requestId: string): Promise<SessionTicket> {
    const request = await this.requests.get(user, requestId);
    if (request.requester.id !== user.id) throw notFound('unknown_request', 'No such request.');
    const grant = await this.requests.grantFor(user.id, request.machine.id);
    if (grant === undefined || grant.requestId !== requestId) {
      await this.refusal(user, 'session.ticket', requestId, 'no_grant');
      throw forbidden('no_grant', 'You have no access to this machine right now: the grant is not valid at this time.');
    }
    const machine = await this.inventory.machine(request.machine.id);
    if (machine === undefined) throw notFound('unknown_machine', 'This machine is no longer in the inventory.');
    await this.assertRecordable(user, requestId);
    if (!(await this.vault.has(machine.id))) {
      await this.refusal(user, 'session.ticket', requestId, 'no_credential');
      throw unavailable('machine_not_configured', 'This machine has no credential configured; ask an administrator.');
    }
    const id = randomUUID();
    const ticket = await this.tickets.issue({ kind: 'session', userId: user.id, browserSessionId, machineId: machine.id, requestId, sessionId: id });
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
  async issueWatchTicket(user: AirlockUser, browserSessionId: string, sessionId: string): Promise<{ ticket: string; tunnelPath: string }> {
    const session = await this.registry.get(sessionId);
    if (session === undefined || !this.mayOversee(user, session)) throw notFound('unknown_session', 'No such live session.');
    const ticket = await this.tickets.issue({
      kind: 'watch',
      userId: user.id,
      browserSessionId,
      machineId: session.machine.id,
      requestId: session.requestId,
      sessionId,
    });
    return { ticket, tunnelPath: TUNNEL_PATH };
  }

  mayOversee(user: AirlockUser, session: { machine: { siteId: string } }): boolean {
    return hasRole(user, 'admin') || isSiteApprover(user, session.machine.siteId);
  }

  async list(user: AirlockUser): Promise<ReturnType<typeof presentLiveSession>[]> {
    const all = await this.registry.all();
    const visible = all.filter((s) => hasRole(user, 'auditor') || this.mayOversee(user, s) || s.user.id === user.id);
    return visible.map(presentLiveSession);
  }

  /** POST /api/sessions/:id/terminate: ends the session on whichever instance holds it. */
  async terminate(user: AirlockUser, sessionId: string, reason: string | undefined): Promise<void> {
    const session = await this.registry.get(sessionId);
    if (session === undefined || !this.mayOversee(user, session)) throw notFound('unknown_session', 'No such live session.');
    await this.audit.append({
      actor: { id: user.id, name: user.name },
      action: 'session.terminated',
      target: { type: 'session', id: sessionId },
      outcome: 'ok',
      reason: reason ?? null,
      details: { requestId: session.requestId, machine: session.machine.id, holder: session.instance },
      site: session.machine.siteId,
    });
    const message: ControlMessage = { type: 'terminate', sessionId, by: { id: user.id, name: user.name }, reason: reason ?? null };
    await this.redis.publish(keys.sessions.controlChannel, JSON.stringify(message));
  }

  // ---- the upgrade (called by upgrade.ts after Origin, cookie and ticket checks) ----

  /**
   * Re-checks, at the moment of connection, everything the ticket stood for. Throws an AppError
   * whose status the guard answers with; nothing has reached guacd yet.
   */
  async authorize(binding: TicketBinding, user: AirlockUser): Promise<AuthorizedUpgrade> {
    const machine = await this.inventory.machine(binding.machineId);
    if (machine === undefined) throw new AppError(409, 'grant_invalid', 'The machine is no longer in the inventory.');
    if (binding.kind === 'watch') {
      const watched = await this.registry.get(binding.sessionId);
      if (watched === undefined) throw new AppError(409, 'session_gone', 'The session has ended.');
      if (!this.mayOversee(user, watched)) throw forbidden('forbidden', 'You may not watch this session.');
      return { binding, user, machine, policy: watched.policy, endsAt: new Date(watched.endsAt), watched };
    }
    const grant = await this.requests.grantFor(user.id, machine.id);
    if (grant === undefined || grant.requestId !== binding.requestId) {
      throw new AppError(409, 'grant_invalid', 'The grant is not valid now (expired, revoked or not yet started).');
    }
    const problem = await spoolProblem(this.config.recording.spool, this.config.recording.minFreeBytes);
    if (problem !== undefined) throw unavailable('recording_unavailable', SPOOL_MESSAGES[problem]);
    return { binding, user, machine, policy: grant.policy, endsAt: grant.end, watched: undefined };
  }

  /** Hands an authorized WebSocket to guacd (through guacamole-lite) and supervises it. */
  async open(ws: WebSocket, auth: AuthorizedUpgrade, display: Display): Promise<void> {
    if (auth.binding.kind === 'watch' && auth.watched !== undefined) {
      this.openWatch(ws, auth, auth.watched, display);
      return;
    }
    const { machine, user, binding } = auth;
    const guacd = this.config.guacds[machine.guacd];
    const credential = await this.vault.reveal(machine.id);
    if (guacd === undefined || credential === undefined) {
      ws.close(1011, 'machine not configured');
      await this.refusal(user, 'session.open', binding.requestId, guacd === undefined ? 'unknown_guacd' : 'no_credential');
      return;
    }
    const sessionId = binding.sessionId;
    const spool = this.config.recording.spool;
    const recordingFile = path.join(spool, sessionId);
    const files = machine.protocol === 'ssh' || machine.protocol === 'telnet' ? [recordingFile, `${recordingFile}.typescript`] : [recordingFile];
    const settings = connectionSettings(machine, credential, auth.policy, { spool, name: sessionId }, display);

    const policy = new InputPolicy(auth.policy, false);
    let conn: BrokeredConnection | undefined;
    const end = (message: string, status: number, reason: string): void => {
      const active = this.local.get(sessionId);
      if (active !== undefined && active.endReason === undefined) active.endReason = reason;
      conn?.end(message, status);
    };
    const inputLog = new InputEventLog(`${recordingFile}.events.jsonl`, () => end('Recording failed; the session was ended.', GUAC_STATUS.SERVER_ERROR, 'input_log_failed'));
    const watchdog = new RecordingWatchdog(files, (reason) => end('Recording failed; the session was ended.', GUAC_STATUS.SERVER_ERROR, reason));
    const timers: NodeJS.Timeout[] = [];
    const startedAt = new Date();
    let ready = false;

    const setupDone = await this.pacer.slot(machine.guacd);
    if (ws.readyState !== ws.OPEN) {
      setupDone();
      await inputLog.close();
      return;
    }
    conn = new BrokeredConnection(ws, {
      sessionId,
      selector: { type: machine.protocol },
      settings,
      guacd,
      log: this.log,
      hooks: {
        onReady: (guacdConnectionId) => {
          ready = true;
          setupDone();
          watchdog.start();
          const record: LiveSessionRecord = {
            id: sessionId,
            requestId: binding.requestId,
            machine: { id: machine.id, name: machine.name, siteId: machine.siteId, protocol: machine.protocol },
            user: { id: user.id, name: user.name, company: user.company ?? null },
            instance: this.config.instanceId,
            startedAt: startedAt.toISOString(),
            endsAt: auth.endsAt.toISOString(),
            policy: auth.policy,
            guacd: machine.guacd,
            guacdConnectionId,
          };
          const active = this.local.get(sessionId);
          if (active !== undefined) active.record = record;
          void this.sessionStarted(record, user);
        },
        onOutput: (bytes) => watchdog.outputFlowed(bytes),
        onInput: (instruction) => {
          const decision = policy.decide(instruction);
          if (decision.allow) inputLog.observe(instruction);
          else inputLog.write({ type: 'blocked', opcode: instruction[0] ?? '', reason: decision.reason });
          return decision.allow;
        },
        onClose: (error) => {
          setupDone();
          watchdog.stop();
          for (const t of timers) clearTimeout(t);
          const active = this.local.get(sessionId);
          this.local.delete(sessionId);
          const reason = active?.endReason ?? (error === undefined ? 'disconnected' : ready ? 'connection_error' : 'guacd_error');
          void inputLog.close().then(() => this.sessionEnded(sessionId, active?.record, user, binding.requestId, machine, reason, startedAt));
        },
      },
    });
    this.local.set(sessionId, { record: undefined, requestId: binding.requestId, conn, endReason: undefined, watching: undefined });
    // What the finaliser needs even if this process dies mid-session.
    try {
      await this.finaliser.writeContext({
        sessionId,
        requestId: binding.requestId,
        machine: { id: machine.id, name: machine.name, siteId: machine.siteId, protocol: machine.protocol },
        user: { id: user.id, name: user.name, company: user.company ?? null },
        policy: auth.policy,
        startedAt: startedAt.toISOString(),
        instance: this.config.instanceId,
      });
    } catch {
      setupDone();
      this.local.delete(sessionId);
      await inputLog.close();
      ws.close(1011, 'recording unavailable');
      await this.refusal(user, 'session.open', binding.requestId, 'spool_unwritable');
      return;
    }

    // guacd 1.3 can hang in set-up: give up cleanly instead of leaving the vendor waiting.
    timers.push(
      setTimeout(() => {
        if (!ready) end('The machine did not answer in time; try again.', GUAC_STATUS.UPSTREAM_TIMEOUT, 'ready_timeout');
      }, this.config.broker.readyTimeoutMs),
    );
    // The window's end is enforced here, server-side, whatever the browser does.
    const msLeft = auth.endsAt.getTime() - Date.now();
    timers.push(setTimeout(() => end('The access window has ended.', GUAC_STATUS.SESSION_TIMEOUT, 'window_ended'), Math.max(0, msLeft)));
    for (const minutes of WARN_MINUTES) {
      const at = msLeft - minutes * 60_000;
      if (at > 0) timers.push(setTimeout(() => void this.warn(binding.requestId, machine, user, sessionId, minutes), at));
    }
    for (const t of timers) t.unref();
    conn.start(guacd);
  }

  private openWatch(ws: WebSocket, auth: AuthorizedUpgrade, watched: LiveSessionRecord, display: Display): void {
    const guacd = this.config.guacds[watched.guacd];
    if (guacd === undefined) {
      ws.close(1011, 'unknown guacd');
      return;
    }
    const watchId = randomUUID();
    const policy = new InputPolicy(watched.policy, true);
    const startedAt = Date.now();
    const conn = new BrokeredConnection(ws, {
      sessionId: watchId,
      selector: { join: watched.guacdConnectionId },
      settings: joinSettings(watched.guacdConnectionId, display),
      guacd,
      log: this.log,
      hooks: {
        onReady: () => {
          void this.audit.append({
            actor: { id: auth.user.id, name: auth.user.name },
            action: 'session.watch_started',
            target: { type: 'session', id: watched.id },
            outcome: 'ok',
            reason: null,
            details: { machine: watched.machine.id, vendor: watched.user.id },
            site: watched.machine.siteId,
          });
        },
        onOutput: () => undefined,
        onInput: (instruction) => policy.decide(instruction).allow,
        onClose: () => {
          this.local.delete(watchId);
          void this.audit.append({
            actor: { id: auth.user.id, name: auth.user.name },
            action: 'session.watch_ended',
            target: { type: 'session', id: watched.id },
            outcome: 'ok',
            reason: null,
            details: { seconds: Math.round((Date.now() - startedAt) / 1000) },
            site: watched.machine.siteId,
          });
        },
      },
    });
    this.local.set(watchId, { record: undefined, requestId: watched.requestId, conn, endReason: undefined, watching: watched.id });
    conn.start(guacd);
  }

  // ---- lifecycle events ----

  private async sessionStarted(record: LiveSessionRecord, user: AirlockUser): Promise<void> {
    try {
      await this.registry.add(record);
      await this.requests.markActive(record.requestId, { id: user.id, name: user.name });
      await this.audit.append({
        actor: { id: user.id, name: user.name },
        action: 'session.started',
        target: { type: 'session', id: record.id },
        outcome: 'ok',
        reason: null,
        details: { requestId: record.requestId, machine: record.machine.id, protocol: record.machine.protocol, instance: record.instance },
        site: record.machine.siteId,
      });
      await this.publish('session.started', record, user.id);
    } catch (err) {
      // Without a registry entry and an audit trail the session may not go on: fail closed.
      this.log.error({ err: { message: (err as Error).message }, sessionId: record.id }, 'could not record the session start');
      const active = this.local.get(record.id);
      if (active !== undefined) {
        active.endReason = 'store_unavailable';
        active.conn.end('Airlock cannot record this session right now; it was ended.', GUAC_STATUS.SERVER_ERROR);
      }
    }
  }

  private async sessionEnded(sessionId: string, record: LiveSessionRecord | undefined, user: AirlockUser, requestId: string, machine: Machine, reason: string, startedAt: Date): Promise<void> {
    try {
      if (record !== undefined) await this.registry.remove(sessionId);
      await this.audit.append({
        actor: { id: user.id, name: user.name },
        action: record === undefined ? 'session.failed' : 'session.ended',
        target: { type: 'session', id: sessionId },
        outcome: 'ok',
        reason,
        details: { requestId, machine: machine.id, seconds: Math.round((Date.now() - startedAt.getTime()) / 1000) },
        site: machine.siteId,
      });
      if (record !== undefined) await this.publish('session.ended', record, user.id, reason);
    } catch (err) {
      this.log.error({ err: { message: (err as Error).message }, sessionId, reason }, 'could not record the session end');
    }
    try {
      await this.finaliser.finalise(sessionId, { endedAt: new Date(), endReason: reason });
    } catch (err) {
      // The files stay in the spool; the orphan sweep finalises them later.
      this.log.error({ err: { message: (err as Error).message }, sessionId }, 'finalising the recording failed');
    }
  }

  /** Sessions in the spool whose instance died, or that this instance no longer holds. */
  private async finaliseOrphans(): Promise<void> {
    await this.finaliser.pickUpOrphans(async (context: SessionContext) =>
      context.instance === this.config.instanceId ? !this.local.has(context.sessionId) : (await this.redis.exists(keys.sessions.instance(context.instance))) === 0,
    );
  }

  private async warn(requestId: string, machine: Machine, user: AirlockUser, sessionId: string, minutes: number): Promise<void> {
    await this.events.publish({
      type: 'grant.ending_soon',
      requestId,
      state: 'active',
      siteId: machine.siteId,
      requesterId: user.id,
      actorId: null,
      at: new Date().toISOString(),
      sessionId,
      minutesLeft: minutes,
    });
  }

  private async publish(type: 'session.started' | 'session.ended', record: LiveSessionRecord, userId: string, reason?: string): Promise<void> {
    await this.events.publish({
      type,
      requestId: record.requestId,
      state: type === 'session.started' ? 'active' : 'ended',
      siteId: record.machine.siteId,
      requesterId: userId,
      actorId: userId,
      at: new Date().toISOString(),
      sessionId: record.id,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  private onControl(message: string): void {
    let control: ControlMessage;
    try {
      control = JSON.parse(message) as ControlMessage;
    } catch {
      return;
    }
    const active = this.local.get(control.sessionId);
    if (control.type !== 'terminate' || active === undefined) return;
    active.endReason = 'terminated';
    active.conn.end(`The session was terminated by ${control.by.name}${control.reason ? `: ${control.reason}` : '.'}`, GUAC_STATUS.SESSION_CLOSED);
  }

  private onDomainEvent(event: DomainEvent): void {
    if (event.type === 'session.ended') {
      // guacd keeps a joined viewer open after the session it watched is gone: end it here.
      for (const active of this.local.values()) {
        if (active.watching === event.sessionId) active.conn.end('The session you were watching has ended.', GUAC_STATUS.SESSION_CLOSED);
      }
      return;
    }
    if (event.type !== 'grant.revoked' && event.type !== 'request.cancelled') return;
    for (const active of this.local.values()) {
      if (active.requestId !== event.requestId) continue;
      active.endReason = 'revoked';
      active.conn.end('Access to this machine was revoked.', GUAC_STATUS.SESSION_CLOSED);
    }
  }

  private async healRegistry(): Promise<void> {
    for (const lost of await this.registry.heal()) {
      await this.audit.append({
        actor: null,
        action: 'session.lost',
        target: { type: 'session', id: lost.id },
        outcome: 'ok',
        reason: 'instance_lost',
        details: { instance: lost.instance, requestId: lost.requestId, machine: lost.machine.id },
        site: lost.machine.siteId,
      });
      await this.publish('session.ended', lost, lost.user.id, 'instance_lost');
    }
  }

  private async assertRecordable(user: AirlockUser, requestId: string): Promise<void> {
    const problem = await spoolProblem(this.config.recording.spool, this.config.recording.minFreeBytes);
    if (problem === undefined) return;
    await this.refusal(user, 'session.ticket', requestId, problem);
    throw unavailable('recording_unavailable', SPOOL_MESSAGES[problem]);
  }

  /** Audits a refused attempt (who, what, why). */
  async refusal(user: AirlockUser | undefined, action: string, requestId: string | null, reason: string, details: Record<string, unknown> = {}): Promise<void> {
    await this.audit.append({
      actor: user === undefined ? null : { id: user.id, name: user.name },
      action,
      target: requestId === null ? null : { type: 'request', id: requestId },
      outcome: 'refused',
      reason,
      details,
      site: null,
    });
  }
}
