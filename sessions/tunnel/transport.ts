// guacamole-lite as a transport only: its per-connection WebSocket ↔ guacd relay, fed with
// settings built on the server. Its Server (signal handlers, console output, unauthenticated
// AES-CBC tokens, `join`/`guacdHost` from the token, unchecked query overrides, a registry of
// decrypted settings) is not used at all (LAB.md, guacamole-lite 1.2.0 defects 1–6).
// What this wrapper adds: settings handed in directly (no token), no browser query reaches
// guacd, guacd's connection id is replaced by Airlock's session id before the browser sees it,
// input is inspected (policy, input-event log) before guacd, and output is batched per tick.
import ClientConnection, { type GuacLiteClientOptions } from 'guacamole-lite/lib/ClientConnection.js';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { encodeInstruction, GUACD_LIMITS, GuacParser, type GuacInstruction } from './protocol.ts';
import type { GuacSettings } from './settings.ts';

/** guacamole-lite's log levels: ERRORS only. Its DEBUG level would log every keystroke. */
const LOG_ERRORS_ONLY = 10;
/** Close the relay when the browser says nothing for this long (it sends sync replies and nops). */
const CLIENT_INACTIVITY_MS = 20_000;

/** Guacamole status codes the browser's Guacamole.Client understands. */
export const GUAC_STATUS = {
  SERVER_ERROR: 0x0200,
  UPSTREAM_TIMEOUT: 0x0202,
  UPSTREAM_ERROR: 0x0203,
  UPSTREAM_NOT_FOUND: 0x0207,
  UPSTREAM_UNAVAILABLE: 0x0208,
  SESSION_TIMEOUT: 0x020a,
  SESSION_CLOSED: 0x020b,
  CLIENT_BAD_REQUEST: 0x0300,
  CLIENT_FORBIDDEN: 0x0303,
  CLIENT_TOO_MANY: 0x031d,
} as const;

/**
 * The `msg` code of Airlock's notices to the browser (a restart coming, say). Guacamole's own
 * codes are 0x0001–0x0002 (user joined, left); clients ignore codes they do not know, and guacd
 * never sees these: the portal adds them on the way to the browser.
 */
export const AIRLOCK_NOTICE_MSG = 0x0100;
/** The `msg` code of the required-observer state (args: the vendor's message, the state name). */
export const AIRLOCK_OBSERVER_MSG = 0x0101;

const SETTINGS = Symbol('airlock.settings');
const NOP = encodeInstruction('nop');
const SYNC_PREFIX = '4.sync,';
const DISCONNECT = encodeInstruction('disconnect');
const ERROR_PREFIX = '5.error,';

export interface TransportHooks {
  /** guacd said `ready`: the connection id (for joins) stays on the server. */
  onReady(guacdConnectionId: string): void;
  /** An instruction relayed to the browser (recorded; keep-alives and our session id are not passed). */
  onOutput(data: string): void;
  /** One instruction from the browser; false drops it (policy), before guacd sees it. */
  onInput(instruction: GuacInstruction): boolean;
  onClose(error: Error | undefined): void;
  /** The browser sent what is not the Guacamole protocol (or beyond guacd's limits): the connection ends. */
  onProtocolError?(detail: string): void;
  /** guacd drew the first frame (its first `sync`, whose timestamp is `sync`): the target let us in. */
  onFirstFrame?(sync: number): void;
  /**
   * guacd reported an error (its `error` instruction): what the browser is told instead of
   * guacd's own text. The connection ends.
   */
  onGuacdError?(status: number, message: string): { message: string; status: number };
  /** guacd's socket failed or went silent before the session ended: what the browser is told. */
  onGuacdLost?(detail: string): { message: string; status: number };
  /** guacd said `disconnect`: the machine's side ended the session. */
  onGuacdDisconnect?(): void;
  /**
   * guacd closed the connection without a word while the browser was there: a shell that
   * exited, or a guacd that died. Resolves with what to tell the browser, if anything.
   */
  onGuacdClosed?(): Promise<{ message: string; status: number } | undefined>;
  /**
   * One guacd instruction before it is relayed: true when it is the portal's own (the file
   * airlock's streams, sessions/files), which the browser never sees and the recording skips.
   */
  onGuacdInstruction?(data: string): boolean;
}

export interface TransportOptions {
  sessionId: string;
  /** `type` for a new connection (rdp, vnc, ssh, telnet); `join` for a live view. */
  selector: { type: string } | { join: string };
  settings: GuacSettings;
  guacd: { host: string; port: number };
  hooks: TransportHooks;
  log: Logger;
}

let connectionCounter = 0;

function clientOptions(log: Logger): GuacLiteClientOptions {
  const types = ['rdp', 'vnc', 'ssh', 'telnet', 'join'];
  return {
    maxInactivityTime: CLIENT_INACTIVITY_MS,
    log: {
      level: LOG_ERRORS_ONLY,
      stdLog: (...args: unknown[]) => log.debug({ lib: 'guacamole-lite' }, args.map(String).join(' ')),
      errorLog: (...args: unknown[]) => log.warn({ lib: 'guacamole-lite' }, args.map(String).join(' ')),
    },
    crypt: { cypher: 'AES-256-CBC' },
    // No library defaults and no browser-settable keys: every setting comes from settings.ts.
    connectionDefaultSettings: Object.fromEntries(types.map((t) => [t, {}])),
    allowedUnencryptedConnectionSettings: Object.fromEntries(types.map((t) => [t, []])),
  };
}

/** One brokered connection: a guacamole-lite ClientConnection with Airlock's overrides. */
export class BrokeredConnection extends ClientConnection {
  // Assigned after super(): the base constructor calls only decryptToken, which reads `query`.
  private hooks: TransportHooks | undefined;
  private sessionId = '';
  private inputParser = new GuacParser(GUACD_LIMITS);
  private pending: string[] = [];
  private flushScheduled = false;
  private idReplaced = false;
  private firstFrame = false;
  /** Set once the browser has been told why the session ends (ours or guacd's reason). */
  private ended = false;
  /** guacd ended the connection itself (`disconnect`): a normal end. */
  private guacdSaidGoodbye = false;
  /** Waiting to learn why guacd closed quietly; further close() calls wait for it. */
  private closingQuietly = false;

  constructor(ws: WebSocket, opts: TransportOptions) {
    const connection = 'join' in opts.selector ? { join: opts.selector.join, settings: opts.settings } : { type: opts.selector.type, settings: opts.settings };
    super(clientOptions(opts.log), ++connectionCounter, ws, { [SETTINGS]: { connection } }, {
      processConnectionSettings: (settings, callback) => callback(undefined, settings),
    });
    this.hooks = opts.hooks;
    this.sessionId = opts.sessionId;
    this.on('ready', () => this.hooks?.onReady(this.guacamoleConnectionId ?? ''));
    this.on('close', (_conn: unknown, error: Error | undefined) => {
      this.hooks?.onClose(error);
      this.hooks = undefined;
    });
  }

  /** The base class decrypts a browser token here; ours are settings built on the server. */
  override decryptToken(): unknown {
    return this.query[SETTINGS];
  }

  start(guacd: { host: string; port: number }): void {
    this.connect(guacd);
  }

  /** guacd → browser. */
  override send(message: string): void {
    const data = message;
    // guacamole-lite tells the browser guacd's connection id (the key to join the session);
    // the browser gets Airlock's session id instead.
    if (!this.idReplaced && this.guacamoleConnectionId !== undefined && message === encodeInstruction('', this.guacamoleConnectionId)) {
      this.idReplaced = true;
      this.relay(encodeInstruction('', this.sessionId));
      return;
    }
    if (data === DISCONNECT) {
      // The machine's side ended (a shell that exited, a desktop logged off): end now, saying so,
      // rather than when guacamole-lite notices the silence seconds later.
      this.guacdSaidGoodbye = true;
      this.hooks?.onGuacdDisconnect?.();
      this.end('The machine ended the session (for example, its shell exited).', GUAC_STATUS.SESSION_CLOSED);
      return;
    }
    if (data.startsWith(ERROR_PREFIX)) {
      this.guacdError(data);
      return;
    }
    if (this.hooks?.onGuacdInstruction?.(data) === true) return;
    if (!this.firstFrame && data.startsWith(SYNC_PREFIX)) {
      this.firstFrame = true;
      this.hooks?.onFirstFrame?.(Number(new GuacParser().push(data)[0]?.[1]));
    }
    // The id above and guacd's keep-alive nops go to this user only, not into the recording:
    // they are not "output" for the recording watchdog.
    if (!data.startsWith(NOP)) this.hooks?.onOutput(data);
    this.relay(data);
  }

  /** guacd's `error`: the session is over; the browser hears the broker's words for it. */
  private guacdError(data: string): void {
    const [, text = '', status = ''] = new GuacParser().push(data)[0] ?? [];
    const told = this.hooks?.onGuacdError?.(Number(status), text) ?? { message: 'The connection to the machine failed.', status: GUAC_STATUS.UPSTREAM_ERROR };
    this.end(told.message, told.status);
  }

  /** guacamole-lite would send its own generic text ("Desktop connection failed"); close() says ours. */
  override handleGuacdError(): void {
    // Intentionally empty: close(error) follows and tells the browser.
  }

  /** Queues data for the browser: one WebSocket frame per event-loop turn, not per instruction. */
  private relay(data: string): void {
    this.pending.push(data);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const data = this.pending.join('');
    this.pending = [];
    super.send(data);
  }

  /** browser → guacd: parsed, checked against the policy and logged before guacd sees it. */
  override sendMessageToGuacd(message: Buffer | string): void {
    let instructions: GuacInstruction[];
    try {
      instructions = this.inputParser.push(typeof message === 'string' ? message : message.toString('utf8'));
    } catch (err) {
      this.hooks?.onProtocolError?.(err instanceof Error ? err.message : 'malformed data');
      this.end('The browser sent data Airlock could not accept; the session was ended.', GUAC_STATUS.CLIENT_BAD_REQUEST);
      return;
    }
    // The tunnel's own pings (empty opcode) are answered here, as Guacamole's Java tunnel does;
    // they are not input and never reach guacd.
    for (const i of instructions) if (i[0] === '' && i[1] === 'ping') this.relay(encodeInstruction('', ...i.slice(1)));
    const allowed = instructions.filter((i) => i[0] !== '' && (this.hooks?.onInput(i) ?? false));
    if (allowed.length === 0) return;
    super.sendMessageToGuacd(allowed.map(([opcode = '', ...args]) => encodeInstruction(opcode, ...args)).join(''));
  }

  /** Instructions of the portal's own to guacd (the file airlock's streams), past the browser's input policy. */
  sendToGuacd(data: string): void {
    if (this.ended) throw new Error('the session has ended');
    this.guacdClient?.send(data, true);
  }

  /** Tells the browser something without ending the session (a `msg` instruction). */
  notify(message: string): void {
    if (!this.ended) this.relay(encodeInstruction('msg', String(AIRLOCK_NOTICE_MSG), message));
  }

  /** Tells the browser the observer gate's state (the session screen's banner). */
  observerStatus(state: string, message: string): void {
    if (!this.ended) this.relay(encodeInstruction('msg', String(AIRLOCK_OBSERVER_MSG), message, state));
  }

  /** Sends an instruction to guacd that did not come from this browser (an observer's input, a key release). */
  inject(instruction: GuacInstruction): void {
    if (this.ended) return;
    const [opcode = '', ...args] = instruction;
    super.sendMessageToGuacd(encodeInstruction(opcode, ...args));
  }

  /** Ends the session with a reason the browser shows (a Guacamole `error` instruction). */
  end(message: string, status: number): void {
    if (!this.ended) this.tell({ message, status });
    this.close();
  }

  override close(error?: Error): void {
    if (this.closingQuietly) return;
    const browserThere = this.webSocket.readyState === this.webSocket.OPEN;
    const fromGuacd = !this.ended && browserThere && !this.guacdSaidGoodbye;
    if (fromGuacd && error === undefined && this.hooks?.onGuacdClosed !== undefined) {
      // A quiet close is a normal end (guacd 1.3 says nothing when the shell exits) unless guacd itself is gone.
      this.closingQuietly = true;
      this.hooks
        .onGuacdClosed()
        .catch(() => undefined)
        .then((told) => {
          if (told !== undefined) this.tell(told);
          this.finishClose(undefined);
        });
      return;
    }
    // guacd's socket broke or went silent (guacamole-lite's inactivity check) while the browser was there.
    if (fromGuacd && error !== undefined && this.hooks?.onGuacdLost !== undefined) this.tell(this.hooks.onGuacdLost(error.message));
    this.finishClose(error);
  }

  /** The browser's last word from the broker: a Guacamole `error` instruction. */
  private tell(told: { message: string; status: number }): void {
    this.ended = true;
    this.flush();
    super.send(encodeInstruction('error', told.message, String(told.status)));
  }

  private finishClose(error: Error | undefined): void {
    this.flush();
    // Tell guacd the user left, so its child ends the connection and closes the recording now,
    // instead of noticing a dead socket seconds later.
    this.guacdClient?.send(encodeInstruction('disconnect'));
    super.close(error);
  }
}
