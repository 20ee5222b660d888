// The shared node-redis client. Commands fail at once while the server is unreachable (no
// offline queue), and a watchdog turns a hung server into an unreachable one, so a Redis
// outage of any kind answers 503 within a bounded time instead of requests that hang.
import { createHash } from 'node:crypto';
import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';

export type RedisClient = ReturnType<typeof createClient>;

/** Longest back-off between reconnection attempts; short enough to come back quickly after a restart. */
const MAX_RECONNECT_DELAY_MS = 2_000;
/** A connect attempt that takes longer than this is treated as a failure. */
const CONNECT_TIMEOUT_MS = 3_000;
/** The default AIRLOCK_REDIS_COMMAND_TIMEOUT_MS; above the 2 s Redis may stall writes for a slow AOF fsync. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 3_000;
/** Longest gap between two watchdog probes: a hang is noticed within this plus the timeout. */
const MAX_PROBE_INTERVAL_MS = 1_000;

export async function connectRedis(url: string, log: Logger, name = 'airlock', commandTimeoutMs = DEFAULT_REDIS_COMMAND_TIMEOUT_MS): Promise<RedisClient> {
  const client = createClient({
    url,
    name,
    disableOfflineQueue: true,
    // node-redis times a command out only while it waits to be written (a full socket buffer);
    // one written to a hung server waits for ever, which is what the watchdog below is for.
    commandOptions: { timeout: commandTimeoutMs },
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS),
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
  watchRedis(client, commandTimeoutMs, () => {
    if (!down) log.error({ timeoutMs: commandTimeoutMs }, 'redis unresponsive; its pending commands fail and the client reconnects');
    down = true;
  });
  return client;
}

/**
 * The watchdog of one client: a PING unanswered within `timeoutMs`, or a connection not ready
 * for that long, resets the connection. destroy() fails every pending command at once (503s),
 * including those already written to a server that stopped reading; connect() then starts
 * over, and until it is ready commands fail fast. Pipelines and MULTI are queued by node-redis
 * even while not ready; the not-ready rule bounds their wait too. Stops when the client is
 * closed for good. Not for connections that run blocking commands (XREAD BLOCK, subscribers).
 */
function watchRedis(client: RedisClient, timeoutMs: number, onReset: () => void): void {
  let probing = false;
  let notReadySince: number | undefined;
  const reset = (): void => {
    onReset();
    probing = false;
    notReadySince = undefined;
    client.destroy();
    client.connect().catch(() => {
      // Reported through the client's 'error' events; the watchdog tries again.
    });
  };
  const timer = setInterval(
    () => {
      if (!client.isOpen) {
        clearInterval(timer); // closed by its owner (destroy/close), not by us: we reconnect at once
        return;
      }
      if (!client.isReady) {
        notReadySince ??= Date.now();
        if (Date.now() - notReadySince >= timeoutMs) reset();
        return;
      }
      notReadySince = undefined;
      if (probing) return;
      probing = true;
      let deadline: NodeJS.Timeout | undefined;
      const answered = client.ping().then(
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
        if (!ok && client.isOpen && client.isReady) reset();
      });
    },
    Math.min(MAX_PROBE_INTERVAL_MS, Math.max(50, Math.floor(timeoutMs / 2))),
  );
  timer.unref();
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
      if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
      return client.eval(this.source, options);
    }
  }
}
