// One vendor's connection to one machine, from the WebSocket to guacd and back: paced set-up
// with a `ready` timeout, mandatory recording (watchdog and input log), the input policy, the
// window's end and its warnings, and the reason it ended. Everything it starts, it stops.
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { errorMessage } from '../server/errors.ts';
import { WARN_MINUTES } from '../server/domain.ts';
import type { Vault } from '../server/vault/vault.ts';
import type { Finaliser } from '../recordings/finaliser.ts';
import { SpoolFiles } from '../recordings/layout.ts';
import type { AuthorizedUpgrade } from './authorizer.ts';
import { connectionSettings, type Display } from './tunnel/settings.ts';
import { BrokeredConnection, GUAC_STATUS } from './tunnel/transport.ts';
import type { GuacInstruction } from './tunnel/protocol.ts';
import type { Pacer } from './tunnel/pacer.ts';
import { RecordingWatchdog } from './recording-watchdog.ts';
import { InputEventLog } from './input-log.ts';
import { InputPolicy } from './input-policy.ts';
import type { LocalConnection, LocalSessions } from './local.ts';
import type { SessionLifecycle } from './lifecycle.ts';
import type { LiveSessionRecord } from './registry.ts';
import type { Refusals } from './refusals.ts';

export interface LiveSessionDeps {
  log: Logger;
  instanceId: string;
  guacds: Readonly<Record<string, { host: string; port: number }>>;
  spool: string;
  readyTimeoutMs: number;
  vault: Vault;
  pacer: Pacer;
  local: LocalSessions;
  lifecycle: SessionLifecycle;
  finaliser: Finaliser;
  refusals: Refusals;
}

const RECORDING_FAILED = 'Recording failed; the session was ended.';

/** The owner's session: opened once, ended once, with the first end reason given. */
export class LiveSession implements LocalConnection {
  readonly id: string;
  readonly requestId: string;
  readonly userId: string;
  readonly watching = undefined;
  /** Set once guacd said `ready`: what the registry holds. */
  record: LiveSessionRecord | undefined;
  private endReason: string | undefined;
  private readonly deps: LiveSessionDeps;
  private readonly auth: AuthorizedUpgrade;
  private readonly files: SpoolFiles;
  private readonly policy: InputPolicy;
  /** Created once the session may start (a refused one leaves no file in the spool). */
  private inputLog: InputEventLog | undefined;
  private readonly watchdog: RecordingWatchdog;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date();
  private conn: BrokeredConnection | undefined;
  private ready = false;
  private setupDone: () => void = () => undefined;

  constructor(deps: LiveSessionDeps, auth: AuthorizedUpgrade) {
    this.deps = deps;
    this.auth = auth;
    this.id = auth.binding.sessionId;
    this.requestId = auth.binding.requestId;
    this.userId = auth.user.id;
    this.files = new SpoolFiles(deps.spool, this.id);
    this.policy = new InputPolicy(auth.policy, false);
    this.watchdog = new RecordingWatchdog(this.files.guacdFiles(auth.machine.protocol), (reason) => this.end(RECORDING_FAILED, GUAC_STATUS.SERVER_ERROR, reason));
  }

  /** Ends the session with a message for the browser; the first reason given is the one recorded. */
  end(message: string, status: number, reason: string): void {
    this.endReason ??= reason;
    this.conn?.end(message, status);
  }

  /** Paces the set-up, hands the WebSocket to guacd and arms the timers; refusals are audited. */
  async open(ws: WebSocket, display: Display): Promise<void> {
    const { machine, user, binding } = this.auth;
    const { deps } = this;
    const guacd = deps.guacds[machine.guacd];
    const credential = await deps.vault.reveal(machine.id);
    if (guacd === undefined || credential === undefined) {
      ws.close(1011, 'machine not configured');
      await deps.refusals.record(user, 'session.open', binding.requestId, guacd === undefined ? 'unknown_guacd' : 'no_credential');
      return;
    }
    const settings = connectionSettings(machine, credential, this.auth.policy, this.files.guacdTarget(), display);
    const inputLog = new InputEventLog(this.files.file('events'), () => this.end(RECORDING_FAILED, GUAC_STATUS.SERVER_ERROR, 'input_log_failed'));
    this.inputLog = inputLog;
    this.setupDone = await deps.pacer.slot(machine.guacd);
    if (ws.readyState !== ws.OPEN) {
      this.setupDone();
      await inputLog.close();
      return;
    }
    this.conn = new BrokeredConnection(ws, {
      sessionId: this.id,
      selector: { type: machine.protocol },
      settings,
      guacd,
      log: deps.log,
      hooks: {
        onReady: (guacdConnectionId) => this.onReady(guacdConnectionId),
        onOutput: (bytes) => this.watchdog.outputFlowed(bytes),
        onInput: (instruction) => this.onInput(instruction),
        onClose: (error) => this.onClose(error),
      },
    });
    deps.local.add(this);
    // What the finaliser needs even if this process dies mid-session.
    try {
      await deps.finaliser.writeContext({
        sessionId: this.id,
        requestId: binding.requestId,
        machine: { id: machine.id, name: machine.name, siteId: machine.siteId, protocol: machine.protocol },
        user: { id: user.id, name: user.name, company: user.company ?? null },
        policy: this.auth.policy,
        startedAt: this.startedAt.toISOString(),
        instance: deps.instanceId,
      });
    } catch {
      this.setupDone();
      deps.local.remove(this.id);
      await inputLog.close();
      ws.close(1011, 'recording unavailable');
      await deps.refusals.record(user, 'session.open', binding.requestId, 'spool_unwritable');
      return;
    }
    this.armTimers();
    this.conn.start(guacd);
  }

  private armTimers(): void {
    const { machine, user, binding } = this.auth;
    // guacd 1.3 can hang in set-up: give up cleanly instead of leaving the vendor waiting.
    this.timers.push(
      setTimeout(() => {
        if (!this.ready) this.end('The machine did not answer in time; try again.', GUAC_STATUS.UPSTREAM_TIMEOUT, 'ready_timeout');
      }, this.deps.readyTimeoutMs),
    );
    // The window's end is enforced here, server-side, whatever the browser does.
    const msLeft = this.auth.endsAt.getTime() - Date.now();
    this.timers.push(setTimeout(() => this.end('The access window has ended.', GUAC_STATUS.SESSION_TIMEOUT, 'window_ended'), Math.max(0, msLeft)));
    for (const minutes of WARN_MINUTES) {
      const at = msLeft - minutes * 60_000;
      if (at > 0) this.timers.push(setTimeout(() => void this.deps.lifecycle.endingSoon(binding.requestId, machine, user, this.id, minutes), at));
    }
    for (const t of this.timers) t.unref();
  }

  private onReady(guacdConnectionId: string): void {
    const { machine, user, binding } = this.auth;
    this.ready = true;
    this.setupDone();
    this.watchdog.start();
    this.record = {
      id: this.id,
      requestId: binding.requestId,
      machine: { id: machine.id, name: machine.name, siteId: machine.siteId, protocol: machine.protocol },
      user: { id: user.id, name: user.name, company: user.company ?? null },
      instance: this.deps.instanceId,
      startedAt: this.startedAt.toISOString(),
      endsAt: this.auth.endsAt.toISOString(),
      policy: this.auth.policy,
      guacd: machine.guacd,
      guacdConnectionId,
    };
    this.deps.lifecycle.started(this.record, user).catch((err: unknown) => {
      // Without a registry entry and an audit trail the session may not go on: fail closed.
      this.deps.log.error({ err: { message: errorMessage(err) }, sessionId: this.id }, 'could not record the session start');
      this.end('Airlock cannot record this session right now; it was ended.', GUAC_STATUS.SERVER_ERROR, 'store_unavailable');
    });
  }

  private onInput(instruction: GuacInstruction): boolean {
    const decision = this.policy.decide(instruction);
    if (decision.allow) this.inputLog?.observe(instruction);
    else this.inputLog?.write({ type: 'blocked', opcode: instruction[0] ?? '', reason: decision.reason });
    return decision.allow;
  }

  private onClose(error: Error | undefined): void {
    this.setupDone();
    this.watchdog.stop();
    for (const t of this.timers) clearTimeout(t);
    this.deps.local.remove(this.id);
    const reason = this.endReason ?? (error === undefined ? 'disconnected' : this.ready ? 'connection_error' : 'guacd_error');
    const { machine, user, binding } = this.auth;
    void (this.inputLog?.close() ?? Promise.resolve()).then(() => this.deps.lifecycle.ended({ sessionId: this.id, record: this.record, user, requestId: binding.requestId, machine, reason, startedAt: this.startedAt }));
  }
}
