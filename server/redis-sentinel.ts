// Redis through Sentinel (node-redis createSentinel) behind the client interface the portal
// uses for a single Redis, so no module needs to know which one it runs on: commands, MULTI,
// pipelines, scripts, pub/sub and duplicate() all follow the master across failovers.
import { EventEmitter } from 'node:events';
import { createClient, createSentinel, ErrorReply, MultiErrorReply } from 'redis';
import { RedisUnavailableError } from './redis-errors.ts';

export interface SentinelTarget {
  readonly kind: 'sentinel';
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  readonly masterName: string;
  /** ACL user and password of the data nodes (master and replicas). */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The sentinels' own password (their `requirepass`), if they have one. */
  readonly sentinelPassword: string | undefined;
  /** TLS to the data nodes and the sentinels; `ca` is PEM (undefined: Node's default roots). */
  readonly tls: { readonly ca: string | undefined } | undefined;
}

export interface SentinelClientOptions {
  /** CLIENT SETNAME of the data-node connections. */
  clientName: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  reconnectStrategy: (retries: number) => number;
  /** Every call fails (503) when unanswered this long; undefined for connections running blocking commands. */
  deadlineMs: number | undefined;
  /** Connections to the master beyond the one all commands share; each runs one WAIT-ed write at a time. */
  writeConnections: number;
}

/**
 * What this module needs of node-redis's RedisSentinel. Its published type is generic over
 * modules and scripts in a way no single alias captures, so it is narrowed here, once.
 */
interface Sentinel {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  destroy(): Promise<void>;
  close(): Promise<void>;
  getMasterNode(): { host: string; port: number } | undefined;
  sendCommand(isReadonly: boolean | undefined, args: readonly string[], options?: unknown): Promise<unknown>;
  acquire(): Promise<SentinelLease>;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** A master connection of one's own (node-redis builds a whole command class per lease: keep them). */
interface SentinelLease {
  multi(): { addCommand(isReadonly: boolean, args: readonly string[]): unknown; execAsPipeline(): Promise<unknown[]> };
}

/** The write connections of one RedisSentinel, lent to one pipeline at a time. */
class LeasePool {
  readonly #free: SentinelLease[];
  readonly #waiting: Array<(lease: SentinelLease) => void> = [];

  constructor(leases: SentinelLease[]) {
    this.#free = leases;
  }

  take(): Promise<SentinelLease> {
    const lease = this.#free.pop();
    return lease === undefined ? new Promise((resolve) => this.#waiting.push(resolve)) : Promise.resolve(lease);
  }

  give(lease: SentinelLease): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#free.push(lease);
    else next(lease);
  }
}

/**
 * Replies that mean "no usable master here" rather than a fault of the command: node-redis
 * retries READONLY itself a few times; what still comes back is a store outage (503).
 */
const UNAVAILABLE_REPLIES = /^(READONLY|LOADING|MASTERDOWN|NOREPLICAS|TRYAGAIN)\b/;

/** A failure that reaches callers: Redis's own replies pass; everything else is "unavailable". */
function translate(err: unknown): unknown {
  if (err instanceof ErrorReply && !UNAVAILABLE_REPLIES.test(err.message)) return err;
  if (err instanceof RedisUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RedisUnavailableError(`redis (sentinel): ${message}`, { cause: err });
}

/**
 * Races a call against its deadline. A call past it is answered as unavailable; node-redis may
 * still complete it later (it retries commands across a failover), so like any 503 its outcome
 * is unknown to the caller.
 */
function guarded<T>(call: Promise<T>, deadlineMs: number | undefined): Promise<T> {
  const translated = call.catch((err: unknown) => {
    throw translate(err);
  });
  if (deadlineMs === undefined) return translated;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`redis (sentinel): no answer within ${deadlineMs} ms`)), deadlineMs);
  });
  translated.catch(() => undefined); // a late failure after the deadline answered is nobody's
  return Promise.race([translated, late]).finally(() => clearTimeout(timer));
}

const isMultiBuilder = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { execAsPipeline?: unknown }).execAsPipeline === 'function';

const EXEC_METHODS = new Set<PropertyKey>(['exec', 'execTyped', 'execAsPipeline', 'execAsPipelineTyped']);

/** A MULTI/pipeline builder whose exec* calls get the deadline and the error translation. */
function multiView(builder: Record<string, unknown>, deadlineMs: number | undefined): unknown {
  const view: unknown = new Proxy(builder, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (EXEC_METHODS.has(prop) && result instanceof Promise) return guarded(result, deadlineMs);
        return result === target ? view : result; // keep chains (multi().set().expire()) on the view
      };
    },
  });
  return view;
}

/**
 * What any call answers while there is no RedisSentinel (closed, or between a failed start
 * and the next): a rejected promise that also acts as a MULTI builder, as a closed node-redis
 * client's multi() does (its exec fails), so no caller breaks on a missing method.
 */
function unavailable(err: RedisUnavailableError): unknown {
  const rejected = Promise.reject(err);
  rejected.catch(() => undefined); // a builder is never awaited itself: its exec() is
  const stub: unknown = new Proxy(rejected, {
    get(target, prop) {
      if (prop === 'then' || prop === 'catch' || prop === 'finally') return (Reflect.get(target, prop) as (...a: unknown[]) => unknown).bind(target);
      return () => (EXEC_METHODS.has(prop) ? rejected : stub);
    },
  });
  return stub;
}

const EMITTER_METHODS = ['on', 'once', 'off', 'addListener', 'removeListener', 'removeAllListeners', 'emit', 'listenerCount', 'listeners'] as const;

/**
 * One logical Redis connection through Sentinel. `client` is what the rest of the portal holds;
 * behind it sits one RedisSentinel, replaced as a whole when the watchdog finds it hung.
 */
export class SentinelRedis {
  /** The portal-facing client (typed as the single-Redis client by server/redis.ts). */
  readonly client: object;
  readonly #target: SentinelTarget;
  readonly #options: SentinelClientOptions;
  readonly #emitter = new EventEmitter();
  #current: Sentinel | undefined;
  /** The current RedisSentinel's write connections (set once it is connected). */
  #leases: Promise<LeasePool> | undefined;
  #connecting: Promise<void> | undefined;
  #failed = false;
  #closed = false;

  constructor(target: SentinelTarget, options: SentinelClientOptions) {
    this.#target = target;
    this.#options = options;
    const overrides: Record<PropertyKey, unknown> = {
      connect: async () => {
        await this.connect();
        return this.client;
      },
      destroy: () => this.destroy(),
      close: () => this.close(),
      quit: () => this.close(),
      duplicate: () => new SentinelRedis(target, { ...options, deadlineMs: undefined, writeConnections: 0 }).client,
      // The single client's sendCommand(args, options); RedisSentinel's takes "read-only?" first.
      sendCommand: (args: readonly string[], commandOptions?: unknown) =>
        this.#current === undefined ? Promise.reject(this.#notConnected()) : guarded(this.#current.sendCommand(false, args, commandOptions), options.deadlineMs),
    };
    for (const name of EMITTER_METHODS) {
      overrides[name] = (...args: unknown[]): unknown => {
        const result: unknown = (this.#emitter[name] as (...a: unknown[]) => unknown).apply(this.#emitter, args);
        return result === this.#emitter ? this.client : result;
      };
    }
    this.client = new Proxy(
      {},
      {
        get: (_, prop) => {
          if (prop === 'isOpen') return !this.#closed && this.#current !== undefined;
          if (prop === 'isReady') return this.isReady;
          if (Object.hasOwn(overrides, prop)) return overrides[prop];
          const sentinel = this.#current;
          // Between a failed start and the next, calls fail (as promises: callers await them).
          if (sentinel === undefined || this.#closed) return () => unavailable(this.#notConnected());
          const value: unknown = Reflect.get(sentinel, prop);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            const result: unknown = (value as (...a: unknown[]) => unknown).apply(sentinel, args);
            if (result instanceof Promise) return guarded(result, options.deadlineMs);
            return isMultiBuilder(result) ? multiView(result, options.deadlineMs) : result;
          };
        },
      },
    );
  }

  /** Ready when node-redis holds a connected master connection (not while it looks for one). */
  get isReady(): boolean {
    const s = this.#current;
    return !this.#closed && s !== undefined && s.isReady && s.getMasterNode() !== undefined;
  }

  /** Called with each new master node-redis moves to (the first one included). */
  onMasterChange(listener: (node: { host: string; port: number }) => void): void {
    this.#emitter.on('master', listener);
  }

  /** The master node-redis talks to now, if any. */
  master(): { host: string; port: number } | undefined {
    return this.#current?.getMasterNode();
  }

  async connect(): Promise<void> {
    if (this.#closed) throw new RedisUnavailableError('redis (sentinel): the client was closed');
    await this.#start({ checkSentinels: true });
  }

  /**
   * Starts over with a new RedisSentinel: the watchdog's answer to a connection that stopped
   * answering. Pending calls of the old one fail at once; new calls wait for the new one.
   */
  reset(): void {
    if (this.#closed || this.#connecting !== undefined) return;
    const old = this.#current;
    this.#current = undefined;
    this.#leases = undefined;
    this.#start({ checkSentinels: false }).catch(() => {
      // Reported through 'error'; the watchdog tries again.
    });
    old?.destroy().catch(() => undefined);
  }

  /** Closed for good by its owner. */
  get closed(): boolean {
    return this.#closed;
  }

  /** PING on the shared connection without the deadline: the watchdog times it itself. */
  ping(): Promise<unknown> {
    const s = this.#current;
    return s === undefined ? Promise.reject(this.#notConnected()) : guarded(s.sendCommand(false, ['PING']), undefined);
  }

  /** The connection is starting or has failed to start: the watchdog's cue (see server/redis.ts). */
  get starting(): boolean {
    return this.#connecting !== undefined;
  }

  get failedToStart(): boolean {
    return this.#failed;
  }

  /**
   * Runs raw commands as one pipeline on a master connection of their own (not the shared
   * one, since WAIT blocks its connection): what server/redis.ts builds WAIT-ed writes from.
   * Should the connection drop mid-way, node-redis re-runs the whole pipeline on the new
   * master, so a WAIT always answers for the write sent on its own connection.
   */
  pipelineOnOwnConnection(commands: readonly (readonly string[])[], deadlineMs: number): Promise<unknown[]> {
    const leases = this.#leases;
    if (leases === undefined || this.#closed) return Promise.reject(this.#notConnected());
    // A caller answered 503 has moved on: a write still queued for a connection is dropped
    // rather than sent late (and a backlog of them cannot hold the connections after an outage).
    let abandoned = false;
    const call = guarded(
      (async () => {
        const pool = await leases;
        const lease = await pool.take();
        try {
          if (abandoned) throw new RedisUnavailableError('redis (sentinel): abandoned before it was sent');
          const multi = lease.multi();
          for (const command of commands) multi.addCommand(false, command);
          return await multi.execAsPipeline();
        } catch (err) {
          // Replies that are errors (NOSCRIPT, WRONGTYPE) come back in place, for the caller to read.
          if (err instanceof MultiErrorReply) return err.replies;
          throw err;
        } finally {
          pool.give(lease);
        }
      })(),
      deadlineMs,
    );
    call.catch(() => {
      abandoned = true;
    });
    return call;
  }

  destroy(): void {
    this.#closed = true;
    const s = this.#current;
    this.#current = undefined;
    this.#leases = undefined;
    s?.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const s = this.#current;
    this.#current = undefined;
    this.#leases = undefined;
    await s?.close().catch(() => undefined);
  }

  #notConnected(): RedisUnavailableError {
    return new RedisUnavailableError(this.#closed ? 'redis (sentinel): the client was closed' : 'redis (sentinel): not connected');
  }

  #start(opts: { checkSentinels: boolean }): Promise<void> {
    this.#connecting ??= (async () => {
      this.#failed = false;
      try {
        // At start-up, ask the sentinels first: node-redis would otherwise retry an unreachable
        // set (or a master name they do not know) for 16 s, printing each failure on the console.
        if (opts.checkSentinels) await this.#checkSentinels();
        const sentinel = this.#create();
        this.#current = sentinel;
        // connect() registers its attempt at once: calls made from here on wait for it.
        const connected = sentinel.connect();
        const writes = this.#options.writeConnections;
        this.#leases = connected.then(async () => new LeasePool(await Promise.all(Array.from({ length: writes }, () => sentinel.acquire()))));
        this.#leases.catch(() => undefined); // a failed start is reported below
        await connected;
        await this.#leases;
      } catch (err) {
        this.#failed = true;
        const failed = this.#current;
        this.#current = undefined;
        this.#leases = undefined;
        failed?.destroy().catch(() => undefined);
        throw translate(err);
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  async #checkSentinels(): Promise<void> {
    const { sentinels, masterName } = this.#target;
    const problems: string[] = [];
    for (const node of sentinels) {
      const probe = createClient({ ...this.#sentinelClientOptions(), socket: { ...this.#socket(), host: node.host, port: node.port, reconnectStrategy: false } });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const reply = await probe.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]);
        if (Array.isArray(reply) && reply.length === 2) return;
        problems.push(`${node.host}:${node.port} knows no master named "${masterName}"`);
      } catch (err) {
        problems.push(`${node.host}:${node.port}: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        probe.destroy();
      }
    }
    throw new RedisUnavailableError(`no sentinel named a master: ${problems.join('; ')}`);
  }

  #socket(): { connectTimeout: number; tls?: true; ca?: string } {
    const { tls } = this.#target;
    const base = { connectTimeout: this.#options.connectTimeoutMs };
    if (tls === undefined) return base;
    return tls.ca === undefined ? { ...base, tls: true } : { ...base, tls: true, ca: tls.ca };
  }

  #sentinelClientOptions(): { password?: string } {
    return this.#target.sentinelPassword === undefined ? {} : { password: this.#target.sentinelPassword };
  }

  #create(): Sentinel {
    const { sentinels, masterName, username, password } = this.#target;
    const { clientName, commandTimeoutMs, reconnectStrategy, writeConnections } = this.#options;
    const sentinel = createSentinel({
      name: masterName,
      sentinelRootNodes: sentinels.map((n) => ({ host: n.host, port: n.port })),
      // One connection every command shares (reserved), plus the WAIT-ed writes' own (acquired
      // once each: a lease builds node-redis's whole command class, milliseconds of CPU).
      masterPoolSize: 1 + writeConnections,
      reserveClient: true,
      nodeClientOptions: {
        name: clientName,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
        // A command to a node that is not connected fails at once; node-redis then asks the
        // sentinels where the master is and retries, instead of queueing it for a dead node.
        disableOfflineQueue: true,
        commandOptions: { timeout: commandTimeoutMs },
        socket: { ...this.#socket(), reconnectStrategy },
      },
      sentinelClientOptions: { ...this.#sentinelClientOptions(), socket: this.#socket() },
    }) as unknown as Sentinel; // see the Sentinel interface above
    sentinel.on('error', (err: unknown) => this.#report(err));
    sentinel.on('client-error', (event: { type: string; node: { host: string; port: number }; error: Error }) => {
      if (event.type === 'MASTER') this.#report(new Error(`master ${event.node.host}:${event.node.port}: ${event.error.message}`));
    });
    sentinel.on('topology-change', (event: { type: string; node?: { host: string; port: number } }) => {
      if (event.type === 'MASTER_CHANGE' && event.node !== undefined) this.#emitter.emit('master', event.node);
    });
    return sentinel;
  }

  #report(err: unknown): void {
    if (this.#emitter.listenerCount('error') > 0) this.#emitter.emit('error', err instanceof Error ? err : new Error(String(err)));
  }
}
