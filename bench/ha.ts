// bench/ha: high availability, measured on these machines. (1) A Sentinel failover (master
// SIGKILLed under load: sign-ins, reads, decisions, revocations, session tickets): how long
// failed calls took, what was acknowledged and lost, which used tickets worked again. (2) A
// portal instance SIGKILLed with live sessions behind HAProxy: how many of them a survivor
// finalised. The portal records what it relays is the lead's part: its two figures are null.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { startServices } from '../dev/supervisor.ts';
import { sentinelMaster } from '../dev/sentinel.ts';
import { connectRedis, type RedisClient } from '../server/redis.ts';
import { createLogger } from '../server/log.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import { Browserless, loginAs } from '../test/support/http.ts';
import { openTunnel, type Tunnel } from '../test/support/tunnel.ts';
import { auditEvents, readRequest, windowFromNow } from '../test/support/workflow.ts';
import { waitFor } from '../test/support/wait.ts';
import { startFleet } from '../test/support/fleet.ts';
import { percentile, portalReady, printGrid, round, seedBenchPlant, startBenchPortal } from './lib.ts';

/** API readers during the failover; with the writers below, the load a busy plant might put on one portal. */
const READERS = 12;
const DECIDERS = 2;
/** How long the load runs before the kill, and after every kind of call works again. */
const STEADY_MS = 3_000;
/** A failover must be over by then, or the bench reports it as not recovered. */
const RECOVERY_BUDGET_MS = 60_000;
/** Live sessions on the instance that is killed. */
const KILLED_SESSIONS = 4;
/** A dead instance's heartbeat lapses after 10 s; a survivor's next rounds finalise its sessions. */
const FINALISE_BUDGET_MS = 45_000;

const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-ha-'));
const supervisor = await startServices({ stateDir, services: ['redis', 'sentinel', 'guacd', 'sshd'], userPrefix: 'airlock-bench' });
const { redis, sentinel: topology, guacd } = supervisor.services;
if (redis === undefined || topology === undefined || guacd === undefined) throw new Error('services missing');
const vaultKeys = `bench:${randomBytes(32).toString('base64')}`;
const log = createLogger('warn');

interface Outcome {
  op: string;
  ok: boolean;
  startedAt: number;
  ms: number;
}

const repeat = (op: string, outcomes: Outcome[], running: () => boolean, body: () => Promise<boolean>): Promise<void> =>
  (async () => {
    while (running()) {
      const startedAt = Date.now();
      const ok = await body().catch(() => false);
      outcomes.push({ op, ok, startedAt, ms: Date.now() - startedAt });
    }
  })();

/** The demo plant with real targets, credentials sealed under the portals' keyring. */
async function seed(client: RedisClient): Promise<void> {
  await seedBenchPlant(client, supervisor.services, vaultKeys);
}

/** A grant starting in a moment; resolves once a session ticket can be had. */
async function grant(vendor: Browserless, approver: Browserless, machineId: string): Promise<string> {
  const created = await vendor.post('/api/requests', { machineId, ...windowFromNow(1_200, 30 * 60_000), reason: 'bench/ha' });
  const id = created.json<{ request: { id: string } }>().request.id;
  const approved = await approver.post(`/api/requests/${id}/approve`, {});
  if (approved.status !== 200) throw new Error(`approve failed: ${approved.status} ${approved.text}`);
  await waitFor(async () => (await vendor.post('/api/sessions', { requestId: id })).status === 201, { timeoutMs: 10_000, what: 'the grant' });
  return id;
}

async function sentinelFailover(): Promise<{ rows: string[][]; visibleMs: number; lost: number; revived: number }> {
  const sentinels = topology!.sentinels.map((s) => `${s.host}:${s.port}`).join(',');
  const target = { kind: 'sentinel' as const, sentinels: topology!.sentinels, masterName: topology!.masterName, username: undefined, password: undefined, sentinelPassword: undefined, tls: undefined };
  const seedClient = await connectRedis(target, log, 'bench-seed');
  await seed(seedClient);
  seedClient.destroy();
  const { base, child } = await startBenchPortal({
    redisUrl: undefined,
    guacd: guacd!,
    env: { AIRLOCK_REDIS_SENTINELS: sentinels, AIRLOCK_REDIS_MASTER_NAME: topology!.masterName, AIRLOCK_VAULT_KEYS: vaultKeys, AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE: '1000000' },
  });
  try {
    await portalReady(base, 30_000);
    const [vera, mona] = await Promise.all([loginAs(base, 'vera'), loginAs(base, 'mona')]);
    const ticketGrant = await grant(vera, mona, 'cnc-07');
    const outcomes: Outcome[] = [];
    const acknowledged = { created: [] as string[], approved: [] as string[], revoked: [] as string[], honoured: [] as string[] };
    let running = true;
    const loops = [
      ...Array.from({ length: READERS }, () => repeat('read', outcomes, () => running, async () => (await vera.get(`/api/requests/${ticketGrant}`)).status === 200)),
      ...Array.from({ length: DECIDERS }, () =>
        repeat('decide', outcomes, () => running, async () => {
          const created = await vera.post('/api/requests', { machineId: 'press-hmi', ...windowFromNow(60_000, 3_600_000), reason: 'bench/ha' });
          if (created.status !== 201) return false;
          const id = created.json<{ request: { id: string } }>().request.id;
          acknowledged.created.push(id);
          if ((await mona.post(`/api/requests/${id}/approve`, {})).status !== 200) return false;
          acknowledged.approved.push(id);
          if ((await mona.post(`/api/requests/${id}/revoke`, { reason: 'bench/ha' })).status !== 200) return false;
          acknowledged.revoked.push(id);
          return true;
        }),
      ),
      repeat('ticket', outcomes, () => running, async () => {
        const res = await vera.post('/api/sessions', { requestId: ticketGrant });
        if (res.status !== 201) return false;
        const { ticket } = res.json<{ session: { ticket: string } }>().session;
        const opened = await openTunnel(vera, { ticket });
        if (!opened.ok) return false;
        acknowledged.honoured.push(ticket);
        opened.tunnel.ws.terminate();
        return true;
      }),
      repeat('sign-in', outcomes, () => running, async () => {
        await loginAs(base, 'olga');
        return true;
      }),
    ];
    const ops = ['read', 'decide', 'ticket', 'sign-in'];
    const okSince = (since: number): boolean => ops.every((op) => outcomes.some((o) => o.op === op && o.ok && o.startedAt >= since));
    await waitFor(() => okSince(0), { timeoutMs: 30_000, what: 'the load to run' });
    await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
    const oldMaster = await sentinelMaster(topology!);
    const killedAt = Date.now();
    await supervisor.signalRedisNode(oldMaster, 'SIGKILL');
    await waitFor(() => okSince(killedAt), { timeoutMs: RECOVERY_BUDGET_MS, what: 'every kind of call to work again' });
    const recoveredAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
    running = false;
    await Promise.all(loops);

    // Every call still running at the kill or made after it: what users saw of the failover.
    const after = outcomes.filter((o) => o.startedAt + o.ms >= killedAt);
    const failed = after.filter((o) => !o.ok).map((o) => o.ms).sort((a, b) => a - b);
    const stalls = after.map((o) => o.ms).sort((a, b) => a - b);
    const firstOk = ops.map((op) => Math.min(...after.filter((o) => o.op === op && o.ok && o.startedAt >= killedAt).map((o) => o.startedAt + o.ms)) - killedAt);
    let lost = 0;
    for (const id of acknowledged.created) if ((await vera.get(`/api/requests/${id}`)).status !== 200) lost++;
    for (const id of acknowledged.approved) if (!['approved', 'revoked'].includes((await readRequest(mona, id)).state)) lost++;
    for (const id of acknowledged.revoked) if ((await readRequest(mona, id)).state !== 'revoked') lost++;
    let revived = 0;
    for (const ticket of acknowledged.honoured) {
      const again = await openTunnel(vera, { ticket });
      if (again.ok) {
        revived++;
        again.tunnel.ws.terminate();
      }
    }
    const verified = (await (await loginAs(base, 'aude')).get('/api/audit/verify')).json<{ ok: boolean }>().ok;
    const visibleMs = failed.length > 0 ? (percentile(failed, 95) ?? 0) : (stalls.at(-1) ?? 0);
    const rows = [
      ['calls running at or made after the kill', String(after.length)],
      ['  of which failed (503 or error)', String(failed.length)],
      ['  failed: p50 / p95 ms', failed.length > 0 ? `${round(percentile(failed, 50))} / ${round(percentile(failed, 95))}` : '– (none failed: the JSON has the slowest answer)'],
      ['  answered: p95 / slowest ms', `${round(percentile(stalls, 95), 0)} / ${round(stalls.at(-1) ?? 0, 0)}`],
      ['kill → every kind of call made after it answered, ms', String(Math.max(...firstOk))],
      ['kill → loop saw recovery, ms', String(recoveredAt - killedAt)],
      ['acknowledged: created / approved / revoked', `${acknowledged.created.length} / ${acknowledged.approved.length} / ${acknowledged.revoked.length}`],
      ['acknowledged writes lost', String(lost)],
      ['tickets honoured / honoured again', `${acknowledged.honoured.length} / ${revived}`],
      ['audit chain verifies', String(verified)],
    ];
    return { rows, visibleMs, lost, revived };
  } finally {
    child.kill('SIGINT');
  }
}

async function instanceKill(): Promise<{ rows: string[][]; fraction: number }> {
  const dir = path.join(stateDir, 'fleet');
  const seedClient = createClient({ url: redis!.url });
  await seedClient.connect();
  await seedClient.flushDb();
  mkdirSync(dir, { recursive: true });
  const fleet = await startFleet({ ids: ['a', 'b'], dir, redisUrl: redis!.url, guacd: guacd!, env: { AIRLOCK_VAULT_KEYS: vaultKeys } });
  const tunnels: Tunnel[] = [];
  try {
    await seed(seedClient);
    const [vera, victor, mona, aude] = await Promise.all([fleet.signIn('vera'), fleet.signIn('victor'), fleet.signIn('mona'), fleet.signIn('aude')]);
    const victim = fleet.instances.get('b')!;
    const ids: string[] = [];
    for (let i = 0; i < KILLED_SESSIONS; i++) {
      const vendor = i % 2 === 0 ? vera : victor;
      const grantId = await grant(vendor, mona, 'cnc-07');
      const res = await vendor.post('/api/sessions', { requestId: grantId });
      const { ticket, id } = res.json<{ session: { ticket: string; id: string } }>().session;
      // Straight to the instance to be killed (the load balancer would spread them).
      const direct = new Browserless(victim.url);
      direct.setCookie(SESSION_COOKIE, vendor.cookie(SESSION_COOKIE) ?? '');
      const opened = await openTunnel(direct, { ticket, origin: fleet.url });
      if (!opened.ok) throw new Error(`tunnel refused: ${opened.status} ${opened.body}`);
      await opened.tunnel.firstFrame();
      tunnels.push(opened.tunnel);
      ids.push(id);
    }
    const killedAt = Date.now();
    await fleet.signal('b', 'SIGKILL');
    const finalisedAt = new Map<string, number>();
    await waitFor(
      async () => {
        for (const id of ids) {
          if (finalisedAt.has(id)) continue;
          if ((await auditEvents(aude, `session:${id}`)).some((e) => e.action === 'recording.finalised')) finalisedAt.set(id, Date.now());
        }
        return finalisedAt.size === ids.length;
      },
      { timeoutMs: FINALISE_BUDGET_MS, what: 'the survivor to finalise the sessions' },
    ).catch(() => undefined);
    const listed = (await mona.get('/api/sessions')).json<{ sessions: Array<{ id: string }> }>().sessions.filter((s) => ids.includes(s.id)).length;
    const fraction = finalisedAt.size / ids.length;
    const rows = [
      ['live sessions on the killed instance', String(ids.length)],
      ['finalised by the survivor', String(finalisedAt.size)],
      ['kill → last finalised, ms', finalisedAt.size > 0 ? String(Math.max(...finalisedAt.values()) - killedAt) : '–'],
      ['still listed as live afterwards', String(listed)],
    ];
    return { rows, fraction };
  } finally {
    for (const t of tunnels) t.ws.terminate();
    await fleet.stop();
    seedClient.destroy();
  }
}

try {
  const failover = await sentinelFailover();
  const kill = await instanceKill();
  console.log(`\nbench/ha: Sentinel failover (master SIGKILLed; master + 2 replicas + 3 sentinels, down-after ${topology.downAfterMs} ms), ${READERS + DECIDERS + 2} concurrent API loops\n`);
  printGrid(['sentinel failover', 'value'], failover.rows);
  console.log('\nportal instance SIGKILLed behind HAProxy (2 instances)\n');
  printGrid(['instance kill', 'value'], kill.rows);
  console.log('\n(record_fail_end_ms and relay_recording_cpu_ratio belong to the portal recording what it relays: not measured here)');
  console.log(
    JSON.stringify({
      failover_visible_ms: round(failover.visibleMs, 0),
      acknowledged_lost: failover.lost,
      tickets_revived: failover.revived,
      instance_kill_sessions_finalised: round(kill.fraction, 2),
      record_fail_end_ms: null,
      relay_recording_cpu_ratio: null,
    }),
  );
} finally {
  await supervisor.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
