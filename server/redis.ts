// The shared node-redis client. Commands fail at once while the server is unreachable
// (no offline queue), so a Redis outage turns into 503s instead of requests that hang.
import { createHash } from 'node:crypto';
import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';

export type RedisClient = ReturnType<typeof createClient>;

/** Longest back-off between reconnection attempts; short enough to come back quickly after a restart. */
const MAX_RECONNECT_DELAY_MS = 2_000;
/** A connect attempt that takes longer than this is treated as a failure. */
const CONNECT_TIMEOUT_MS = 3_000;

export async function connectRedis(url: string, log: Logger, name = 'airlock'): Promise<RedisClient> {
  const client = createClient({
    url,
    name,
    disableOfflineQueue: true,
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
  return client;
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
