// The session broker: wires the parts that turn a valid grant into a recorded guacd session —
// tickets, the upgrade authorizer, one LiveSession or WatchSession per connection, control
// across instances, the registry and its housekeeping — and answers the session API.
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../server/config.ts';
import type { RedisClient } from '../server/redis.ts';
import type { AirlockUser } from '../server/user.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { EventBus } from '../server/events/bus.ts';
import type { InventoryStore } from '../server/inventory/store.ts';
import type { Vault } from '../server/vault/vault.ts';
import type { RequestService } from '../server/requests/service.ts';
import { maySeeLiveSession } from '../server/policies.ts';
import type { Finaliser } from '../recordings/finaliser.ts';
import type { Metrics } from '../server/metrics.ts';
import { Tickets } from './tickets.ts';
import { UpgradeAuthorizer, type AuthorizedUpgrade } from './authorizer.ts';
import type { Display } from './tunnel/settings.ts';
import { GUAC_STATUS } from './tunnel/transport.ts';
import { Pacer } from './tunnel/pacer.ts';
import { GuacdHealth } from './tunnel/guacd-health.ts';
import { LocalSessions, type LocalConnection } from './local.ts';
import { LiveSession, type LiveSessionDeps } from './live-session.ts';
import { WatchSession, type WatchSessionDeps } from './watch-session.ts';
import { SessionLifecycle } from './lifecycle.ts';
import { SessionControl } from './control.ts';
import { Housekeeping } from './housekeeping.ts';
import { Refusals } from './refusals.ts';
import { Revalidation } from './revalidation.ts';
import { presentLiveSession, SessionRegistry } from './registry.ts';
import { SessionWatchers } from './watchers.ts';
import { SessionObservation, type ObserverAction } from './observation.ts';
import type { ObserverView } from './observer-gate.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { FileAirlock } from './files/airlock.ts';
import { ClamdScanner } from './files/clamd.ts';
import { FileRecords } from './files/records.ts';

/**
 * What live sessions hear when their instance starts draining (SIGTERM, a rolling restart), and
 * what they are ended with: the browser reconnects, through the load balancer, elsewhere.
 */
export const RESTART_MESSAGE = 'The portal is restarting; reconnect in a moment.';
/** After the drain's end, how long the ended sessions' audit events and recordings get to be written. */
const END_WRITE_GRACE_MS = 10_000;

export interface BrokerDeps {
  config: Config;
  log: Logger;
  redis: RedisClient;
  audit: AuditLog;
  events: EventBus;
  inventory: InventoryStore;
  vault: Vault;
  requests: RequestService;
  finaliser: Finaliser;
  metrics?: Metrics;
}

export class SessionBroker {
  readonly tickets: Tickets;
  readonly authorizer: UpgradeAuthorizer;
  readonly registry: SessionRegistry;
  readonly refusals: Refusals;
  readonly control: SessionControl;
  /** Each guacd's last handshake answer (readiness, tickets, metrics). */
  readonly guacdHealth: GuacdHealth;
  readonly watchers: SessionWatchers;
  /** Required observer: observers' commands and relayed input, the gates' reports. */
  readonly observation: SessionObservation;
  /** The file airlock: quarantine, scan, release and delivery of files into and out of sessions. */
  readonly files: FileAirlock;
  private readonly local = new LocalSessions();
  private readonly lifecycle: SessionLifecycle;
  /** False once draining: no new session or live view is let in here. */
  private accepting = true;
  private readonly housekeeping: Housekeeping;
  private readonly revalidation: Revalidation;
  private readonly liveDeps: LiveSessionDeps;
  private readonly watchDeps: WatchSessionDeps;

  constructor(deps: BrokerDeps) {
    const { config, redis, audit, events, inventory, vault, requests, finaliser, metrics } = deps;
    const log = deps.log.child({ module: 'broker' });
    const recording = { spool: config.recording.spool, minFreeBytes: config.recording.minFreeBytes };
    this.registry = new SessionRegistry(redis, config.instanceId);
    this.watchers = new SessionWatchers({ redis, events, instanceId: config.instanceId, log });
    this.observation = new SessionObservation({ redis, audit, events, registry: this.registry, local: this.local, instanceId: config.instanceId, log });
    this.refusals = new Refusals({ audit, log, windowMs: config.broker.refusalAuditWindowMs, refusalsPerMinute: config.broker.refusalsPerMinute, metrics });
    this.guacdHealth = new GuacdHealth(config.guacds);
    this.tickets = new Tickets({
      redis,
      requests,
      inventory,
      vault,
      registry: this.registry,
      refusals: this.refusals,
      recording,
      guacdHealth: this.guacdHealth,
      mode: config.mode,
      draining: () => this.draining,
    });
    this.authorizer = new UpgradeAuthorizer({ inventory, requests, registry: this.registry, local: this.local, caps: config.broker.caps, recording, mode: config.mode });
    const lifecycle = new SessionLifecycle({ log, audit, events, requests, registry: this.registry, finaliser, metrics });
    this.lifecycle = lifecycle;
    this.control = new SessionControl({ log, redis, audit, events, registry: this.registry, local: this.local, requests });
    this.housekeeping = new Housekeeping({ log, redis, instanceId: config.instanceId, registry: this.registry, watchers: this.watchers, local: this.local, lifecycle, finaliser });
    this.files = new FileAirlock({
      log: log.child({ module: 'files' }),
      records: new FileRecords(redis),
      scanner: new ClamdScanner(config.files.clamd, config.files.scanTimeoutMs),
      audit,
      events,
      inventory,
      registry: this.registry,
      spool: config.recording.spool,
      quarantineDir: config.files.quarantineDir,
    });
    this.liveDeps = {
      files: this.files,
      rdpDriveRoot: config.files.rdpDriveRoot,
      log,
      instanceId: config.instanceId,
      guacds: config.guacds,
      spool: config.recording.spool,
      readyTimeoutMs: config.broker.readyTimeoutMs,
      vault,
      pacer: new Pacer(config.broker.guacdPaceMs, config.broker.guacdMaxSetups, (guacd) => this.guacdHealth.needsPacing(guacd)),
      local: this.local,
      lifecycle,
      finaliser,
      refusals: this.refusals,
      requests,
      sharedSpoolGuacds: config.sharedSpoolGuacds,
      metrics,
      observation: this.observation,
      takeOver: async (ids) => {
        for (const id of ids) await this.control.endEverywhere(id, 'This session was opened again in another window; this one was closed.', 'taken_over');
      },
    };
    this.revalidation = new Revalidation({ log, redis, requests, local: this.local, intervalMs: config.broker.grantRecheckMs, outageGraceMs: config.broker.storeOutageGraceMs });
    this.watchDeps = { log, audit, guacds: config.guacds, local: this.local, watchers: this.watchers, observation: this.observation };
  }

  async start(): Promise<void> {
    await this.guacdHealth.start();
    await this.housekeeping.start();
    await this.control.start();
    await this.observation.start();
    this.files.start();
    this.revalidation.start();
  }

  async stop(): Promise<void> {
    this.housekeeping.stop();
    this.revalidation.stop();
    this.guacdHealth.stop();
    this.control.stop();
    this.observation.stop();
    this.files.stop();
    await this.refusals.stop();
    for (const c of this.local.all()) c.end(RESTART_MESSAGE, GUAC_STATUS.SESSION_CLOSED, 'disconnected');
  }

  /** Draining: tickets, upgrades and readiness answer 503 `draining`. */
  get draining(): boolean {
    return !this.accepting;
  }

  /**
   * A rolling restart: let nothing new in, warn every live session here, give them up to
   * `graceMs` to end by themselves, then end the rest with the restart message (the browser
   * reconnects through the load balancer to another instance) and wait, bounded, until their
   * ends are audited and their recordings finalised. stop() follows.
   */
  async drain(graceMs: number): Promise<void> {
    this.accepting = false;
    for (const c of this.local.all()) c.notify(RESTART_MESSAGE);
    const deadline = delay(graceMs, undefined, { ref: false });
    await Promise.race([this.local.whenEmpty(), deadline]);
    for (const c of this.local.all()) c.end(RESTART_MESSAGE, GUAC_STATUS.SESSION_CLOSED, 'portal_restarting');
    await Promise.race([this.local.whenEmpty().then(() => this.lifecycle.settled()), delay(END_WRITE_GRACE_MS, undefined, { ref: false })]);
  }

  /** Connections this instance holds (for tests and metrics). */
  localSessionIds(): string[] {
    return this.local.ids();
  }

  /** The connections themselves (metrics read sites, protocols and set-up states). */
  localConnections(): LocalConnection[] {
    return this.local.all();
  }

  /** Hands an authorized WebSocket to guacd (through guacamole-lite) and supervises it. */
  async open(ws: WebSocket, auth: AuthorizedUpgrade, display: Display): Promise<void> {
    if (auth.binding.kind === 'watch' && auth.watched !== undefined) {
      new WatchSession(this.watchDeps, auth.user, auth.binding.browserSessionId, auth.watched).open(ws, display);
      return;
    }
    await new LiveSession(this.liveDeps, auth).open(ws, display);
  }

  /** GET /api/sessions: the live sessions this user may see, with who is watching each. */
  async list(user: AirlockUser): Promise<ReturnType<typeof presentLiveSession>[]> {
    const sessions = (await this.registry.all()).filter((s) => maySeeLiveSession(user, s));
    const ids = sessions.map((s) => s.id);
    const [watchers, observers] = await Promise.all([this.watchers.of(ids), this.observation.states(ids)]);
    return sessions.map((s) => presentLiveSession(s, watchers.get(s.id), observers.get(s.id) ?? null));
  }

  /** POST /api/sessions/:id/observer: pause or resume the vendor's input, take or return the controls. */
  observe(user: AirlockUser, sessionId: string, action: ObserverAction): Promise<{ observer: ObserverView | null }> {
    return this.observation.command(user, sessionId, action);
  }

  /** POST /api/sessions/:id/terminate (and chat's Terminate button). */
  terminate(user: AirlockUser, sessionId: string, reason: string | undefined, opts: { revoke?: boolean } = {}): Promise<void> {
    return this.control.terminate(user, sessionId, reason, opts);
  }
}
