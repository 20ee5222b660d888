// bench/api: request create, approve and list under concurrency against a running portal (its
// own process, real Redis), with /healthz (no Redis, no session) and /api/me (session read) as
// baselines measured in the same run.
import { connectRedis } from '../server/redis.ts';
import { createLogger } from '../server/log.ts';
import { loginAs, type Browserless } from '../test/support/http.ts';
import { closedLoop, portalReady, printTable, round, seedBenchPlant, startBenchPortal, startBenchServices, wrkGet } from './lib.ts';

/** Concurrent clients, as the issue asks. */
const CLIENTS = 32;
const CREATES = 2000;
const APPROVES = 1000;
/** Long enough for throughput to settle on this 2-core machine. */
const READ_SECONDS = 8;

const services = await startBenchServices('api');

const seedClient = await connectRedis(services.redisUrl, createLogger('warn'), 'bench-seed');
await seedBenchPlant(seedClient, {});
seedClient.destroy();

const { base, child: portal } = await startBenchPortal({ redisUrl: services.redisUrl, guacd: services.guacd });
const stop = async () => {
  portal.kill('SIGTERM');
  await services.stop();
};

try {
  await portalReady(base);
  const vendors: Browserless[] = [await loginAs(base, 'vera'), await loginAs(base, 'victor')];
  const approvers: Browserless[] = [await loginAs(base, 'mona'), await loginAs(base, 'olga')];
  const pick = <T>(list: T[], i: number): T => list[i % list.length] as T;

  const start = new Date(Date.now() + 3_600_000).toISOString();
  const end = new Date(Date.now() + 7_200_000).toISOString();
  const ids: string[] = [];
  // GETs are driven by wrk (C): Node's fetch in this process would take a core of its own and
  // measure the client. Writes need per-request bodies and ids, so Node drives those.
  const cookie = { Cookie: vendors[0]?.cookieHeader() ?? '' };
  const healthz = await wrkGet('GET /healthz (wrk)', `${base}/healthz`, { connections: CLIENTS, seconds: READ_SECONDS });
  const me = await wrkGet('GET /api/me (wrk)', `${base}/api/me`, { connections: CLIENTS, seconds: READ_SECONDS, headers: cookie });
  const create = await closedLoop('POST /api/requests', CLIENTS, { total: CREATES }, async (c) => {
    const res = await pick(vendors, c).post('/api/requests', { machineId: 'cnc-07', windowStart: start, windowEnd: end, reason: 'bench' });
    if (res.status === 201) ids.push(res.json<{ request: { id: string } }>().request.id);
    return res.status === 201;
  });
  const approve = await closedLoop('POST …/approve', CLIENTS, { total: Math.min(APPROVES, ids.length) }, async (c, i) => {
    const res = await pick(approvers, c).post(`/api/requests/${ids[i] ?? ''}/approve`, { comment: 'ok' });
    return res.status === 200;
  });
  const list = await wrkGet('GET /api/requests, 50 (wrk)', `${base}/api/requests?scope=mine&limit=50`, { connections: CLIENTS, seconds: READ_SECONDS, headers: cookie });
  const listNode = await closedLoop('GET /api/requests, 50 (Node client)', CLIENTS, { durationMs: READ_SECONDS * 1000 }, async (c) => {
    const res = await pick(vendors, c).get('/api/requests?scope=mine&limit=50');
    return res.status === 200 && res.json<{ requests: unknown[] }>().requests.length === 50;
  });

  console.log(`\nbench/api: ${CLIENTS} concurrent clients, portal in its own process, real Redis (AOF)\n`);
  printTable([healthz, me, create, approve, list, listNode], healthz);
  console.log('(wrk reports 50/75/90/99th percentiles: its rows show the 90th in the p95 column)');
  console.log(
    JSON.stringify({
      list_rps: round(list.rps, 0),
      list_p99_ms: round(list.p99),
      create_rps: round(create.rps, 0),
      approve_rps: round(approve.rps, 0),
      approve_p99_ms: round(approve.p99),
    }),
  );
} finally {
  await stop();
}
