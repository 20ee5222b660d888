// Required observer, across instances: where a session's observation lives (who watches as a
// plant observer: the watchers hash; paused and who holds the controls: its control hash), the
// observers' commands (pause, resume, take and return the controls), the nudges that make the
// holding instance's gate look again, the observers' input relayed to that instance, and what the
// gate reports (its state for the live list, audit events, the domain event chat and screens hear).
import { z } from 'zod';
import type { Logger } from 'pino';
import { secondConnection, type RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { conflict, errorMessage, notFound } from '../server/errors.ts';
import { assertMayObserve } from '../server/policies.ts';
import type { AirlockUser } from '../server/user.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { EventBus } from '../server/events/bus.ts';
import { observerSettings, type Machine } from '../server/inventory/schema.ts';
import { GUAC_STATUS } from './tunnel/transport.ts';
import type { GuacInstruction } from './tunnel/protocol.ts';
import type { LocalSessions } from './local.ts';
import type { LiveSessionRecord, SessionRegistry } from './registry.ts';
import { observersIn } from './watchers.ts';
import { ObserverGate, VENDOR_MESSAGES, type Actor, type Observation, type ObserverEvent, type ObserverView } from './observer-gate.ts';

export const OBSERVER_ACTIONS = ['pause', 'resume', 'take', 'return'] as const;
export type ObserverAction = (typeof OBSERVER_ACTIONS)[number];

const actorSchema = z.object({ id: z.string(), name: z.string() });
const nudgeSchema = z.object({ sessionId: z.string() });
/** Relayed input: only what a person types and points; the holding instance checks who holds the controls. */
const relayedSchema = z.object({ sessionId: z.string(), by: actorSchema, instruction: z.array(z.string()).min(1).max(8) });
const RELAYED_OPCODES = new Set(['key', 'mouse', 'touch']);

/** What each command does to the control hash, and what the audit log calls it. */
type ObserverAuditAction =
  | 'session.input_paused'
  | 'session.input_resumed'
  | 'session.control_taken'
  | 'session.control_returned'
  | 'session.observer_waiting'
  | 'session.observer_unconfirmed'
  | 'session.observer_joined'
  | 'session.observer_left';
type AuditAction = ObserverAuditAction;

const COMMANDS: Record<ObserverAction, { field: 'paused' | 'controller'; set: boolean; action: AuditAction }> = {
  pause: { field: 'paused', set: true, action: 'session.input_paused' },
  resume: { field: 'paused', set: false, action: 'session.input_resumed' },
  take: { field: 'controller', set: true, action: 'session.control_taken' },
  return: { field: 'controller', set: false, action: 'session.control_returned' },
};

/** Audit actions of the gate's own moments (commands are audited by whoever gave them). */
const GATE_AUDIT: Partial<Record<ObserverEvent['event'], AuditAction>> = {
  waiting: 'session.observer_waiting',
  unconfirmed: 'session.observer_unconfirmed',
  joined: 'session.observer_joined',
  left: 'session.observer_left',
};

/** A live session's side of its gate: what LiveSession gives it. */
export interface GateIo {
  inject(instruction: GuacInstruction): void;
  /** Tells the vendor's browser the state (a `msg` the session screen shows as a banner). */
  tell(state: string, message: string): void;
  /** Writes one moment into the recording's events. */
  note(event: ObserverEvent): void;
  end(message: string, status: number, reason: string): void;
}

/** A session connection that takes relayed observer input (LiveSession). */
export interface ObservedConnection {
  observerInput(by: Actor, instruction: GuacInstruction): void;
  refreshObservation(): void;
}

export interface ObservationDeps {
  redis: RedisClient;
  audit: AuditLog;
  events: EventBus;
  registry: SessionRegistry;
  local: LocalSessions;
  instanceId: string;
  log: Logger;
}

export class SessionObservation {
  private readonly deps: ObservationDeps;
  private subscriber: RedisClient | undefined;

  constructor(deps: ObservationDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    // While Redis is away, the gates' polls fail closed.
    this.subscriber = secondConnection(this.deps.redis);
    await this.subscriber.connect();
    await this.subscriber.subscribe(keys.sessions.observerChannel, (message: string) => {
      const nudge = parse(nudgeSchema, message);
      if (nudge !== undefined) this.connection(nudge.sessionId)?.refreshObservation();
    });
    await this.subscriber.subscribe(keys.sessions.observerInput(this.deps.instanceId), (message: string) => {
      const relayed = parse(relayedSchema, message);
      if (relayed === undefined || !RELAYED_OPCODES.has(relayed.instruction[0] ?? '')) return;
      this.connection(relayed.sessionId)?.observerInput(relayed.by, relayed.instruction);
    });
  }

  stop(): void {
    this.subscriber?.destroy();
  }

  private connection(sessionId: string): ObservedConnection | undefined {
    const c = this.deps.local.get(sessionId) as (ObservedConnection & { kind: string }) | undefined;
    return c?.kind === 'session' && typeof c.observerInput === 'function' ? c : undefined;
  }

  /** What the store says of a session's observation; throws when Redis does not answer (the gate holds input). */
  async read(sessionId: string): Promise<Observation> {
    const [watchers, control] = (await this.deps.redis.multi().hGetAll(keys.sessions.watchers(sessionId)).hGetAll(keys.sessions.observerControl(sessionId)).exec()) as unknown as [
      Record<string, string>,
      Record<string, string>,
    ];
    return { observers: observersIn(watchers), pausedBy: parseActor(control['paused']), controller: parseActor(control['controller']) };
  }

  /**
   * POST /api/sessions/:id/observer: an observer watching the session pauses or resumes the
   * vendor's input, takes the controls or gives them back. Audited here (the actor's act);
   * the holding instance's gate applies it at its next look, at once through a nudge.
   */
  async command(user: AirlockUser, sessionId: string, action: ObserverAction): Promise<{ observer: ObserverView | null }> {
    const session = await this.deps.registry.get(sessionId);
    if (session === undefined) throw notFound('unknown_session', 'No such live session.');
    assertMayObserve(user, session);
    const now = await this.read(sessionId);
    if (!now.observers.some((o) => o.id === user.id)) throw conflict('not_watching', 'Open the live view of this session first: only an observer who watches it can do this.');
    const { field, set, action: auditAction } = COMMANDS[action];
    const key = keys.sessions.observerControl(sessionId);
    if (set) await this.deps.redis.hSet(key, field, JSON.stringify({ id: user.id, name: user.name, at: new Date().toISOString() }));
    else await this.deps.redis.hDel(key, field);
    await this.deps.audit.append({
      actor: { id: user.id, name: user.name },
      action: auditAction,
      target: { type: 'session', id: sessionId },
      outcome: 'ok',
      reason: null,
      details: { requestId: session.requestId, machine: session.machine.id, vendor: session.user.id },
      site: session.machine.siteId,
    });
    await this.nudge(sessionId);
    return { observer: (await this.states([sessionId])).get(sessionId) ?? null };
  }

  /** Every instance's gate of this session looks again now. */
  async nudge(sessionId: string): Promise<void> {
    try {
      await this.deps.redis.publish(keys.sessions.observerChannel, JSON.stringify({ sessionId }));
    } catch (err) {
      // The gate's poll catches up within OBSERVATION_POLL_MS.
      this.deps.log.warn({ err: { message: errorMessage(err) }, sessionId }, 'observer nudge not published');
    }
  }

  /** An observer's input from a live view, to the instance holding the session (which decides). */
  relay(session: LiveSessionRecord, by: Actor, instruction: GuacInstruction): void {
    if (!RELAYED_OPCODES.has(instruction[0] ?? '')) return;
    this.deps.redis.publish(keys.sessions.observerInput(session.instance), JSON.stringify({ sessionId: session.id, by, instruction })).catch(() => {
      // Dropped, never queued: held input is not replayed later.
    });
  }

  /** The gates' last reported states, for the live list. */
  async states(sessionIds: readonly string[]): Promise<Map<string, ObserverView>> {
    const out = new Map<string, ObserverView>();
    if (sessionIds.length === 0) return out;
    const values = await this.deps.redis.mGet(sessionIds.map((id) => keys.sessions.observerState(id)));
    sessionIds.forEach((id, i) => {
      const json = values[i];
      if (typeof json !== 'string') return;
      try {
        out.set(id, JSON.parse(json) as ObserverView);
      } catch {
        // a torn value: shown as unknown
      }
    });
    return out;
  }

  /** The gate of a live session being opened on this instance. */
  gateFor(sessionId: string, machine: Machine, io: GateIo): SessionGate {
    return new SessionGate(this, this.deps, sessionId, machine, io);
  }
}

/** One session's gate with its reporting: the events file, the vendor's banner, the audit log, the live list. */
export class SessionGate {
  readonly gate: ObserverGate;
  private record: LiveSessionRecord | undefined;
  private readonly deps: ObservationDeps;
  private readonly sessionId: string;
  private readonly io: GateIo;

  constructor(observation: SessionObservation, deps: ObservationDeps, sessionId: string, machine: Machine, io: GateIo) {
    this.deps = deps;
    this.sessionId = sessionId;
    this.io = io;
    const settings = observerSettings(machine);
    const limitMs = Math.round(settings.limitMinutes * 60_000);
    this.gate = new ObserverGate({
      required: settings.observer === 'required',
      graceMs: settings.graceSeconds * 1000,
      limitMs,
      read: () => observation.read(sessionId),
      inject: (i) => io.inject(i),
      changed: (view, events) => this.changed(view, events),
      limitReached: () => {
        const minutes = settings.limitMinutes;
        const span = minutes >= 1 ? `${Math.round(minutes * 10) / 10} minutes` : `${Math.round(minutes * 60)} seconds`;
        io.end(`No plant observer joined within ${span}; the session was ended.`, GUAC_STATUS.SESSION_TIMEOUT, 'observer_limit');
      },
    });
  }

  /** The session started (first frame, registry entry written): the gate starts counting and reporting. */
  start(record: LiveSessionRecord): void {
    this.record = record;
    this.gate.start();
  }

  stop(): void {
    this.gate.stop();
  }

  private changed(view: ObserverView, events: ObserverEvent[]): void {
    for (const e of events) this.io.note(e);
    if (view.required || view.state !== 'off' || events.length > 0) this.io.tell(view.state, VENDOR_MESSAGES[view.state]);
    const record = this.record;
    if (record === undefined) return;
    void this.report(record, view, events);
  }

  private async report(record: LiveSessionRecord, view: ObserverView, events: ObserverEvent[]): Promise<void> {
    const { redis, audit, events: bus, log } = this.deps;
    try {
      // Observers gone: a pause or a hand-over of theirs does not outlive them.
      if (view.observers.length === 0 && view.state !== 'unconfirmed') await redis.del(keys.sessions.observerControl(this.sessionId));
      await redis.set(keys.sessions.observerState(this.sessionId), JSON.stringify(view), { EX: Math.max(60, Math.ceil((Date.parse(record.endsAt) - Date.now()) / 1000) + 60) });
    } catch (err) {
      log.warn({ err: { message: errorMessage(err) }, sessionId: this.sessionId }, 'observer state not stored');
    }
    for (const e of events) {
      const action = GATE_AUDIT[e.event];
      if (action === undefined) continue;
      await audit
        .append({
          actor: 'by' in e ? { id: e.by.id, name: e.by.name } : null,
          action,
          target: { type: 'session', id: this.sessionId },
          outcome: 'ok',
          reason: null,
          details: { requestId: record.requestId, machine: record.machine.id, vendor: record.user.id },
          site: record.machine.siteId,
        })
        .catch((err: unknown) => log.error({ err: { message: errorMessage(err) }, action }, 'could not audit the observer gate'));
    }
    await bus.publish({
      type: 'session.observer_changed',
      requestId: record.requestId,
      state: 'active',
      siteId: record.machine.siteId,
      requesterId: record.user.id,
      actorId: null,
      at: new Date().toISOString(),
      sessionId: this.sessionId,
      reason: view.state,
    });
  }
}

function parse<T>(schema: z.ZodType<T>, message: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(message));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function parseActor(json: string | undefined): Actor | null {
  if (json === undefined) return null;
  const parsed = parse(actorSchema, json);
  return parsed === undefined ? null : { id: parsed.id, name: parsed.name };
}
