// Tails the audit stream and hands each entry to the syslog transport, at least once, in stream
// order. It reads the stream itself (XREAD BLOCK), not AuditLog.append, because most events are
// appended by Lua scripts in other modules. One portal instance forwards at a time (a Redis lock
// with a TTL); the cursor in Redis, advanced only by the lock holder after each send, lets any
// instance resume where the last one stopped. A receiver that is down stalls forwarding, never
// the portal: the entry is retried with back-off and the cursor stays put.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { keys } from '../keys.ts';
import { RenewableLock } from '../lock.ts';
import { LuaScript, secondConnection, type RedisClient } from '../redis.ts';
import type { AuditStreamEntry } from './format.ts';
import type { SyslogTransport } from './transport.ts';

/** A holder that dies is replaced after at most this long (the SIEM then lags by as much). */
const LOCK_TTL_MS = 10_000;
/** How often a standby instance tries to take the lock: one cheap SET NX a second. */
const LOCK_RETRY_MS = 1_000;
/** XREAD BLOCK: a bounded wait, so a lost lock is noticed even when no event arrives. */
const READ_BLOCK_MS = 5_000;
/** Entries per XREAD: catches up on a backlog in few round trips. */
const READ_BATCH = 100;
/** Retry delays after a failed send or Redis call: quick first retries, then every 5 s. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

/** The stream id before any entry: with no cursor yet, the whole log is forwarded. */
const START_OF_STREAM = '0-0';

// KEYS: lock, cursor. ARGV: token, stream id, ttl. Moves the cursor only while we hold the lock,
// so an instance that lost it (paused past the TTL) cannot move the new holder's cursor back.
const ADVANCE = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`);

export interface ForwarderOptions {
  redis: RedisClient;
  transport: SyslogTransport;
  log: Logger;
  /** This portal instance, written into the lock value so operators can see the holder. */
  instanceId: string;
  /** The syslog message for one stream entry. */
  format: (entry: AuditStreamEntry) => string;
}

function errorFields(err: unknown): { name: string; message: string; code?: string } {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as NodeJS.ErrnoException).code;
  return code === undefined ? { name: e.name, message: e.message } : { name: e.name, message: e.message, code };
}

function isStreamEntry(v: unknown): v is AuditStreamEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e['id'] === 'string' && typeof e['message'] === 'object' && e['message'] !== null;
}

/** The entries of an XREAD reply on one stream (node-redis: [{ name, messages }] or null). */
function entriesOf(reply: unknown): AuditStreamEntry[] {
  if (!Array.isArray(reply)) return [];
  const stream: unknown = reply[0];
  if (typeof stream !== 'object' || stream === null) return [];
  const messages = (stream as Record<string, unknown>)['messages'];
  return Array.isArray(messages) ? messages.filter(isStreamEntry) : [];
}

export class SiemForwarder {
  readonly #redis: RedisClient;
  readonly #transport: SyslogTransport;
  readonly #log: Logger;
  readonly #format: (entry: AuditStreamEntry) => string;
  /** Its token is unique per start: two instances (or two starts of one) never mistake each other's lock. */
  readonly #lock: RenewableLock;
  readonly #stopping = new AbortController();
  /** XREAD BLOCK holds its connection; it gets one of its own. */
  #reader: RedisClient | undefined;
  #running: Promise<void> | undefined;
  #holding = false;

  constructor(options: ForwarderOptions) {
    this.#redis = options.redis;
    this.#transport = options.transport;
    this.#log = options.log;
    this.#format = options.format;
    this.#lock = new RenewableLock(options.redis, keys.siem.lock, `${options.instanceId}/${randomBytes(6).toString('hex')}`, LOCK_TTL_MS);
  }

  async start(): Promise<void> {
    const reader = secondConnection(this.#redis);
    await reader.connect();
    this.#reader = reader;
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#holding = false;
    this.#lock.stopRenewing();
    this.#reader?.destroy(); // ends a pending XREAD BLOCK at once
    const closing = this.#transport.close(); // ends a pending connect or write to a hung receiver
    await this.#running;
    if (this.#redis.isReady) {
      // Lets a standby take over at once when this instance stops.
      await this.#lock.release().catch(() => undefined);
    }
    await closing;
  }

  get #stopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        if (await this.#acquire()) {
          this.#log.info({ destination: this.#transport.destination }, 'siem forwarding: this instance forwards the audit log');
          await this.#forwardWhileHolding();
        } else {
          await this.#pause(LOCK_RETRY_MS);
        }
        failures = 0;
      } catch (err) {
        if (this.#stopped) break;
        if (failures === 0) this.#log.warn({ err: errorFields(err) }, 'siem forwarding: redis call failed; retrying');
        failures++;
        this.#release();
        await this.#pause(retryDelay(failures));
      }
    }
    this.#release();
  }

  /** SET NX PX; or, if we hold it already (after a Redis hiccup), a renewal. */
  async #acquire(): Promise<boolean> {
    const held = (await this.#lock.take()) || (await this.#lock.renew());
    if (!held) return false;
    this.#holding = true;
    // A renewal Redis refuses: the read or the next cursor update fails too and the loop backs off.
    this.#lock.keepRenewing(() => {
      if (!this.#holding) return;
      this.#log.warn('siem forwarding: lock lost to another instance; standing by');
      this.#release();
    });
    return true;
  }

  /** Forgets the lock locally (the key expires or another instance holds it). */
  #release(): void {
    this.#holding = false;
    this.#lock.stopRenewing();
  }

  async #forwardWhileHolding(): Promise<void> {
    const reader = this.#reader;
    if (reader === undefined) return;
    // Read after taking the lock: the previous holder may have moved it until a moment ago.
    let cursor = (await this.#redis.get(keys.siem.cursor)) ?? START_OF_STREAM;
    while (this.#holding && !this.#stopped) {
      const reply = await reader.xRead({ key: keys.audit.stream, id: cursor }, { BLOCK: READ_BLOCK_MS, COUNT: READ_BATCH });
      for (const entry of entriesOf(reply)) {
        if (!(await this.#deliver(entry))) return;
        const advanced = await ADVANCE.run(this.#redis, { keys: [keys.siem.lock, keys.siem.cursor], arguments: [this.#lock.token, entry.id, String(LOCK_TTL_MS)] });
        if (advanced !== 1) {
          if (this.#holding) this.#log.warn('siem forwarding: lock lost to another instance; standing by');
          this.#release();
          return;
        }
        cursor = entry.id;
      }
    }
  }

  /** Sends one entry, retrying while the receiver is down; false when we stop or lose the lock first. */
  async #deliver(entry: AuditStreamEntry): Promise<boolean> {
    const message = this.#format(entry);
    for (let failures = 0; this.#holding && !this.#stopped; ) {
      try {
        await this.#transport.send(message);
        if (failures > 0) this.#log.info({ destination: this.#transport.destination, entry: entry.id }, 'siem forwarding: receiver reachable again');
        return true;
      } catch (err) {
        if (failures === 0) {
          this.#log.warn({ destination: this.#transport.destination, entry: entry.id, err: errorFields(err) }, 'siem forwarding: send failed; retrying from the same entry');
        }
        failures++;
        await this.#pause(retryDelay(failures));
      }
    }
    return false;
  }

  /** Waits, or less if we stop meanwhile. */
  #pause(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#stopping.signal.addEventListener('abort', done);
    });
  }
}

function retryDelay(failures: number): number {
  return Math.min(RETRY_MIN_MS * 2 ** Math.min(failures - 1, 10), RETRY_MAX_MS);
}
