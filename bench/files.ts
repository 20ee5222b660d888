// bench/files: the file airlock's cost. Real Redis, guacd, sshd (SFTP) and clamd (generated
// signatures); a portal in this process; one live SSH session on a machine whose site releases
// clean files automatically. For 1 MB and 100 MB files of random bytes: time from the upload's
// start to "delivered" (the file is on the target, hash checked), clamd's scan throughput, and
// against it the same file sent straight to guacd's SFTP in the same run (a Guacamole client on
// guacd's socket, the same file/blob/ack protocol and window a direct upload uses): the airlock's
// overhead. Then infected files (EICAR and the test marker) with auto-release: how many reached
// the target (aim 0).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startServices } from '../dev/supervisor.ts';
import { guacHandshake, encodeInstruction } from '../dev/guac-probe.ts';
import { SessionFileStreams } from '../sessions/files/streams.ts';
import type { FileView } from '../sessions/files/airlock.ts';
import { percentile, printGrid, round } from './lib.ts';

const RUNS = { '1 MB': { bytes: 1024 * 1024, runs: Number(process.env['BENCH_RUNS_1MB'] ?? 10) }, '100 MB': { bytes: 100 * 1024 * 1024, runs: Number(process.env['BENCH_RUNS_100MB'] ?? 3) } } as const;
const INFECTED_RUNS = 5;
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
/** How often the bench looks at a file's state: small against the times measured. */
const POLL_MS = 10;

const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-files-'));
const supervisor = await startServices({ stateDir: path.join(stateDir, 'services'), services: ['redis', 'guacd', 'sshd', 'clamd'], userPrefix: 'airlock-files' });
const { sshd, guacd, clamd } = supervisor.services;
if (sshd === undefined || guacd === undefined || clamd === undefined) throw new Error('services missing');
// The test helpers read the services from here (as under Jest's global setup).
process.env['AIRLOCK_TEST_SERVICES'] = JSON.stringify(supervisor.services);
const { startTestPortal } = await import('../test/support/portal.ts');
const { loginAs } = await import('../test/support/http.ts');
const { grantNow, seedDemoPlant } = await import('../test/support/workflow.ts');
const { openSession } = await import('../test/support/tunnel.ts');

const home = ((): string => {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${sshd.account.username}:`)) ?? '';
  return line.split(':')[5] ?? '';
})();
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

const portal = await startTestPortal({
  AIRLOCK_LOG_LEVEL: 'warn',
  AIRLOCK_RECORDING_SPOOL: path.join(stateDir, 'spool'),
  AIRLOCK_RECORDING_STORE: path.join(stateDir, 'store'),
  AIRLOCK_RECORDING_MIN_FREE_MB: '1',
  AIRLOCK_QUARANTINE_DIR: path.join(stateDir, 'quarantine'),
  AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
  AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: '1000000',
});
try {
  await seedDemoPlant(portal, { targets: true });
  const site = await portal.services.inventory.site('site-a');
  if (site === undefined) throw new Error('no site-a');
  await portal.services.inventory.putSite({ ...site, files: { release: 'auto', downloads: 'approval', maxBytes: 200 * 1024 * 1024, allowedTypes: [], blockedTypes: [] } });
  const [vera, mona] = await Promise.all([loginAs(portal.publicUrl, 'vera'), loginAs(portal.publicUrl, 'mona')]);
  const session = await openSession(vera, await grantNow(portal, vera, mona, 'eng-station', 60 * 60_000));
  await session.tunnel.firstFrame(30_000);

  const upload = async (name: string, body: Buffer): Promise<FileView> => {
    const res = await fetch(new URL(`/api/sessions/${session.id}/files?name=${encodeURIComponent(name)}`, portal.publicUrl), {
      method: 'PUT',
      headers: { cookie: vera.cookieHeader(), origin: portal.publicUrl, 'content-type': 'application/octet-stream' },
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
      await delay(POLL_MS);
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
  const scanSample = randomBytes(100 * 1024 * 1024);
  const scanRates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await scanner.scan((async function* () {
      yield scanSample;
    })());
    scanRates.push(100 / ((performance.now() - t) / 1000));
  }

  const rows: string[][] = [];
  const figures: Record<string, { airlock: number[]; direct: number[]; scanned: number[] }> = {};
  let run = 0;
  for (const [label, { bytes, runs }] of Object.entries(RUNS)) {
    const f: { airlock: number[]; direct: number[]; scanned: number[] } = { airlock: [], direct: [], scanned: [] };
    figures[label] = f;
    for (let i = 0; i < runs; i++) {
      const body = randomBytes(bytes);
      const name = `bench-${Date.now()}-${run++}.bin`;
      const t0 = performance.now();
      const uploaded = await upload(name, body);
      f.scanned.push(performance.now() - t0);
      const done = await until(uploaded.id, ['delivered', 'failed', 'blocked']);
      const airlockMs = performance.now() - t0;
      if (done.state !== 'delivered' || sha256(readFileSync(path.join(home, name))) !== sha256(body)) throw new Error(`${name}: ${done.state} ${JSON.stringify(done.problem)}`);
      f.airlock.push(airlockMs);
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
  }
  printGrid(['file', 'runs', 'upload→scanned p50 ms', 'airlock upload→delivered p50 ms', 'p95 ms', 'direct guacd SFTP p50 ms', 'ratio'], rows);
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
  await session.tunnel.close();
} finally {
  await portal.close();
  await supervisor.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
