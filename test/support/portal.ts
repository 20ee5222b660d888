// Starts a real portal (real Redis, real dev IdP) in the test process on a free port.
import { Writable } from 'node:stream';
import { loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { startPortal, type Portal } from '../../server/app/portal.ts';
import { freePort } from '../../dev/probes.ts';
import { createClient } from 'redis';
import { redisDbUrl, sharedGuacd, sharedRedisUrl, testServices } from './services.ts';

/** The dev IdP password in tests; the demo generates one per run. */
export const TEST_IDP_PASSWORD = 'test-password-1';

export interface TestPortal extends Portal {
  /** The origin the browser uses (http://localhost:PORT), as configured. */
  readonly publicUrl: string;
  /** Every log line the portal wrote, for asserting what was (not) logged. */
  readonly logLines: string[];
}

/**
 * Starts a portal. `freshDb` puts it on its own Redis database, emptied first (see redisDbUrl);
 * without it the portal uses database 0 or whatever AIRLOCK_REDIS_URL in `env` says. A variable
 * given as undefined is unset (e.g. AIRLOCK_REDIS_URL, for a portal on Sentinel).
 */
export async function startTestPortal(env: Record<string, string | undefined> = {}, opts: { freshDb?: number } = {}): Promise<TestPortal> {
  if (opts.freshDb !== undefined) {
    const url = redisDbUrl(opts.freshDb);
    const client = createClient({ url });
    await client.connect();
    await client.flushDb();
    client.destroy();
    env = { AIRLOCK_REDIS_URL: url, ...env };
  }
  const port = await freePort();
  const guacd = sharedGuacd();
  const clamd = testServices().clamd;
  const config = loadConfig({
    NODE_ENV: 'test',
    AIRLOCK_MODE: 'test',
    AIRLOCK_PORT: String(port),
    AIRLOCK_PUBLIC_URL: `http://localhost:${port}`,
    AIRLOCK_REDIS_URL: sharedRedisUrl(),
    AIRLOCK_GUACD: `${guacd.host}:${guacd.port}`,
    AIRLOCK_INSECURE_HTTP_COOKIES: 'true',
    AIRLOCK_DEV_IDP_PASSWORD: TEST_IDP_PASSWORD,
    AIRLOCK_LOG_LEVEL: 'info',
    // Every suite signs in from 127.0.0.1, several on one Redis database within a minute; the
    // per-source sign-in limit has a suite of its own (test/rate-limits.test.ts).
    AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE: '100000',
    // The file airlock's scanner: the supervisor's clamd with its generated signatures.
    ...(clamd === undefined ? {} : { AIRLOCK_CLAMD: `unix:${clamd.socket}` }),
    ...env,
  });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
      done();
    },
  });
  const portal = await startPortal(config, createLogger(config.logLevel, sink));
  return Object.assign(portal, { publicUrl: config.publicUrl, logLines });
}
