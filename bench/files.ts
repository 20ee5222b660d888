// bench/files: the file airlock's cost. Real Redis, guacd, sshd (SFTP) and clamd (generated
// signatures); the portal in its own process (as in production: the bench's client, its direct
// baseline and its clock do not share the portal's event loop); one live SSH session on a
// machine whose site releases clean files automatically. For 1 MB and 100 MB files of random
// bytes: time from the upload's start to "delivered" (the file is on the target, hash checked),
// split into its phases (upload received and hashed, scan verdict, delivery), clamd's scan
// throughput, and against it the same file sent straight to guacd's SFTP in the same run (a
// Guacamole client on guacd's socket, the same file/blob/ack protocol and window a direct upload
// uses): the airlock's overhead. Then infected files (EICAR and the test marker) with
// auto-release: how many reached the target (aim 0).
// BENCH_PORTAL_CPU_PROF=DIR writes the portal's CPU profile there (node --cpu-prof) when it stops.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startServices } from '../dev/supervisor.ts';
import { guacHandshake, encodeInstruction } from '../dev/guac-probe.ts';
import { SessionFileStreams } from '../sessions/files/streams.ts';
import type { FileView } from '../sessions/files/airlock.ts';
import { InventoryStore } from '../server/inventory/store.ts';
import { generateKeyringEntry } from '../server/keyring.ts';
import { connectRedis } from '../server/redis.ts';
import { createLogger } from '../server/log.ts';
import { loginAs, type Browserless } from '../test/support/http.ts';
import { openTunnel, type Tunnel } from '../test/support/tunnel.ts';
import { approvedRequest, percentile, portalReady, printGrid, round, seedBenchPlant, startBenchPortal, stopBenchPortal, stopOnSignal } from './lib.ts';

const RUNS = { '1 MB': { bytes: 1024 * 1024, runs: Number(process.env['BENCH_RUNS_1MB'] ?? 10) }, '100 MB': { bytes: 100 * 1024 * 1024, runs: Number(process.env['BENCH_RUNS_100MB'] ?? 3) } } as const;
const INFECTED_RUNS = 5;
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
/** How often the bench looks for the session's first frame and guacd's SFTP: small against the times measured. */
const POLL_MS = 10;
const CPU_PROF_DIR = process.env['BENCH_PORTAL_CPU_PROF'];

const loadAtStart = loadavg();
const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-files-'));
const supervisor = await startServices({ stateDir: path.join(stateDir, 'services'), services: ['redis', 'guacd', 'sshd', 'clamd'], userPrefix: 'airlock-files' });
const { redis, sshd, guacd, clamd } = supervisor.services;
if (redis === undefined || sshd === undefined || guacd === undefined || clamd === undefined) throw new Error('services missing');

const home = ((): string => {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${sshd.account.username}:`)) ?? '';
  return line.split(':')[5] ?? '';
})();
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

// The demo plant with its credentials sealed under a fresh keyring; site-a releases clean files automatically.
const keyring = generateKeyringEntry('files1');
const seedClient = await connectRedis(redis.url, createLogger('warn'), 'bench-seed');
await seedBenchPlant(seedClient, supervisor.services, keyring);
const inventory = new InventoryStore(seedClient);
const site = await inventory.site('site-a');
if (site === undefined) throw new Error('no site-a');
await inventory.putSite({ ...site, files: { release: 'auto', downloads: 'approval', maxBytes: 200 * 1024 * 1024, allowedTypes: [], blockedTypes: [] } });

const { base, child: portalProcess } = await startBenchPortal({
  redisUrl: redis.url,
  guacd,
  nodeArgs: CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`],
  env: {
    AIRLOCK_VAULT_KEYS: keyring,
    AIRLOCK_CLAMD: `unix:${clamd.socket}`,
    AIRLOCK_RECORDING_SPOOL: path.join(stateDir, 'spool'),
    AIRLOCK_RECORDING_STORE: path.join(stateDir, 'store'),
    AIRLOCK_RECORDING_MIN_FREE_MB: '1',
    AIRLOCK_QUARANTINE_DIR: path.join(stateDir, 'quarantine'),
  },
});
let tunnel: Tunnel | undefined;
let events: AbortController | undefined;
const stop = async (): Promise<void> => {
  events?.abort();
  await tunnel?.close().catch(() => undefined);
  // SIGTERM lets the portal exit normally, so --cpu-prof writes its profile.
  await stopBenchPortal(portalProcess, 15_000);
  seedClient.destroy();
  await supervisor.stop();
  rmSync(stateDir, { recursive: true, force: true });
};
stopOnSignal(stop);

/**
 * The plant manager's live events (/api/events, what the file screen listens to): `session.file`
 * with the file's new state. The bench waits on these instead of polling the portal, whose event
 * loop a poll every few milliseconds would slow down.
 */
function fileEvents(agent: Browserless): { next(): Promise<string> } {
  events = new AbortController();
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  const body = fetch(new URL('/api/events', base), { headers: { cookie: agent.cookieHeader(), accept: 'text/event-stream' }, signal: events.signal }).then((r) => {
    if (r.body === null || r.status !== 200) throw new Error(`no event stream (${r.status})`);
    return r.body;
  });
  void (async () => {
    const decoder = new TextDecoder();
    let text = '';
    try {
      const reader = (await body).getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        text += decoder.decode(chunk.value, { stream: true });
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const data = /^event: session\.file\ndata: (.*)$/m.exec(block)?.[1];
          if (data !== undefined) queue.push((JSON.parse(data) as { state: string }).state);
          wake?.();
        }
      }
    } catch {
      // aborted at the end
    }
  })();
  return {
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queue.shift() ?? '';
    },
  };
}

try {
  await portalReady(base, 30_000);
  const [vera, mona] = await Promise.all([loginAs(base, 'vera'), loginAs(base, 'mona')]);
  const { requestId, start } = await approvedRequest(vera, mona, 'eng-station', 'bench/files');
  while (Date.now() < start + 200) await delay(100);
  const ticket = await vera.post('/api/sessions', { requestId });
  if (ticket.status !== 201) throw new Error(`no session (${ticket.status}): ${ticket.text}`);
  const session = ticket.json<{ session: { ticket: string; id: string } }>().session;
  const opened = await openTunnel(vera, { ticket: session.ticket });
  if (!opened.ok) throw new Error(`tunnel refused (${opened.status}): ${opened.body}`);
  tunnel = opened.tunnel;
  await tunnel.firstFrame(30_000);
  const plantEvents = fileEvents(mona);

  const upload = async (name: string, body: Buffer): Promise<FileView> => {
    const res = await fetch(new URL(`/api/sessions/${session.id}/files?name=${encodeURIComponent(name)}`, base), {
      method: 'PUT',
      headers: { cookie: vera.cookieHeader(), origin: base, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(body),
    });
    const json = (await res.json()) as { file?: FileView; error?: { message: string } };
    if (json.file === undefined) throw new Error(`upload refused (${res.status}): ${json.error?.message ?? ''}`);
    return json.file;
  };
  const until = async (id: string, states: FileView['state'][]): Promise<FileView> => {
    for (;;) {
      const file = (await vera.get(`/api/sessions/${session.id}/files`)).json<{ files: FileView[] }>().files.find((f) => f.id === id);
      if (file !== undefined && states.includes(file.state)) return file;
      // One file at a time: the next file event is this file's next state.
      await plantEvents.next();
    }
  };

  // The baseline: a Guacamole client straight on guacd's socket, SSH with SFTP, no portal.
  const direct = await guacHandshake({
    host: guacd.host,
    port: guacd.port,
    protocol: 'ssh',
    params: { hostname: sshd.host, port: String(sshd.port), username: sshd.account.username, password: sshd.account.password, 'enable-sftp': 'true' },
    width: 1024,
    height: 768,
    dpi: 96,
    timeoutMs: 15_000,
  });
  const directStreams = new SessionFileStreams(undefined);
  directStreams.attach({ sendToGuacd: (d) => direct.socket.write(d) });
  let sftpReady = false;
  const onDirect = (i: string[]): void => {
    if (i[0] === 'sync') direct.socket.write(encodeInstruction('sync', i[1] ?? ''));
    if (i[0] === 'filesystem') sftpReady = true;
    directStreams.fromGuacd(encodeInstruction(i[0] ?? '', ...i.slice(1)));
  };
  direct.pending.forEach(onDirect);
  direct.socket.setEncoding('utf8');
  direct.socket.on('data', (d: string) => direct.parser.push(d).forEach(onDirect));
  direct.socket.resume();
  while (!sftpReady) await delay(POLL_MS);

  // clamd's own throughput: 100 MB of random bytes over INSTREAM from memory (the airlock feeds it while the upload arrives).
  const { ClamdScanner } = await import('../sessions/files/clamd.ts');
  const scanner = new ClamdScanner(clamd, 120_000);
  const scanRates: number[] = [];
  for (let i = 0; i < 3; i++) {
    // Fresh bytes each time: clamd caches the verdict of content it has seen (by its MD5), and a
    // repeat would measure that cache, not the scan.
    const scanSample = randomBytes(100 * 1024 * 1024);
    const t = performance.now();
    await scanner.scan((async function* () {
      yield scanSample;
    })());
    scanRates.push(100 / ((performance.now() - t) / 1000));
  }

  const rows: string[][] = [];
  const phaseRows: string[][] = [];
  const figures: Record<string, { airlock: number[]; direct: number[]; scanned: number[] }> = {};
  let run = 0;
  for (const [label, { bytes, runs }] of Object.entries(RUNS)) {
    const f: { airlock: number[]; direct: number[]; scanned: number[] } = { airlock: [], direct: [], scanned: [] };
    figures[label] = f;
    // The portal's own timestamps of each file (ms since the upload started, on the same clock).
    const phases: { received: number[]; verdict: number[]; delivered: number[] } = { received: [], verdict: [], delivered: [] };
    for (let i = 0; i < runs; i++) {
      const body = randomBytes(bytes);
      const name = `bench-${Date.now()}-${run++}.bin`;
      const wall0 = Date.now();
      const t0 = performance.now();
      const uploaded = await upload(name, body);
      f.scanned.push(performance.now() - t0);
      const done = await until(uploaded.id, ['delivered', 'failed', 'blocked']);
      const airlockMs = performance.now() - t0;
      if (done.state !== 'delivered' || sha256(readFileSync(path.join(home, name))) !== sha256(body)) throw new Error(`${name}: ${done.state} ${JSON.stringify(done.problem)}`);
      f.airlock.push(airlockMs);
      phases.received.push(Date.parse(done.createdAt) - wall0);
      phases.verdict.push(Date.parse(done.scan?.at ?? '') - wall0);
      phases.delivered.push(Date.parse(done.deliveredAt ?? '') - wall0);
      rmSync(path.join(home, name), { force: true });

      const directName = `direct-${name}`;
      const t1 = performance.now();
      await directStreams.deliver(directName, 'application/octet-stream', (async function* () {
        yield body;
      })());
      f.direct.push(performance.now() - t1);
      if (sha256(readFileSync(path.join(home, directName))) !== sha256(body)) throw new Error(`${directName}: hash differs on the target`);
      rmSync(path.join(home, directName), { force: true });
    }
    const med = (a: number[]): number => percentile([...a].sort((x, y) => x - y), 50);
    rows.push([
      label,
      String(runs),
      String(round(med(f.scanned))),
      String(round(med(f.airlock))),
      String(round(percentile([...f.airlock].sort((x, y) => x - y), 95))),
      String(round(med(f.direct))),
      String(round(med(f.airlock) / med(f.direct), 2)),
    ]);
    phaseRows.push([label, String(round(med(phases.received))), String(round(med(phases.verdict))), String(round(med(f.scanned))), String(round(med(phases.delivered))), String(round(med(phases.delivered) - med(phases.verdict)))]);
  }
  printGrid(['file', 'runs', 'upload→scanned p50 ms', 'airlock upload→delivered p50 ms', 'p95 ms', 'direct guacd SFTP p50 ms', 'ratio'], rows);
  printGrid(['phases (portal clock, ms from upload start, p50)', 'body received+hashed', 'scan verdict', 'upload answered', 'delivered', 'verdict→delivered'], phaseRows);
  printGrid(['clamd INSTREAM, 100 MB random, from memory', 'MB/s (median of 3)'], [['generated signature DB', String(round(percentile([...scanRates].sort((a, b) => a - b), 50)))]]);

  // Infected files with auto-release: none may reach the machine.
  let infectedReleased = 0;
  const names: string[] = [];
  for (let i = 0; i < INFECTED_RUNS; i++) {
    for (const [kind, body] of [['eicar', EICAR], ['marker', `x ${clamd.testMarker} ${randomBytes(8).toString('hex')}`]] as const) {
      const name = `infected-${kind}-${Date.now()}-${i}.bin`;
      names.push(name);
      const file = await upload(name, Buffer.from(body));
      if (file.state !== 'blocked') infectedReleased++;
    }
  }
  // Anything that was wrongly released has had time to arrive: look on the target itself.
  await delay(1_000);
  const onTarget = new Set(readdirSync(home));
  infectedReleased = Math.max(infectedReleased, names.filter((n) => onTarget.has(n) || existsSync(path.join(home, n))).length);
  printGrid(['infected files (auto-release)', 'sent', 'reached the target'], [['EICAR + test marker', String(names.length), String(infectedReleased)]]);

  const all = figures['1 MB'];
  const big = figures['100 MB'];
  if (all === undefined || big === undefined) throw new Error('no figures');
  const sorted = (a: number[]): number[] => [...a].sort((x, y) => x - y);
  const median = (a: number[]): number => percentile(sorted(a), 50);
  process.stdout.write(
    `${JSON.stringify({
      upload_to_released_p95_ms: round(percentile(sorted(all.airlock), 95)),
      scan_mb_s: round(median(scanRates)),
      clean_file_overhead_ratio: round(median(big.airlock) / median(big.direct), 2),
      infected_released: infectedReleased,
      upload_to_delivered_100mb_p95_ms: round(percentile(sorted(big.airlock), 95)),
      clean_file_overhead_ratio_1mb: round(median(all.airlock) / median(all.direct), 2),
    })}\n`,
  );
  direct.socket.destroy();
  const loadAtEnd = loadavg();
  process.stderr.write(`bench/files: load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')} at the end (2 cores, shared)\n`);
} finally {
  await stop();
}
