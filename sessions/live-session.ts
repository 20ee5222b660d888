// One vendor's connection to one machine, from the WebSocket to guacd and back: paced set-up
// with a `ready` timeout, mandatory recording (the portal's own, of what it relays; the input log;
// a watchdog on the files), the input policy and the observer gate (required observer), the
// window's end and its warnings, and the reason it ended. Everything it starts, it stops.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { AppError, errorMessage } from '../server/errors.ts';
import { WARN_MINUTES } from '../server/domain.ts';
import type { Vault } from '../server/vault/vault.ts';
import type { Finaliser, SessionContext } from '../recordings/finaliser.ts';
import { hasTypescript, SpoolFiles } from '../recordings/layout.ts';
import type { AuthorizedUpgrade } from './authorizer.ts';
import { connectionSettings, type Display } from './tunnel/settings.ts';
import { BrokeredConnection, GUAC_STATUS } from './tunnel/transport.ts';
import { encodeInstruction, type GuacInstruction } from './tunnel/protocol.ts';
import type { RequestService } from '../server/requests/service.ts';
import type { Pacer } from './tunnel/pacer.ts';
import { RecordingWatchdog } from './recording-watchdog.ts';
import { RecordingWriter } from './recording-writer.ts';
import { probeGuacd } from './tunnel/guacd-health.ts';
import { classifyGuacdError, FAILURE_MESSAGES, FAILURE_STATUS, type FailureKind } from './failures.ts';
import { InputEventLog } from './input-log.ts';
import { InputPolicy } from './input-policy.ts';
import type { LocalConnection, LocalSessions } from './local.ts';
import type { SessionLifecycle } from './lifecycle.ts';
import type { LiveSessionRecord } from './registry.ts';
import type { Refusals } from './refusals.ts';
import type { Metrics } from '../server/metrics.ts';
import type { Actor } from './observer-gate.ts';
import type { ObservedConnection, SessionGate, SessionObservation } from './observation.ts';
import type { Policy } from '../server/inventory/schema.ts';
import { isPortalStream, type SessionFileStreams } from './files/streams.ts';
import type { SessionFacts } from './files/airlock.ts';

/** What a live session needs of the file airlock (sessions/files/airlock.ts). */
export interface SessionFilesHub {
  /** The streams guacd's file instructions go to; undefined when the grant moves no files. */
  openSession(facts: SessionFacts, policy: Policy): SessionFileStreams | undefined;
  /** Awaited before the session's end is recorded: its file records are then in the spool. */
  closeSession(sessionId: string): Promise<void>;
}

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
  requests: RequestService;
  /** guacds that see the spool (they write the SSH/Telnet typescript). */
  sharedSpoolGuacds: readonly string[];
  metrics?: Metrics | undefined;
  /** Required observer: the gates and what they report (observation.ts). */
  observation: SessionObservation;
  /** Ends older sessions of the same grant, wherever they run (control across instances). */
  takeOver(sessionIds: readonly string[]): Promise<void>;
  /** The file airlock; absent: no session moves files (guacd still gets no SFTP/drive from the browser). */
  files?: SessionFilesHub | undefined;
  /** On guacd's host: RDP sessions' redirected drive folders are <root>/<session id>. */
  rdpDriveRoot?: string | undefined;
}

const RECORDING_FAILED = 'Recording failed; the session was ended.';
/** After guacd closed quietly: how long it has to answer a handshake to show it is still alive. */
const GUACD_CHECK_MS = 1_000;

/** The owner's session: opened once, ended once, with the first end reason given. */
export class LiveSession implements LocalConnection, ObservedConnection {
  readonly id: string;
  readonly kind = 'session';
  readonly guacd: string;
  readonly browserSessionId: string;
  readonly requestId: string;
  readonly userId: string;
  readonly watching = undefined;
  /** Set once guacd said `ready`: what the registry holds. */
  record: LiveSessionRecord | undefined;
  private endReason: string | undefined;
  private endMessage: { message: string; status: number } | undefined;
  /** What exactly went wrong, for the plant (a WebSocket or protocol error code). */
  private endDetail: string | undefined;
  private readonly deps: LiveSessionDeps;
  private readonly auth: AuthorizedUpgrade;
  private readonly files: SpoolFiles;
  private readonly policy: InputPolicy;
  /** Whose input may reach the machine now (required observer; pausing and taking over on every machine). */
  private readonly gate: SessionGate;
  /** Created once the session may start (a refused one leaves no file in the spool). */
  private inputLog: InputEventLog | undefined;
  private readonly watchdog: RecordingWatchdog;
  private readonly typescript: boolean;
  /** The session's recording, written from what is relayed (created with the input log). */
  private recording: RecordingWriter | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date();
  private conn: BrokeredConnection | undefined;
  private ready = false;
  /** What the registry will hold, from guacd's `ready` until the first frame makes it `record`. */
  private readyRecord: LiveSessionRecord | undefined;
  private setupDone: () => void = () => undefined;
  /** The file airlock's streams of this session (files into and out of the machine), when the grant allows files. */
  private fileStreams: SessionFileStreams | undefined;

  constructor(deps: LiveSessionDeps, auth: AuthorizedUpgrade) {
    this.deps = deps;
    this.auth = auth;
    this.id = auth.binding.sessionId;
    this.requestId = auth.binding.requestId;
    this.userId = auth.user.id;
    this.guacd = auth.machine.guacd;
    this.browserSessionId = auth.binding.browserSessionId;
    this.files = new SpoolFiles(deps.spool, this.id);
    this.policy = new InputPolicy(auth.policy, false);
    // guacd writes the SSH/Telnet typescript only where it sees the spool; the recording is ours.
    this.typescript = deps.sharedSpoolGuacds.includes(auth.machine.guacd) && hasTypescript(auth.machine.protocol);
    this.gate = deps.observation.gateFor(this.id, auth.machine, {
      inject: (instruction) => this.conn?.inject(instruction),
      tell: (state, message) => this.conn?.observerStatus(state, message),
      note: (e) => this.inputLog?.write({ type: 'observer', ...e }),
      end: (message, status, reason) => this.end(message, status, reason),
    });
    this.watchdog = new RecordingWatchdog(this.files.liveFiles(this.typescript), (reason) => this.end(RECORDING_FAILED, GUAC_STATUS.SERVER_ERROR, reason));
  }

  notify(message: string): void {
    this.conn?.notify(message);
  }

  /** Ends the session with a message for the browser; the first reason given is the one recorded. */
  end(message: string, status: number, reason: string): void {
    if (this.endReason === undefined) {
      this.endReason = reason;
      this.endMessage = { message, status };
    }
    this.conn?.end(message, status);
  }

  /**
   * Hands the WebSocket to guacd and arms the timers. The session is in the local list from the
   * first moment, so a revoke, a sign-out or the periodic re-check reaches it while it waits for
   * its credential or a set-up slot; after each wait the grant is checked again.
   */
  async open(ws: WebSocket, display: Display): Promise<void> {
    const { machine, user, binding } = this.auth;
    const { deps } = this;
    ws.on('error', (err: Error & { code?: string }) => {
      // ws ends the connection itself (close code 1002/1007/1009); this one only, never the process.
      this.endDetail ??= err.code ?? 'websocket_error';
      this.end('The browser sent data Airlock could not accept; the session was ended.', GUAC_STATUS.CLIENT_BAD_REQUEST, 'protocol_error');
    });
    deps.local.add(this);
    let handedOver = false;
    try {
      if (this.auth.takeOver.length > 0) await deps.takeOver(this.auth.takeOver);
      const guacd = deps.guacds[machine.guacd];
      const credential = await deps.vault.reveal(machine.id);
      if (guacd === undefined || credential === undefined) {
        ws.close(1011, 'machine not configured');
        await deps.refusals.record(user, 'session.open', binding.requestId, guacd === undefined ? 'unknown_guacd' : 'no_credential');
        return;
      }
      if (!(await this.stillGranted(ws))) return;
      const drivePath = machine.protocol === 'rdp' && this.auth.policy.fileTransfer && deps.rdpDriveRoot !== undefined ? path.join(deps.rdpDriveRoot, this.id) : undefined;
      const settings = connectionSettings(machine, credential, this.auth.policy, this.typescript ? this.files.typescriptTarget() : undefined, display, drivePath);
      const inputLog = new InputEventLog(this.files.file('events'), () => this.end(RECORDING_FAILED, GUAC_STATUS.SERVER_ERROR, 'input_log_failed'), this.startedAt.getTime());
      this.inputLog = inputLog;
      const recording = new RecordingWriter(this.files.file('recording'), (reason, detail) => {
        this.endDetail ??= detail;
        this.end(RECORDING_FAILED, GUAC_STATUS.SERVER_ERROR, reason);
      }, (sync) => inputLog.write({ type: 'clock', sync }));
      this.recording = recording;
      this.setupDone = await deps.pacer.slot(machine.guacd);
      if (ws.readyState !== ws.OPEN || !(await this.stillGranted(ws))) {
        this.setupDone();
        await Promise.all([inputLog.close(), recording.close()]);
        // Nothing was recorded: leave nothing in the spool.
        await Promise.all([rm(this.files.file('events'), { force: true }), rm(this.files.file('recording'), { force: true })]);
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
          onOutput: (data) => {
            recording.output(data);
            this.watchdog.outputFlowed();
          },
          onInput: (instruction) => this.onInput(instruction),
          onGuacdInstruction: (data) => this.fileStreams?.fromGuacd(data) ?? false,
          onClose: (error) => this.onClose(error),
          onProtocolError: (detail) => {
            this.endDetail ??= detail;
            this.endReason ??= 'protocol_error';
          },
          onFirstFrame: (sync) => {
            recording.firstSync(sync);
            this.onFirstFrame();
          },
          onGuacdError: (status, text) => this.failed(classifyGuacdError(status, text, machine, this.record === undefined), `guacd status ${status}: ${text}`),
          onGuacdLost: (detail) => this.failed('guacd_lost', detail),
          onGuacdDisconnect: () => {
            this.endReason ??= 'ended_by_machine';
          },
          onGuacdClosed: async () => {
            const answer = await probeGuacd(guacd, GUACD_CHECK_MS);
            return 'problem' in answer ? this.failed('guacd_lost', `guacd closed the connection and is now ${answer.problem}`) : undefined;
          },
        },
      });
      // What the finaliser needs even if this process dies mid-session.
      try {
        await deps.finaliser.writeContext({ sessionId: this.id, ...this.facts(), typescript: this.typescript });
      } catch {
        this.setupDone();
        await Promise.all([inputLog.close(), recording.close()]);
        // No context, no session: leave nothing in the spool for the sweep to wonder about.
        await Promise.all([rm(this.files.file('events'), { force: true }), rm(this.files.file('recording'), { force: true })]);
        ws.close(1011, 'recording unavailable');
        await deps.refusals.record(user, 'session.open', binding.requestId, 'spool_unwritable');
        return;
      }
      const conn = this.conn;
      this.fileStreams = deps.files?.openSession({ sessionId: this.id, requestId: binding.requestId, machine: { id: machine.id, siteId: machine.siteId, protocol: machine.protocol }, user: { id: user.id, name: user.name } }, this.auth.policy);
      this.fileStreams?.attach({ sendToGuacd: (data) => conn.sendToGuacd(data) });
      handedOver = true;
      this.armTimers();
      this.conn.start(guacd);
    } finally {
      if (!handedOver) deps.local.remove(this.id);
    }
  }

  /** After a wait in set-up: was the session ended meanwhile, and does the grant still hold? If not, refuses on the raw WebSocket. */
  private async stillGranted(ws: WebSocket): Promise<boolean> {
    const { machine, user, binding } = this.auth;
    let refusal: { reason: string; message: string; status: number } | undefined;
    if (this.endReason !== undefined) refusal = { reason: this.endReason, ...(this.endMessage ?? { message: 'The session was ended.', status: GUAC_STATUS.SESSION_CLOSED }) };
    else if ((await this.deps.requests.grantOf(binding.requestId, user.id, machine.id)) === undefined) {
      refusal = { reason: 'grant_invalid', message: 'Access to this machine is no longer granted.', status: GUAC_STATUS.CLIENT_FORBIDDEN };
    }
    if (refusal === undefined) return true;
    if (ws.readyState === ws.OPEN) {
      ws.send(encodeInstruction('error', refusal.message, String(refusal.status)));
      ws.close(1000);
    }
    await this.deps.refusals.record(user, 'session.open', binding.requestId, refusal.reason);
    return false;
  }

  /** What the spool's context file and the registry entry both say of the session. */
  private facts(): Omit<SessionContext, 'sessionId'> {
    const { machine, user, binding } = this.auth;
    return {
      requestId: binding.requestId,
      machine: { id: machine.id, name: machine.name, siteId: machine.siteId, protocol: machine.protocol },
      user: { id: user.id, name: user.name, company: user.company ?? null },
      policy: this.auth.policy,
      startedAt: this.startedAt.toISOString(),
      instance: this.deps.instanceId,
    };
  }

  private armTimers(): void {
    const { machine, user, binding } = this.auth;
    // guacd 1.3 can hang in set-up (before `ready`, or after it without a first frame): give up
    // cleanly instead of leaving the vendor waiting.
    this.timers.push(
      setTimeout(() => {
        if (this.record === undefined) this.end('The machine did not answer in time; try again.', GUAC_STATUS.UPSTREAM_TIMEOUT, 'ready_timeout');
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
    const { machine } = this.auth;
    this.ready = true;
    this.setupDone();
    this.watchdog.start();
    this.readyRecord = { id: this.id, ...this.facts(), endsAt: this.auth.endsAt.toISOString(), guacd: machine.guacd, guacdConnectionId };
  }

  /**
   * The target drew its first frame: only now has the session started (guacd says `ready`
   * before it reaches the target, and a refused credential arrives later as an `error`).
   */
  private onFirstFrame(): void {
    if (this.readyRecord === undefined || this.endReason !== undefined) return;
    this.record = this.readyRecord;
    this.gate.start(this.record);
    this.deps.metrics?.setupSeconds.observe({ site: this.record.machine.siteId, protocol: this.record.machine.protocol }, (Date.now() - (this.auth.binding.issuedAt ?? this.startedAt.getTime())) / 1000);
    this.deps.lifecycle.started(this.record, this.auth.user).catch((err: unknown) => {
      // The grant stopped holding while the session set up (markActive refused): access ended.
      if (err instanceof AppError && err.status === 409) {
        this.end('Access to this machine was revoked.', GUAC_STATUS.SESSION_CLOSED, 'revoked');
        return;
      }
      // Without a registry entry and an audit trail the session may not go on: fail closed.
      this.deps.log.error({ err: { message: errorMessage(err) }, sessionId: this.id }, 'could not record the session start');
      this.end('Airlock cannot record this session right now; it was ended.', GUAC_STATUS.SERVER_ERROR, 'store_unavailable');
    });
  }

  /** guacd reported a failure: recorded for the plant, told to the vendor in plain words. */
  private failed(kind: FailureKind, detail: string): { message: string; status: number } {
    this.endReason ??= kind;
    this.endDetail ??= detail;
    return { message: FAILURE_MESSAGES[kind], status: FAILURE_STATUS[kind] };
  }

  /** An observer's input relayed from their live view: reaches the machine only while they hold the controls. */
  observerInput(by: Actor, instruction: GuacInstruction): void {
    if (!this.gate.gate.admitObserver(by.id, instruction)) return;
    this.inputLog?.observe(instruction, by);
    if (instruction[0] === 'key') this.recording?.key(instruction[1] ?? '', instruction[2] ?? '', by.id);
    this.conn?.inject(instruction);
  }

  refreshObservation(): void {
    void this.gate.gate.refresh();
  }

  private onInput(instruction: GuacInstruction): boolean {
    const decision = this.portalStreamsUntouched(instruction) ? this.policy.decide(instruction) : { allow: false as const, reason: 'portal_stream' };
    // Held input is dropped, never queued; a held key press is logged (what the vendor tried).
    if (decision.allow && !this.gate.gate.admitVendor(instruction)) {
      if (instruction[0] === 'key' && instruction[2] === '1') this.inputLog?.write({ type: 'blocked', opcode: 'key', reason: `observer_${this.gate.gate.state.state}` });
      return false;
    }
    if (decision.allow) {
      this.inputLog?.observe(instruction);
      if (instruction[0] === 'key') this.recording?.key(instruction[1] ?? '', instruction[2] ?? '');
    }
    else this.inputLog?.write({ type: 'blocked', opcode: instruction[0] ?? '', reason: decision.reason });
    return decision.allow;
  }

  /**
   * The browser may not write on the file airlock's stream indices, nor acknowledge (and so
   * steer) a download the portal holds: those streams are the portal's with guacd.
   */
  private portalStreamsUntouched(instruction: GuacInstruction): boolean {
    const [opcode = '', index = ''] = instruction;
    if (opcode === 'ack') return this.fileStreams?.browserMayUse('ack', index) ?? true;
    if (opcode === 'blob' || opcode === 'end') return !isPortalStream(index);
    return true;
  }

  private onClose(error: Error | undefined): void {
    this.setupDone();
    this.gate.stop();
    this.watchdog.stop();
    for (const t of this.timers) clearTimeout(t);
    this.deps.local.remove(this.id);
    const reason = this.endReason ?? (error === undefined ? 'disconnected' : this.ready ? 'connection_error' : 'guacd_error');
    // A session that never drew its first frame did not start: `session.failed`, request not active.
    const record = this.record;
    const { machine, user, binding } = this.auth;
    this.deps.lifecycle.track(Promise.all([this.inputLog?.close(), this.recording?.close(), this.deps.files?.closeSession(this.id)]).then(() => this.deps.lifecycle.ended({ sessionId: this.id, record, user, requestId: binding.requestId, machine, reason, detail: this.endDetail, startedAt: this.startedAt })));
  }
}
