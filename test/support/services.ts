// The shared services started by global-setup, as the test files see them.
import type { RunningServices } from '../../dev/supervisor.ts';

export function testServices(): RunningServices {
  const raw = process.env['AIRLOCK_TEST_SERVICES'];
  if (raw === undefined) throw new Error('AIRLOCK_TEST_SERVICES is not set: run the suites through jest (global-setup)');
  return JSON.parse(raw) as RunningServices;
}

export function sharedRedisUrl(): string {
  const redis = testServices().redis;
  if (redis === undefined) throw new Error('global-setup started no Redis');
  return redis.url;
}

export function sharedGuacd(): { host: string; port: number } {
  const guacd = testServices().guacd;
  if (guacd === undefined) throw new Error('global-setup started no guacd');
  return guacd;
}

/**
 * The shared Redis, on a database of the suite's own (1–15): suites run one after another on
 * one Redis, and workflow suites must not see each other's requests and grants.
 */
export function redisDbUrl(db: number): string {
  const url = new URL(sharedRedisUrl());
  url.pathname = `/${db}`;
  return url.toString();
}
