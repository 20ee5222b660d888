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
  UPSTREAM_TIMEOUT: 0x0204,
  UPSTREAM_NOT_FOUND: 0x0207,
  SESSION_TIMEOUT: 0x020a,
  SESSION_CLOSED: 0x020b,
  CLIENT_BAD_REQUEST: 0x0300,
  CLIENT_FORBIDDEN: 0x0303,
  CLIENT_TOO_MANY: 0x031d,
} as const;

const SETTINGS = Symbol('airlock.settings');
const NOP = encodeInstruction('nop');

export interface TransportHooks {
  /** guacd said `ready`: the connection id (for joins) stays on the server. */
  onReady(guacdConnectionId: string): void;
  /** Bytes relayed to the browser (the watchdog's "output flows"). */
  onOutput(bytes: number): void;
  /** One instruction from the browser; false drops it (policy), before guacd sees it. */
  onInput(instruction: GuacInstruction): boolean;
  onClose(error: Error | undefined): void;
  /** The browser sent what is not the Guacamole protocol (or beyond guacd's limits): the connection ends. */
  onProtocolError?(detail: string): void;
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
    // The id above and guacd's keep-alive nops go to this user only, not into the recording:
    // they are not "output" for the recording watchdog.
    if (!data.startsWith(NOP)) this.hooks?.onOutput(data.length);
    this.relay(data);
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

  /** Ends the session with a reason the browser shows (a Guacamole `error` instruction). */
  end(message: string, status: number): void {
    this.flush();
    super.send(encodeInstruction('error', message, String(status)));
    this.close();
  }

  override close(error?: Error): void {
    this.flush();
    // Tell guacd the user left, so its child ends the connection and closes the recording now,
    // instead of noticing a dead socket seconds later.
    this.guacdClient?.send(encodeInstruction('disconnect'));
    super.close(error);
  }
}
