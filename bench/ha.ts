// bench/ha: high availability, measured on these machines. (1) A Sentinel failover (master
// SIGKILLed under load: sign-ins, reads, decisions, revocations, session tickets): how long
// failed calls took, what was acknowledged and lost, which used tickets worked again. (2) A
// portal instance SIGKILLed with live sessions behind HAProxy: how many of them a survivor
// finalised. (3) The portal recording what it relays: how long after a recording write fails
// (a full spool disk under a streaming session) the session is over, and what the recording
// costs of the portal's CPU while sessions stream bulk output.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { startServices } from '../dev/supervisor.ts';
import { sentinelMaster } from '../dev/sentinel.ts';
import { demoCredentials, demoInventory } from '../dev/demo-inventory.ts';
import { connectRedis, type RedisClient } from '../server/redis.ts';
import { createLogger } from '../server/log.ts';
import { InventoryStore } from '../server/inventory/store.ts';
import { Vault } from '../server/vault/vault.ts';
import { parseKeyring } from '../server/keyring.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import { Browserless, loginAs } from '../test/support/http.ts';
import { openTunnel, type Tunnel } from '../test/support/tunnel.ts';
import { auditEvents, readRequest, sessionEnd, windowFromNow } from '../test/support/workflow.ts';
import { waitFor } from '../test/support/wait.ts';
import { startFleet } from '../test/support/fleet.ts';
import { freePort } from '../dev/probes.ts';
import { SpoolFiles } from '../recordings/layout.ts';
import { Inspector, percentile, portalReady, printGrid, round, startBenchPortal, threadCpuSeconds, UNCAPPED } from './lib.ts';

/** `npm run bench -- ha --only=relay` (or failover, kill): one phase alone, its figures only. */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const runs = (phase: 'failover' | 'kill' | 'relay'): boolean => ONLY === undefined || ONLY === phase;

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
/** Sessions whose recording disk fills up under them, one after the other. */
const FILL_TRIALS = 5;
/** The relay phase's spool: a tmpfs of this size, filled on purpose. */
const SPOOL_MB = 96;
/** SSH sessions streaming bulk output at once while the portal's CPU is profiled. */
const STREAMING_SESSIONS = 4;
/** How long the CPU is measured while they stream. */
const CPU_WINDOW_MS = 15_000;
/** Output that runs longer than any window here. */
const ENDLESS_OUTPUT = 'seq 1 1000000000\n';

const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-ha-'));
const supervisor = await startServices({ stateDir, services: ['redis', 'sentinel', 'guacd', 'sshd'], userPrefix: 'airlock-ha' });
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
  await new InventoryStore(client).seed(demoInventory(supervisor.services), true);
  const vault = new Vault(client, parseKeyring(vaultKeys));
  for (const [machineId, credential] of Object.entries(demoCredentials(supervisor.services))) await vault.store(machineId, credential);
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

/** How much of a live session's recording the portal has written to the spool so far. */
function recordingSize(spool: string, sessionId: string): number {
  try {
    return statSync(new SpoolFiles(spool, sessionId).file('recording')).size;
  } catch {
    return 0; // not there (yet, or any more)
  }
}

/** Fills the file system of `dir` with `filler`; resolves with the moment the write that found it full began. */
function fillUp(filler: string): number {
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(256 * 1024);
  try {
    for (;;) {
      const startedAt = Date.now();
      try {
        if (writeSync(fd, chunk) < chunk.length) return startedAt;
      } catch {
        return startedAt; // ENOSPC
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function relayRecording(): Promise<{ rows: string[][]; failEndMs: number | null; cpuRatio: number | null; note: string }> {
  const dir = path.join(stateDir, 'relay');
  const spool = path.join(dir, 'spool');
  mkdirSync(spool, { recursive: true });
  const seedClient = createClient({ url: redis!.url });
  await seedClient.connect();
  await seedClient.flushDb();
  await seed(seedClient as unknown as RedisClient); // a plain node-redis client, as connectRedis returns
  seedClient.destroy();
  let mounted = false;
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SPOOL_MB}m`, 'tmpfs', spool]);
    mounted = true;
  }
  const inspectPort = await freePort();
  const { base, child } = await startBenchPortal({
    redisUrl: redis!.url,
    guacd: guacd!,
    nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
    env: { AIRLOCK_VAULT_KEYS: vaultKeys, AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_STORE: path.join(dir, 'store'), AIRLOCK_RECORDING_MIN_FREE_MB: '1', ...UNCAPPED },
  });
  const pid = child.pid ?? 0;
  const open: Tunnel[] = [];
  try {
    await portalReady(base, 30_000);
    const [vera, mona] = await Promise.all([loginAs(base, 'vera'), loginAs(base, 'mona')]);
    const grantId = await grant(vera, mona, 'cnc-07');
    const stream = async (): Promise<{ tunnel: Tunnel; id: string }> => {
      const res = await vera.post('/api/sessions', { requestId: grantId });
      if (res.status !== 201) throw new Error(`ticket refused: ${res.status} ${res.text}`);
      const { ticket, id } = res.json<{ session: { ticket: string; id: string } }>().session;
      const opened = await openTunnel(vera, { ticket });
      if (!opened.ok) throw new Error(`tunnel refused: ${opened.status} ${opened.body}`);
      open.push(opened.tunnel);
      await opened.tunnel.firstFrame();
      opened.tunnel.typeText(ENDLESS_OUTPUT);
      return { tunnel: opened.tunnel, id };
    };

    // (a) CPU: the portal's threads while STREAMING_SESSIONS stream, with a CPU profile of its
    // JavaScript. The recording's share: the samples under sessions/recording-writer.ts (its
    // JavaScript and fs.WriteStream's, and the write itself: with io_uring, libuv's default on
    // Linux, the kernel copies the data in the main thread's submission) of the main thread's
    // CPU, plus all of libuv's worker threads (file writes without io_uring; nothing else uses
    // them while sessions stream).
    const streams = await Promise.all(Array.from({ length: STREAMING_SESSIONS }, () => stream()));
    await waitFor(() => streams.every((s) => recordingSize(spool, s.id) > 256 * 1024), { timeoutMs: 30_000, what: 'the sessions to stream' });
    const inspector = await Inspector.connect(inspectPort);
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.setSamplingInterval', { interval: 500 });
    const bytesBefore = streams.reduce((sum, s) => sum + recordingSize(spool, s.id), 0);
    const before = threadCpuSeconds(pid);
    await inspector.call('Profiler.start');
    await new Promise((resolve) => setTimeout(resolve, CPU_WINDOW_MS));
    type ProfileNode = { id: number; callFrame: { url: string; functionName: string }; children?: number[] };
    const { profile } = await inspector.call<{ profile: { nodes: ProfileNode[]; samples: number[] } }>('Profiler.stop');
    const after = threadCpuSeconds(pid);
    const bytesAfter = streams.reduce((sum, s) => sum + recordingSize(spool, s.id), 0);
    inspector.close();
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const underRecording = (id: number): boolean => {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) if (byId.get(at)?.callFrame.url.endsWith('recording-writer.ts') === true) return true;
      return false;
    };
    const idle = new Set(['(idle)', '(program)']);
    const busy = profile.samples.filter((id) => !idle.has(byId.get(id)?.callFrame.functionName ?? ''));
    const recordingShare = busy.length === 0 ? 0 : busy.filter(underRecording).length / busy.length;
    const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    const total = [...after.keys()].reduce((sum, name) => sum + delta(name), 0);
    const main = delta('main');
    const workers = delta('libuv-worker');
    const recordingCpu = main * recordingShare + workers;
    const cpuRatio = total > recordingCpu ? total / (total - recordingCpu) : null;
    for (const s of streams) s.tunnel.ws.terminate();
    // Their recordings may still be in the spool (being finalised) while the disk is filled on
    // purpose below: it is big enough for both.

    // (b) A full disk under a streaming session: from the write that found the disk full to the
    // error on the vendor's tunnel (an upper bound: the portal's failing write comes after it).
    const failEnds: number[] = [];
    /** How the portal recorded each end: a write that failed, or one the disk did not take within the stall guard. */
    const endReasons = new Map<string, number>();
    const aude = await loginAs(base, 'aude');
    let note = '';
    if (!mounted) note = 'not root: no private tmpfs to fill, record_fail_end_ms not measured';
    for (let i = 0; mounted && i < FILL_TRIALS; i++) {
      const { tunnel, id } = await stream();
      await waitFor(() => recordingSize(spool, id) > 64 * 1024, { timeoutMs: 30_000, what: 'the session to stream' });
      const filler = path.join(spool, `filler-${i}`);
      const error = tunnel.errorMessage(30_000);
      const fullAt = fillUp(filler);
      const message = await error;
      failEnds.push(Date.now() - fullAt);
      if (message !== 'Recording failed; the session was ended.') note = `trial ${i}: the tunnel said "${message}"`;
      const reason = (await sessionEnd(aude, id)).reason ?? 'none';
      endReasons.set(reason, (endReasons.get(reason) ?? 0) + 1);
      unlinkSync(filler);
      // The ended session's files leave the spool (finaliser) before the next trial needs room.
      await waitFor(() => !readdirSync(spool).some((f) => f.startsWith(id)), { timeoutMs: 30_000, what: 'the failed session to be finalised' }).catch(() => undefined);
    }
    failEnds.sort((a, b) => a - b);
    const rows = [
      [`portal CPU while ${STREAMING_SESSIONS} SSH sessions stream (${CPU_WINDOW_MS / 1000} s)`, `${round(total, 2)} s`],
      ['  main thread / libuv workers', `${round(main, 2)} s / ${round(workers, 2)} s`],
      ['  JavaScript samples under recording-writer.ts', `${round(100 * recordingShare, 1)} % of busy samples`],
      ['  recorded meanwhile', `${round((bytesAfter - bytesBefore) / 1e6, 1)} MB`],
      ['  CPU with recording ÷ without', cpuRatio === null ? '–' : String(round(cpuRatio, 3))],
      [`full spool disk → session ended, ms (${failEnds.length} sessions)`, failEnds.length === 0 ? '–' : `p50 ${percentile(failEnds, 50)} / max ${failEnds.at(-1) ?? ''}`],
      ['  ended as', [...endReasons].map(([r, n]) => `${n} × ${r}`).join(', ')],
    ];
    return { rows, failEndMs: failEnds.length === 0 ? null : (failEnds.at(-1) ?? null), cpuRatio, note };
  } finally {
    for (const t of open) t.ws.terminate();
    child.kill('SIGKILL');
    if (mounted) execFileSync('umount', ['-l', spool]);
  }
}

try {
  const failover = runs('failover') ? await sentinelFailover() : undefined;
  const kill = runs('kill') ? await instanceKill() : undefined;
  const relay = runs('relay') ? await relayRecording() : undefined;
  if (failover !== undefined) {
    console.log(`\nbench/ha: Sentinel failover (master SIGKILLed; master + 2 replicas + 3 sentinels, down-after ${topology.downAfterMs} ms), ${READERS + DECIDERS + 2} concurrent API loops\n`);
    printGrid(['sentinel failover', 'value'], failover.rows);
  }
  if (kill !== undefined) {
    console.log('\nportal instance SIGKILLed behind HAProxy (2 instances)\n');
    printGrid(['instance kill', 'value'], kill.rows);
  }
  if (relay !== undefined) {
    console.log(`\nthe portal recording what it relays (one instance, its spool on a ${SPOOL_MB} MB tmpfs)\n`);
    printGrid(['relay recording', 'value'], relay.rows);
    console.log(
      '\nCPU "without" = all the portal\'s CPU minus the recording\'s: the main thread\'s share of JavaScript samples under' +
        '\nsessions/recording-writer.ts, plus libuv\'s worker threads (the file writes). The fill time is from the start of the' +
        '\nwrite that found the disk full to the `error` on the tunnel; the JSON has the slowest of the sessions.',
    );
    if (relay.note !== '') console.log(relay.note);
  }
  console.log(
    JSON.stringify({
      failover_visible_ms: failover === undefined ? null : round(failover.visibleMs, 0),
      acknowledged_lost: failover?.lost ?? null,
      tickets_revived: failover?.revived ?? null,
      instance_kill_sessions_finalised: kill === undefined ? null : round(kill.fraction, 2),
      record_fail_end_ms: relay?.failEndMs ?? null,
      relay_recording_cpu_ratio: relay?.cpuRatio === undefined || relay.cpuRatio === null ? null : round(relay.cpuRatio, 3),
    }),
  );
} finally {
  await supervisor.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
