// The shared node-redis client, on one Redis (a URL) or through Sentinel (server/redis-sentinel.ts).
// Commands fail at once while the server is unreachable (no offline queue), and a watchdog
// turns a hung server into an unreachable one, so a Redis outage of any kind answers 503
// within a bounded time instead of requests that hang. Writes that must survive a failover
// go through durableCommand / LuaScript.runDurably (WAIT).
import { createHash } from 'node:crypto';
import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';
import { SentinelRedis, type SentinelTarget } from './redis-sentinel.ts';
import { RedisNotDurableError } from './redis-errors.ts';

export { RedisNotDurableError, RedisUnavailableError } from './redis-errors.ts';
export type { SentinelTarget } from './redis-sentinel.ts';

export type RedisClient = ReturnType<typeof createClient>;

/** Where the state store is: one Redis by URL, or a master that Sentinel names. */
export type RedisTarget = { readonly kind: 'standalone'; readonly url: string } | SentinelTarget;

/**
 * WAIT after the writes that must survive a failover: an acknowledged write is on at least
 * `replicas` replicas. 0: no WAIT (a single Redis has no replica to wait for).
 */
export interface RedisDurability {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/** Longest back-off between reconnection attempts; short enough to come back quickly after a restart. */
const MAX_RECONNECT_DELAY_MS = 2_000;
/** A connect attempt that takes longer than this is treated as a failure. */
const CONNECT_TIMEOUT_MS = 3_000;
/** The default AIRLOCK_REDIS_COMMAND_TIMEOUT_MS; above the 2 s Redis may stall writes for a slow AOF fsync. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 3_000;
/** Longest gap between two watchdog probes: a hang is noticed within this plus the timeout. */
const MAX_PROBE_INTERVAL_MS = 1_000;
/**
 * Master connections for WAIT-ed writes (besides the shared one): WAIT blocks its connection
 * for as long as replicas take to confirm, so these never carry other commands; more writes
 * at once queue for one of them.
 */
const DURABLE_WRITE_CONNECTIONS = 4;

/** While Sentinel errors go on, they are logged this often. */
const SENTINEL_ERROR_LOG_INTERVAL_MS = 60_000;

const reconnectStrategy = (retries: number): number => Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS);

export async function connectRedis(
  target: string | RedisTarget,
  log: Logger,
  name = 'airlock',
  commandTimeoutMs = DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  durability: RedisDurability = { replicas: 0, timeoutMs: 0 },
): Promise<RedisClient> {
  const resolved: RedisTarget = typeof target === 'string' ? { kind: 'standalone', url: target } : target;
  if (resolved.kind === 'sentinel') return connectSentinel(resolved, log, name, commandTimeoutMs, durability);
  // config.ts allows WAIT only with Sentinel: a lone Redis has no replica that could confirm.
  if (durability.replicas > 0) throw new Error('WAIT-ed writes need Sentinel (AIRLOCK_REDIS_SENTINELS)');
  const client = createClient({
    url: resolved.url,
    name,
    disableOfflineQueue: true,
    // node-redis times a command out only while it waits to be written (a full socket buffer);
    // one written to a hung server waits for ever, which is what the watchdog below is for.
    commandOptions: { timeout: commandTimeoutMs },
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy,
    },
  });
  let down = false;
  client.on('error', (err: Error) => {
    // node-redis reconnects by itself; log the first failure of an outage, not every retry.
    if (!down) log.error({ err: { name: err.name, message: err.message } }, 'redis connection lost');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
  await client.connect();
  watchRedis(
    {
      closed: () => !client.isOpen,
      state: () => (client.isReady ? 'ready' : 'waiting'),
      ping: () => client.ping(),
      // destroy() fails every pending command at once (503s), including those already written
      // to a server that stopped reading; connect() then starts over.
      reset: () => {
        client.destroy();
        client.connect().catch(() => {
          // Reported through the client's 'error' events; the watchdog tries again.
        });
      },
    },
    commandTimeoutMs,
    () => {
      if (!down) log.error({ timeoutMs: commandTimeoutMs }, 'redis unresponsive; its pending commands fail and the client reconnects');
      down = true;
    },
  );
  return client;
}

/**
 * Through Sentinel: node-redis finds the master, follows failovers (pending commands wait for
 * the new master, within the deadline) and moves subscriptions. The watchdog here only handles
 * what it cannot: a master connection that hangs, and a start that failed.
 */
async function connectSentinel(target: SentinelTarget, log: Logger, name: string, commandTimeoutMs: number, durability: RedisDurability): Promise<RedisClient> {
  const redis = new SentinelRedis(target, {
    clientName: name,
    commandTimeoutMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    reconnectStrategy,
    deadlineMs: commandTimeoutMs,
    writeConnections: durability.replicas > 0 ? DURABLE_WRITE_CONNECTIONS : 0,
  });
  // RedisSentinel has the single client's commands, MULTI, scripts and pub/sub; redis-sentinel.ts
  // supplies the rest (duplicate, sendCommand's shape, destroy, events). One cast, here.
  const client = redis.client as unknown as RedisClient;
  // Errors come from the master connection and from each sentinel looked at (every 250 ms while
  // none answers): one line per outage, and one a minute while it lasts.
  let down = false;
  let loggedAt = 0;
  client.on('error', (err: Error) => {
    if (!down || Date.now() - loggedAt >= SENTINEL_ERROR_LOG_INTERVAL_MS) {
      log.error({ err: { name: err.name, message: err.message } }, 'redis connection lost');
      loggedAt = Date.now();
    }
    down = true;
  });
  redis.onMasterChange((node) => {
    log.info({ master: `${node.host}:${node.port}`, masterName: target.masterName }, down ? 'redis connection restored (sentinel master)' : 'redis master (sentinel)');
    down = false;
  });
  await redis.connect();
  watchRedis(
    {
      closed: () => redis.closed,
      // Not ready while node-redis looks for the master after a failover: it is recovering by itself.
      state: () => (redis.isReady ? 'ready' : redis.failedToStart ? 'waiting' : 'recovering'),
      ping: () => redis.ping(),
      reset: () => redis.reset(),
    },
    commandTimeoutMs,
    () => {
      if (!down) log.error({ timeoutMs: commandTimeoutMs }, 'redis unresponsive; its pending commands fail and the client reconnects through the sentinels');
      down = true;
    },
  );
  if (durability.replicas > 0) {
    DURABILITY.set(client, {
      replicas: durability.replicas,
      timeoutMs: durability.timeoutMs,
      // The WAIT itself may take its whole timeout: the deadline covers both.
      pipeline: (commands) => redis.pipelineOnOwnConnection(commands, commandTimeoutMs + durability.timeoutMs),
    });
  }
  return client;
}

/** What the watchdog sees of a connection. */
interface WatchedConnection {
  /** Closed for good by its owner: the watchdog stops. */
  closed(): boolean;
  /** ready: probe it; waiting: not ready, reset after the timeout; recovering: leave it alone. */
  state(): 'ready' | 'waiting' | 'recovering';
  ping(): Promise<unknown>;
  reset(): void;
}

/**
 * The watchdog of one connection: a PING unanswered within `timeoutMs`, or a connection not
 * ready for that long, resets it, which fails every pending command at once (503s); until
 * the new connection is ready commands fail fast. Pipelines and MULTI are queued by node-redis
 * even while not ready; the not-ready rule bounds their wait too. Stops when the connection is
 * closed for good. Not for connections that run blocking commands (XREAD BLOCK, subscribers).
 */
function watchRedis(conn: WatchedConnection, timeoutMs: number, onReset: () => void): void {
  let probing = false;
  let notReadySince: number | undefined;
  const reset = (): void => {
    onReset();
    probing = false;
    notReadySince = undefined;
    conn.reset();
  };
  const timer = setInterval(
    () => {
      if (conn.closed()) {
        clearInterval(timer); // closed by its owner (destroy/close), not by us: we reconnect at once
        return;
      }
      const state = conn.state();
      if (state !== 'ready') {
        if (state === 'recovering') {
          notReadySince = undefined;
          return;
        }
        notReadySince ??= Date.now();
        if (Date.now() - notReadySince >= timeoutMs) reset();
        return;
      }
      notReadySince = undefined;
      if (probing) return;
      probing = true;
      let deadline: NodeJS.Timeout | undefined;
      const answered = conn.ping().then(
        () => true,
        () => true, // a failed PING is an answer (or a reset already under way): not a hang
      );
      const hung = new Promise<false>((resolve) => {
        deadline = setTimeout(() => resolve(false), timeoutMs);
      });
      void Promise.race([answered, hung]).then((ok) => {
        clearTimeout(deadline);
        if (!probing) return; // a reset happened meanwhile
        probing = false;
        if (!ok && !conn.closed() && conn.state() === 'ready') reset();
      });
    },
    Math.min(MAX_PROBE_INTERVAL_MS, Math.max(50, Math.floor(timeoutMs / 2))),
  );
  timer.unref();
}

interface Durability extends RedisDurability {
  /** Raw commands as one pipeline on a connection of their own. */
  pipeline(commands: readonly (readonly string[])[]): Promise<unknown[]>;
}

/** The clients whose acknowledged writes must be confirmed by replicas (Sentinel with WAIT on). */
const DURABILITY = new WeakMap<RedisClient, Durability>();

/** Whether `client` WAITs after durable writes (for tests and the doctor). */
export function durabilityOf(client: RedisClient): RedisDurability | undefined {
  const d = DURABILITY.get(client);
  return d === undefined ? undefined : { replicas: d.replicas, timeoutMs: d.timeoutMs };
}

/**
 * One write whose acknowledgment must survive a failover (a decision, a revocation, a grant,
 * a consumed ticket, an audit event): with Sentinel it is sent with `WAIT replicas timeout`
 * right behind it on the same connection, and answered only if enough replicas confirmed it;
 * otherwise RedisNotDurableError (503): the write may be on the master alone and a failover
 * would lose it, so the caller must not act on it. On a single Redis: just the command.
 * Returns the raw reply (RESP2: strings, numbers, arrays, null).
 */
export async function durableCommand(client: RedisClient, command: readonly string[]): Promise<unknown> {
  const d = DURABILITY.get(client);
  if (d === undefined) return client.sendCommand([...command]);
  const [reply, acknowledged] = await d.pipeline([command, ['WAIT', String(d.replicas), String(d.timeoutMs)]]);
  if (reply instanceof ErrorReply) throw reply;
  if (typeof acknowledged !== 'number' || acknowledged < d.replicas) throw new RedisNotDurableError(typeof acknowledged === 'number' ? acknowledged : 0, d.replicas);
  return reply;
}

/**
 * A second connection to the same Redis, not connected yet: for subscriptions and blocking reads
 * (a client in either state can run nothing else). Its errors are not logged: the shared client
 * logs an outage, and this one reconnects (and resubscribes) by itself.
 */
export function secondConnection(client: RedisClient): RedisClient {
  const second = client.duplicate();
  second.on('error', () => {});
  return second;
}

/** PING with a deadline: false when Redis is down, slow or answering wrongly. */
export async function redisAlive(client: RedisClient, timeoutMs = 1_000): Promise<boolean> {
  if (!client.isReady) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const reply = await Promise.race([
      client.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return reply === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const isNoScript = (err: unknown): boolean => err instanceof ErrorReply && err.message.startsWith('NOSCRIPT');

/**
 * A Lua script run by its SHA (EVALSHA), so Redis does not receive and hash the source on every
 * call; after a Redis restart or SCRIPT FLUSH the first call falls back to EVAL, which caches it.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    try {
      return await client.evalSha(this.sha, options);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return client.eval(this.source, options);
    }
  }

  /** run(), as a durableCommand: answered only once replicas confirmed the script's writes. */
  async runDurably(client: RedisClient, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    const tail = [String(options.keys.length), ...options.keys, ...options.arguments];
    try {
      return await durableCommand(client, ['EVALSHA', this.sha, ...tail]);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return durableCommand(client, ['EVAL', this.source, ...tail]);
    }
  }
}
