// bench/broker: guacd straight (the baseline) versus through Airlock (ticket, upgrade guard,
// guacamole-lite, guacd), measured in the same run against the same guacd and targets: connect →
// ready and → first frame for SSH and VNC, bulk terminal output, portal memory per live session,
// and N SSH sessions started at once. The portal runs in its own process, as in production.
// With upstream guacd 1.6 at hand (built from ../shared/vendor by scripts/build-guacd.sh, as CI
// does), the at-once rounds run again against it through a second portal instance: unpaced,
// since the broker paces only guacds older than 1.5.
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { startServices } from '../dev/supervisor.ts';
import { freePort } from '../dev/probes.ts';
import { listProcesses, signal } from '../dev/processes.ts';
import { encodeInstruction, GuacParser, guacHandshake, type GuacInstruction } from '../dev/guac-probe.ts';
import { AuditLog } from '../server/audit/store.ts';
import { connectionSettings, type GuacSettings } from '../sessions/tunnel/settings.ts';
import { SpoolFiles } from '../recordings/layout.ts';
import { loginAs, type Browserless } from '../test/support/http.ts';
import { approvedRequest, percentile, portalReady, printGrid, round, startBenchPlant, startBenchPortal, stopBenchPortal, stopOnSignal, UNCAPPED } from './lib.ts';
import { errorMessage } from '../server/errors.ts';

/** `npm run bench -- broker --quick`: a smoke run of every phase in about a minute. */
const QUICK = process.argv.includes('--quick');
/** Sequential connects per protocol and path: enough for a stable median on a busy 2-core box. */
const SEQUENTIAL_RUNS = QUICK ? 3 : 15;
const THROUGHPUT_RUNS = QUICK ? 1 : 5;
const SEQ_LAST = 300_000;
const MEMORY_SESSIONS = QUICK ? 10 : 50;
const CONCURRENCY: readonly number[] = QUICK ? [10] : [10, 50, 100];
/** Generous: 100 SSH set-ups at ~3–5/s on 2 cores (LAB.md) plus the broker's pacing. */
const FIRST_FRAME_TIMEOUT_MS = 120_000;
/** The broker's default spacing of set-ups per guacd, passed explicitly so the table can name it. */
const GUACD_PACE_MS = 100;
/** Guacamole.Client sends a `nop` this often; guacamole-lite closes a relay silent for 20 s. */
const KEEPALIVE_MS = 5_000;
/** After the typescript holds the whole output, the stream must be this quiet to count as settled. */
const SETTLE_QUIET_MS = 300;
/**
 * Sessions are held open this long after the last first frame: the portal's RSS is read then (timers,
 * buffers, GC settled), and sessions ended meanwhile (watchdog, timeouts) are counted. Longer than
 * guacd's 5 s keep-alive, so a session that cannot survive an idle stretch shows up.
 */
const HOLD_MS = 8_000;
/** Between concurrency rounds: how long closed sessions get for their guacd children to exit before we reap them. */
const CHILDREN_EXIT_TIMEOUT_MS = 30_000;
/**
 * guacd 1.3's child often does not notice that its user hung up until "User is not responding"
 * (15 s; always for VNC, for SSH after bulk output; direct and through Airlock alike). Waiting
 * that out per sequential run would take minutes, so after this long the leftover (already
 * disconnected) child is killed: the next run then starts on an idle guacd either way.
 */
const SEQUENTIAL_CHILD_EXIT_WAIT_MS = 2_000;
/** A sequential run that fails is run again this many times (guacd 1.3 and Xvnc have flaky moments). */
const SEQUENTIAL_RETRIES = 2;
const DISPLAY = { width: 1024, height: 768, dpi: 96 };
const KEYSYM_ENTER = 65293;

const stateDir = path.join(tmpdir(), `airlock-bench-broker-${process.pid}`);
mkdirSync(stateDir, { recursive: true, mode: 0o700 });
const spool = path.join(stateDir, 'spool');
const directSpool = path.join(stateDir, 'direct-spool');
const portalLog = path.join(stateDir, 'portal.log');
const loadAtStart = loadavg()[0] ?? 0;
const startedAt = performance.now();
const progress = (line: string): void => {
  process.stderr.write(`bench/broker ${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s  ${line}\n`);
};

// ─── A Guacamole client, the same for both paths (what a browser's Guacamole.Client does) ──────

/** Why a session did not reach its first frame (the concurrency table counts these). */
class SessionFailure extends Error {}

class BenchClient {
  readonly startedAt: number;
  readyAt: number | undefined;
  /** Airlock only: the 101 Switching Protocols, i.e. the upgrade guard said yes. */
  upgradedAt: number | undefined;
  firstFrameAt: number | undefined;
  lastSyncAt = 0;
  /** Characters received (the stream is ASCII here, so bytes). */
  bytes = 0;
  failure: string | undefined;
  private closing = false;
  private readonly parser: GuacParser;
  private readonly write: (text: string) => void;
  private readonly hangUp: () => void;
  private readonly keepAlive: NodeJS.Timeout;
  private waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(t0: number, write: (text: string) => void, hangUp: () => void, parser = new GuacParser()) {
    this.startedAt = t0;
    this.write = write;
    this.hangUp = hangUp;
    this.parser = parser;
    this.keepAlive = setInterval(() => this.send('nop'), KEEPALIVE_MS);
    this.keepAlive.unref();
  }

  feed(text: string): void {
    this.bytes += text.length;
    let instructions: GuacInstruction[];
    try {
      instructions = this.parser.push(text);
    } catch (error) {
      this.fail(`malformed stream: ${errorMessage(error)}`);
      return;
    }
    for (const instruction of instructions) this.handle(instruction);
  }

  handle([opcode, ...args]: GuacInstruction): void {
    if (opcode === 'sync') {
      // Like Guacamole.Client: acknowledge every frame, or guacd throttles and stops.
      this.send('sync', args[0] ?? '');
      this.lastSyncAt = performance.now();
      if (this.firstFrameAt === undefined) {
        this.firstFrameAt = this.lastSyncAt;
        for (const w of this.waiters) w.resolve();
        this.waiters = [];
      }
    } else if (opcode === '' && this.readyAt === undefined) {
      // Through the tunnel, `ready` reaches the browser as `0.,36.<session id>;`.
      this.readyAt = performance.now();
    } else if (opcode === 'error') {
      this.fail(`error: ${args[0] ?? ''} (${args[1] ?? ''})`);
    }
  }

  send(opcode: string, ...args: string[]): void {
    if (!this.closing) this.write(encodeInstruction(opcode, ...args));
  }

  typeText(text: string): void {
    for (const ch of text) {
      const keysym = String(ch === '\n' ? KEYSYM_ENTER : (ch.codePointAt(0) ?? 0));
      this.send('key', keysym, '1');
      this.send('key', keysym, '0');
    }
  }

  /** Milliseconds from the connect call to the first `sync`. */
  firstFrame(timeoutMs: number): Promise<number> {
    const elapsed = (): number => (this.firstFrameAt ?? 0) - this.startedAt;
    if (this.firstFrameAt !== undefined) return Promise.resolve(elapsed());
    if (this.failure !== undefined) return Promise.reject(new SessionFailure(this.failure));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no first frame within ${timeoutMs / 1000} s`), timeoutMs);
      this.waiters.push({
        resolve: () => {
          clearTimeout(timer);
          resolve(elapsed());
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  fail(reason: string): void {
    if (this.closing) return;
    this.failure ??= reason;
    for (const w of this.waiters) w.reject(new SessionFailure(reason));
    this.waiters = [];
  }

  close(): void {
    this.fail('closed by the bench');
    this.closing = true;
    clearInterval(this.keepAlive);
    this.hangUp();
  }
}

// ─── Services, portal, accounts ──────────────────────────────────────────────────────────────

// The bench's own Redis connection (benchRedis) seeds the plant, later reads the audit log (why sessions ended).
const { supervisor, guacd: plantGuacd, redis, keyring, client: benchRedis, inventory, credentials } = await startBenchPlant({
  stateDir,
  userPrefix: 'airlock-brk',
  keyringId: 'bench1',
  clientName: 'bench-broker',
});

/** A guacd the bench measures: where it listens, its daemon's pid (its children are the connections), the args it asks for. */
interface BenchGuacd {
  label: string;
  host: string;
  port: number;
  pid: number;
  /** Filled once guacd answers: what it asks for per protocol, so the baseline sends the same values. */
  args: Map<string, string[]>;
}
const guacdPidIn = (dir: string): number => Number(readFileSync(path.join(dir, 'pids', 'guacd.pid'), 'utf8').split(' ')[0]);
const guacd: BenchGuacd = { label: 'guacd 1.3', ...plantGuacd, pid: guacdPidIn(stateDir), args: new Map() };

/** guacd 1.6: AIRLOCK_GUACD16_BIN, or built (once, cached) from the upstream tarball beside the clone; none: its rounds are skipped. */
function guacd16Binary(): string | undefined {
  const configured = process.env['AIRLOCK_GUACD16_BIN'];
  if (configured !== undefined && configured !== '') return configured;
  const tarball = path.resolve('..', 'shared', 'vendor', 'guacamole-server-1.6.0.tar.gz');
  if (QUICK || !existsSync(tarball)) return undefined;
  const out = execFileSync('bash', ['scripts/build-guacd.sh', tarball, '.cache/guacd-1.6'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').at(-1);
}
const guacd16Bin = guacd16Binary();
const stateDir16 = path.join(stateDir, 'guacd16');
const supervisor16 = guacd16Bin === undefined ? undefined : await startServices({ stateDir: stateDir16, services: ['guacd'], guacdBin: guacd16Bin, userPrefix: 'airlock-brk' });
const guacd16: BenchGuacd | undefined =
  supervisor16?.services.guacd === undefined ? undefined : { label: 'guacd 1.6', ...supervisor16.services.guacd, pid: guacdPidIn(stateDir16), args: new Map() };

const audit = new AuditLog(benchRedis);

const logStream = createWriteStream(portalLog);
// The inspector (loopback, bench only) lets the memory phase run a full GC before each RSS reading.
const inspectPort = await freePort();
const { base, child: portal } = await startBenchPortal({
  redisUrl: redis.url,
  guacd: plantGuacd,
  nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
  stdio: 'pipe',
  env: { AIRLOCK_VAULT_KEYS: keyring, AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '16', AIRLOCK_GUACD_PACE_MS: String(GUACD_PACE_MS), ...UNCAPPED },
});
if (portal.stdout === null || portal.stderr === null) throw new Error('no portal output');
portal.stdout.pipe(logStream);
portal.stderr.pipe(logStream);
const portalPid = portal.pid ?? 0;
// The guacd 1.6 rounds go through a second instance on the same Redis (same plant, grants and
// audit log) whose default guacd is the 1.6 one.
const portal16 =
  guacd16 === undefined
    ? undefined
    : await startBenchPortal({
        redisUrl: redis.url,
        guacd: guacd16,
        stdio: 'pipe',
        env: { AIRLOCK_VAULT_KEYS: keyring, AIRLOCK_RECORDING_SPOOL: path.join(stateDir16, 'spool'), AIRLOCK_RECORDING_MIN_FREE_MB: '16', AIRLOCK_GUACD_PACE_MS: String(GUACD_PACE_MS), ...UNCAPPED },
      });
portal16?.child.stdout?.pipe(logStream);
portal16?.child.stderr?.pipe(logStream);


let stopped = false;
const live = new Set<BenchClient>();
async function stop(): Promise<void> {
  if (stopped) return;
  stopped = true;
  for (const c of live) c.close();
  benchRedis.destroy();
  await stopBenchPortal(portal);
  if (portal.exitCode === null && portal.signalCode === null) portal.kill('SIGKILL');
  portal16?.child.kill('SIGKILL');
  await supervisor16?.stop();
  await supervisor.stop();
  logStream.end();
  rmSync(stateDir, { recursive: true, force: true });
}
stopOnSignal(stop);

// ─── Helpers ─────────────────────────────────────────────────────────────────────────────────

/** guacd's children: one per live connection (they are what set-up and teardown cost). */
function guacdChildren(target: BenchGuacd): number[] {
  return listProcesses()
    .filter((p) => p.ppid === target.pid && p.state !== 'Z')
    .map((p) => p.pid);
}

/** Waits until every guacd child has exited; reaps (and counts) those still there after `timeoutMs`. */
async function waitGuacdIdle(timeoutMs = CHILDREN_EXIT_TIMEOUT_MS, target = guacd): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const children = guacdChildren(target);
    if (children.length === 0) return 0;
    if (performance.now() > deadline) {
      for (const pid of children) signal(pid, 'SIGKILL');
      await delay(200);
      return children.length;
    }
    await delay(25);
  }
}

/** waitGuacdIdle after one session, saying so when its child lingered and was killed. */
async function timedIdle(what: string): Promise<void> {
  const t = performance.now();
  const reaped = await waitGuacdIdle(SEQUENTIAL_CHILD_EXIT_WAIT_MS);
  const ms = performance.now() - t;
  if (ms > 2_000 || reaped > 0) progress(`${what}: guacd children took ${(ms / 1000).toFixed(1)} s to exit${reaped > 0 ? `, ${reaped} reaped` : ''}`);
}

interface PortalMemory {
  rssKb: number;
  /** V8 heap in use plus external memory (Buffers), after a full GC. */
  heapKb: number;
}

/** A full GC in the portal (through its inspector), then its VmRSS and heap figures. */
async function portalMemory(): Promise<PortalMemory> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error('the portal has no inspector target');
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let nextId = 0;
  type Reply = { id?: number; result?: { result?: { value?: string } } };
  const call = (method: string, params: object = {}): Promise<Reply> =>
    new Promise((resolve) => {
      const id = ++nextId;
      const onMessage = (data: Buffer): void => {
        const reply = JSON.parse(data.toString('utf8')) as Reply;
        if (reply.id !== id) return;
        ws.off('message', onMessage);
        resolve(reply);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    const reply = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const usage = JSON.parse(reply.result?.result?.value ?? '{}') as { heapUsed?: number; external?: number };
    return { rssKb: portalRssKb(), heapKb: Math.round(((usage.heapUsed ?? NaN) + (usage.external ?? NaN)) / 1024) };
  } finally {
    ws.close();
  }
}

function portalRssKb(): number {
  const status = readFileSync(`/proc/${portalPid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

/** The parameter names guacd asks for (the `args` of a protocol), without the version. */
function offeredArgs(target: BenchGuacd, protocol: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, target.host);
    const parser = new GuacParser();
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(encodeInstruction('select', protocol)));
    socket.on('data', (chunk: string) => {
      const args = parser.push(chunk).find((i) => i[0] === 'args');
      if (args === undefined) return;
      socket.destroy();
      resolve(args.slice(1).filter((a) => !a.startsWith('VERSION_')));
    });
    socket.on('error', reject);
  });
}

/** What guacamole-lite sends guacd for these settings (`value || ''`), as guacHandshake params. */
function asGuacdParams(settings: GuacSettings, offered: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of offered) {
    const value = settings[name];
    if (value !== null && value !== undefined && value !== '' && value !== false && value !== 0) params[name] = String(value);
  }
  return params;
}

/** The baseline: guacHandshake straight to guacd with the settings the broker would build. */
async function openDirect(machineId: string, recordingName = randomUUID(), timeoutMs = 15_000, target = guacd): Promise<BenchClient> {
  const machine = inventory.machines.find((m) => m.id === machineId);
  const credential = credentials[machineId];
  if (machine === undefined || credential === undefined) throw new Error(`no machine ${machineId}`);
  const settings = connectionSettings(machine, credential, machine.policy, new SpoolFiles(directSpool, recordingName).typescriptTarget(), DISPLAY);
  const params = asGuacdParams(settings, target.args.get(machine.protocol) ?? []);
  const t0 = performance.now();
  const hs = await guacHandshake({ host: target.host, port: target.port, protocol: machine.protocol, params, ...DISPLAY, timeoutMs });
  const client = new BenchClient(t0, (text) => hs.socket.write(text), () => hs.socket.destroy(), hs.parser);
  client.readyAt = t0 + hs.elapsedMs;
  live.add(client);
  hs.socket.on('data', (chunk: string) => client.feed(chunk));
  hs.socket.on('error', (error) => client.fail(`guacd socket: ${error.message}`));
  hs.socket.on('close', () => client.fail('guacd closed the connection'));
  for (const instruction of hs.pending) client.handle(instruction);
  hs.socket.resume();
  return client;
}

/** Through Airlock: the WebSocket upgrade with a ticket, as the session screen opens it. */
function openAirlock(agent: Browserless, ticket: string): BenchClient {
  const url = `${agent.base.replace(/^http/, 'ws')}/tunnel?ticket=${encodeURIComponent(ticket)}&width=${DISPLAY.width}&height=${DISPLAY.height}&dpi=${DISPLAY.dpi}`;
  const t0 = performance.now();
  const ws = new WebSocket(url, 'guacamole', { headers: { origin: agent.base, cookie: agent.cookieHeader() }, perMessageDeflate: false });
  const client = new BenchClient(
    t0,
    (text) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    () => ws.close(),
  );
  live.add(client);
  ws.on('open', () => {
    client.upgradedAt = performance.now();
  });
  ws.on('message', (data: Buffer) => client.feed(data.toString('utf8')));
  ws.on('unexpected-response', (_req, res) => {
    client.fail(`upgrade refused: HTTP ${res.statusCode ?? 0}`);
    res.resume();
    ws.terminate();
  });
  ws.on('error', (error) => client.fail(`websocket: ${error.message}`));
  ws.on('close', (code, reason) => client.fail(`websocket closed ${code} ${reason.toString()}`));
  return client;
}

function closeClient(client: BenchClient): void {
  client.close();
  live.delete(client);
}

async function sessionTicket(agent: Browserless, requestId: string): Promise<{ ticket: string; id: string }> {
  const res = await agent.post('/api/sessions', { requestId });
  if (res.status !== 201) throw new Error(`ticket refused (${res.status}): ${res.text.slice(0, 200)}`);
  return res.json<{ session: { ticket: string; id: string } }>().session;
}

/** A request starting in a moment, approved, and polled until a ticket can be issued on it. */
async function grantNow(vendor: Browserless, approver: Browserless, machineId: string): Promise<string> {
  const { requestId } = await approvedRequest(vendor, approver, machineId, 'bench/broker', { comment: 'bench' });
  for (let i = 0; ; i++) {
    if ((await vendor.post('/api/sessions', { requestId })).status === 201) return requestId;
    if (i > 100) throw new Error(`grant on ${machineId} never became valid`);
    await delay(100);
  }
}

async function readTail(file: string, bytes: number): Promise<{ size: number; tail: string }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return { size: -1, tail: '' };
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return { size, tail: buffer.toString('latin1') };
  } finally {
    await handle.close();
  }
}

async function waitForTail(file: string, match: RegExp, timeoutMs: number, what: string): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { size, tail } = await readTail(file, 256);
    if (match.test(tail)) return size;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what} in ${path.basename(file)} (tail ${JSON.stringify(tail.slice(-80))})`);
    await delay(10);
  }
}

const med = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
const p95 = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 95);
const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '–');

// ─── The measurements ────────────────────────────────────────────────────────────────────────

interface ConnectSamples {
  /** Runs that failed (error or timeout before the first frame) and were run again. */
  failures: string[];
  /** Leftover guacd children killed after a close (see VNC_CHILD_EXIT_WAIT_MS). */
  reaped: number;
  directReady: number[];
  directFrame: number[];
  airlockTicket: number[];
  airlockUpgrade: number[];
  airlockReady: number[];
  airlockFrame: number[];
}

/** Sequential connects, direct and Airlock alternating (order swapped each round) so drift in the box's load hits both. */
async function measureConnects(vendor: Browserless, requestId: string, machineId: string): Promise<ConnectSamples> {
  const s: ConnectSamples = { failures: [], reaped: 0, directReady: [], directFrame: [], airlockTicket: [], airlockUpgrade: [], airlockReady: [], airlockFrame: [] };
  /** A failed run is noted and run again; one that keeps failing is left out of the samples (and listed). */
  const attempt = async (via: string, run: () => Promise<BenchClient>, record: (client: BenchClient, frame: number) => void): Promise<void> => {
    for (let tries = 0; tries <= SEQUENTIAL_RETRIES; tries++) {
      let client: BenchClient | undefined;
      try {
        client = await run();
        record(client, await client.firstFrame(30_000));
        return;
      } catch (error) {
        s.failures.push(`${via}: ${errorMessage(error)}`);
      } finally {
        if (client !== undefined) closeClient(client);
        s.reaped += await waitGuacdIdle(SEQUENTIAL_CHILD_EXIT_WAIT_MS);
      }
      await delay(1_000);
    }
  };
  let ticketMs = 0;
  const direct = (): Promise<void> =>
    attempt('direct', () => openDirect(machineId), (client, frame) => {
      s.directReady.push((client.readyAt ?? NaN) - client.startedAt);
      s.directFrame.push(frame);
    });
  const airlock = (): Promise<void> =>
    attempt(
      'airlock',
      async () => {
        const t = performance.now();
        const { ticket } = await sessionTicket(vendor, requestId);
        ticketMs = performance.now() - t;
        return openAirlock(vendor, ticket);
      },
      (client, frame) => {
        s.airlockTicket.push(ticketMs);
        s.airlockUpgrade.push((client.upgradedAt ?? NaN) - client.startedAt);
        s.airlockReady.push((client.readyAt ?? NaN) - client.startedAt);
        s.airlockFrame.push(frame);
      },
    );
  // One unmeasured round each: first-time costs (JIT-cold paths, first files in the spools).
  await direct();
  await airlock();
  Object.assign(s, { failures: [], reaped: 0, directReady: [], directFrame: [], airlockTicket: [], airlockUpgrade: [], airlockReady: [], airlockFrame: [] });
  for (let i = 0; i < SEQUENTIAL_RUNS; i++) {
    if (i % 2 === 0) {
      await direct();
      await airlock();
    } else {
      await airlock();
      await direct();
    }
  }
  return s;
}

interface ThroughputSample {
  seconds: number;
  terminalBytes: number;
  streamBytes: number;
}

/** Types `seq 1 300000`, Enter; done when the typescript holds 300000 and the prompt, and the stream has settled. */
async function measureSeq(client: BenchClient, typescript: string): Promise<ThroughputSample> {
  await client.firstFrame(30_000);
  await waitForTail(typescript, /\$ $/, 15_000, 'the shell prompt');
  client.typeText(`seq 1 ${SEQ_LAST}`);
  // Let the echo of the command line arrive before the clock starts at Enter.
  await waitForTail(typescript, new RegExp(`seq 1 ${SEQ_LAST}$`), 10_000, 'the typed command');
  await delay(SETTLE_QUIET_MS);
  const before = await readTail(typescript, 0);
  const bytesBefore = client.bytes;
  const t0 = performance.now();
  client.typeText('\n');
  const after = await waitForTail(typescript, new RegExp(`\\n${SEQ_LAST}\\r?\\n[\\s\\S]*\\$ $`), 120_000, 'the end of the output');
  while (performance.now() - Math.max(client.lastSyncAt, t0) < SETTLE_QUIET_MS) await delay(20);
  if (client.failure !== undefined) throw new Error(`throughput session failed: ${client.failure}`);
  return { seconds: (client.lastSyncAt - t0) / 1000, terminalBytes: after - before.size, streamBytes: client.bytes - bytesBefore };
}

interface RoundResult {
  label: string;
  n: number;
  /** ms from the round's start (every WebSocket opened at once) to each first frame reached. */
  frames: number[];
  readies: number[];
  /** Why the others got no first frame (as the client saw it). */
  failures: Map<string, number>;
  /** Reached the first frame, then were ended by the other side during the hold. */
  endedEarly: number;
  /** Airlock: the portal's audited end reason for each session that failed or ended early. */
  auditReasons: Map<string, number>;
  wallSeconds: number;
  reaped: number;
  clients: BenchClient[];
  sessionIds: string[];
  startedAt: Date;
}

const tally = (map: Map<string, number>, key: string): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};

function newRound(label: string, n: number): RoundResult {
  return { label, n, frames: [], readies: [], failures: new Map(), endedEarly: 0, auditReasons: new Map(), wallSeconds: 0, reaped: 0, clients: [], sessionIds: [], startedAt: new Date() };
}

/** Issues N tickets, then opens N tunnels at once (the broker paces them) and waits for every first frame or failure. */
async function openMany(label: string, vendor: Browserless, requestId: string, n: number): Promise<RoundResult> {
  const round = newRound(label, n);
  const tickets: string[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => sessionTicket(vendor, requestId)));
    tickets.push(...batch.map((b) => b.ticket));
    round.sessionIds.push(...batch.map((b) => b.id));
  }
  const t0 = performance.now();
  round.clients = tickets.map((ticket) => openAirlock(vendor, ticket));
  const outcomes = await Promise.allSettled(round.clients.map((c) => c.firstFrame(FIRST_FRAME_TIMEOUT_MS)));
  round.wallSeconds = (performance.now() - t0) / 1000;
  for (const o of outcomes) {
    if (o.status === 'fulfilled') round.frames.push(o.value);
    else tally(round.failures, errorMessage(o.reason));
  }
  for (const c of round.clients) if (c.readyAt !== undefined) round.readies.push(c.readyAt - t0);
  return round;
}

/**
 * The baseline round: N guacHandshakes to guacd, the bench pacing them as the broker would (one
 * per `paceMs`: GUACD_PACE_MS for guacd 1.3, none for 1.6).
 */
async function openManyDirect(label: string, n: number, target = guacd, paceMs = GUACD_PACE_MS): Promise<RoundResult> {
  const round = newRound(label, n);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      if (paceMs > 0) await delay(i * paceMs);
      try {
        const client = await openDirect('cnc-07', randomUUID(), FIRST_FRAME_TIMEOUT_MS - (performance.now() - t0), target);
        round.clients.push(client);
        round.readies.push((client.readyAt ?? NaN) - t0);
        await client.firstFrame(Math.max(1, FIRST_FRAME_TIMEOUT_MS - (performance.now() - t0)));
        round.frames.push((client.firstFrameAt ?? NaN) - t0);
      } catch (error) {
        tally(round.failures, errorMessage(error));
      }
    }),
  );
  round.wallSeconds = (performance.now() - t0) / 1000;
  return round;
}

/** Holds the sessions open a while (the watchdogs and timeouts get their chance), then counts those ended under us. */
async function hold(round: RoundResult, ms: number): Promise<void> {
  await delay(ms);
  round.endedEarly = round.clients.filter((c) => c.firstFrameAt !== undefined && c.failure !== undefined).length;
}

async function closeAll(round: RoundResult, target = guacd): Promise<void> {
  const failed = new Set(round.sessionIds.filter((_, i) => round.clients[i]?.failure !== undefined));
  for (const c of round.clients) closeClient(c);
  round.reaped = await waitGuacdIdle(CHILDREN_EXIT_TIMEOUT_MS, target);
  if (failed.size === 0) return;
  // The portal audits every session's end with its reason (asynchronously, after the close).
  await delay(1_000);
  const reasons = new Map<string, string>();
  for (const action of ['session.failed', 'session.ended']) {
    const page = await audit.query({ action, from: round.startedAt, limit: 1_000 });
    for (const event of page.events) if (event.target !== null) reasons.set(event.target.id, `${action} ${event.reason ?? ''}`);
  }
  for (const id of failed) tally(round.auditReasons, reasons.get(id) ?? 'no audit event');
}

// ─── Run ─────────────────────────────────────────────────────────────────────────────────────

try {
  await portalReady(base);
  for (const target of [guacd, ...(guacd16 === undefined ? [] : [guacd16])]) {
    for (const protocol of ['ssh', 'vnc']) target.args.set(protocol, await offeredArgs(target, protocol));
  }
  if (portal16 !== undefined) await portalReady(portal16.base);
  await waitGuacdIdle();
  const vera = await loginAs(base, 'vera');
  const mona = await loginAs(base, 'mona');
  const sshGrant = await grantNow(vera, mona, 'cnc-07');
  const vncGrant = await grantNow(vera, mona, 'press-hmi');
  progress(`services, portal (pid ${portalPid}) and grants ready; load average ${loadAtStart.toFixed(2)}`);

  // 1. connect → ready / first frame, sequential.
  const ssh = await measureConnects(vera, sshGrant, 'cnc-07');
  progress(`SSH connects done (${SEQUENTIAL_RUNS} each)`);
  const vnc = await measureConnects(vera, vncGrant, 'press-hmi');
  progress(`VNC connects done (${SEQUENTIAL_RUNS} each)`);
  await timedIdle('after the VNC runs');

  // 3. portal memory per idle session (before the throughput runs grow the heap).
  await delay(HOLD_MS);
  const memIdle = await portalMemory();
  const memoryRound = await openMany('memory', vera, sshGrant, MEMORY_SESSIONS);
  await hold(memoryRound, HOLD_MS);
  const memLoaded = await portalMemory();
  const liveSessions = memoryRound.clients.filter((c) => c.firstFrameAt !== undefined && c.failure === undefined).length;
  await closeAll(memoryRound);
  await delay(2_000);
  const memAfter = await portalMemory();
  const kbPerSession = (memLoaded.rssKb - memIdle.rssKb) / liveSessions;
  progress(`memory: ${memIdle.rssKb} kB idle, ${memLoaded.rssKb} kB with ${liveSessions} live sessions, ${memAfter.rssKb} kB after closing`);

  // 2. bulk terminal output.
  const seqDirect: ThroughputSample[] = [];
  const seqAirlock: ThroughputSample[] = [];
  for (let i = 0; i < THROUGHPUT_RUNS; i++) {
    const name = randomUUID();
    const direct = await openDirect('cnc-07', name);
    seqDirect.push(await measureSeq(direct, path.join(directSpool, `${name}.typescript`)));
    closeClient(direct);
    await timedIdle('direct throughput session');
    const { ticket, id } = await sessionTicket(vera, sshGrant);
    const airlock = openAirlock(vera, ticket);
    seqAirlock.push(await measureSeq(airlock, path.join(spool, `${id}.typescript`)));
    closeClient(airlock);
    await timedIdle('Airlock throughput session');
  }
  progress(`throughput done (${THROUGHPUT_RUNS} each)`);

  // 4. N sessions at once.
  const rounds: RoundResult[] = [];
  const directRounds: RoundResult[] = [];
  for (const n of CONCURRENCY) {
    for (const [list, open] of [
      [rounds, () => openMany('Airlock', vera, sshGrant, n)],
      [directRounds, () => openManyDirect('direct', n)],
    ] as const) {
      const round = await open();
      await hold(round, HOLD_MS);
      await closeAll(round);
      list.push(round);
      progress(`${round.label} ${n} at once: ${round.frames.length}/${n} first frames in ${round.wallSeconds.toFixed(1)} s, ${round.endedEarly} ended early, ${round.reaped} guacd children reaped`);
    }
  }
  // 5. The same rounds against guacd 1.6 (through the second instance; neither side paced).
  const rounds16: RoundResult[] = [];
  const directRounds16: RoundResult[] = [];
  if (guacd16 !== undefined && portal16 !== undefined) {
    const vera16 = await loginAs(portal16.base, 'vera');
    for (const n of CONCURRENCY) {
      for (const [list, open] of [
        [rounds16, () => openMany('Airlock + guacd 1.6', vera16, sshGrant, n)],
        [directRounds16, () => openManyDirect('direct guacd 1.6', n, guacd16, 0)],
      ] as const) {
        const round = await open();
        await hold(round, HOLD_MS);
        await closeAll(round, guacd16);
        list.push(round);
        progress(`${round.label} ${n} at once: ${round.frames.length}/${n} first frames in ${round.wallSeconds.toFixed(1)} s, ${round.endedEarly} ended early, ${round.reaped} guacd children reaped`);
      }
    }
  }

  // ─── Report ──────────────────────────────────────────────────────────────────────────────
  const mbps = (xs: ThroughputSample[], key: 'terminalBytes' | 'streamBytes'): number => med(xs.map((x) => x[key] / 1e6 / x.seconds));
  const seqSeconds = (xs: ThroughputSample[]): number => med(xs.map((x) => x.seconds));
  const connectRows = (label: string, s: ConnectSamples): string[][] => [
    [`${label} connect → 101 upgrade (guard)`, 'ms', '', '', fmt(med(s.airlockUpgrade), 1), fmt(p95(s.airlockUpgrade), 1), ''],
    [`${label} connect → ready`, 'ms', fmt(med(s.directReady)), fmt(p95(s.directReady)), fmt(med(s.airlockReady)), fmt(p95(s.airlockReady)), ratio(med(s.airlockReady), med(s.directReady))],
    [`${label} connect → first frame`, 'ms', fmt(med(s.directFrame)), fmt(p95(s.directFrame)), fmt(med(s.airlockFrame)), fmt(p95(s.airlockFrame)), ratio(med(s.airlockFrame), med(s.directFrame))],
    [`${label} ticket (POST /api/sessions)`, 'ms', '', '', fmt(med(s.airlockTicket), 1), fmt(p95(s.airlockTicket), 1), ''],
    [
      `${label} ticket + connect → first frame`,
      'ms',
      fmt(med(s.directFrame)),
      fmt(p95(s.directFrame)),
      fmt(med(s.airlockTicket.map((t, i) => t + (s.airlockFrame[i] ?? NaN)))),
      fmt(p95(s.airlockTicket.map((t, i) => t + (s.airlockFrame[i] ?? NaN)))),
      ratio(med(s.airlockTicket.map((t, i) => t + (s.airlockFrame[i] ?? NaN))), med(s.directFrame)),
    ],
  ];
  const firstFrameRatioSsh = med(ssh.airlockFrame) / med(ssh.directFrame);
  const firstFrameRatioVnc = med(vnc.airlockFrame) / med(vnc.directFrame);
  const throughputRatio = mbps(seqAirlock, 'terminalBytes') / mbps(seqDirect, 'terminalBytes');

  console.log(
    `\nbench/broker: guacd 1.3 direct vs through Airlock, same run, same guacd and targets; portal in its own process` +
      `\n(load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end, ${2} cores; AIRLOCK_GUACD_PACE_MS=${GUACD_PACE_MS})\n`,
  );
  printGrid(
    ['measure', 'unit', 'direct p50', 'direct p95', 'airlock p50', 'airlock p95', 'airlock ÷ direct (p50)'],
    [
      ...connectRows('SSH', ssh),
      ...connectRows('VNC', vnc),
      [`SSH seq 1 ${SEQ_LAST}: Enter → settled`, 's', fmt(seqSeconds(seqDirect), 2), '', fmt(seqSeconds(seqAirlock), 2), '', ratio(seqSeconds(seqAirlock), seqSeconds(seqDirect))],
      ['SSH terminal output (typescript bytes)', 'MB/s', fmt(mbps(seqDirect, 'terminalBytes'), 2), '', fmt(mbps(seqAirlock, 'terminalBytes'), 2), '', ratio(mbps(seqAirlock, 'terminalBytes'), mbps(seqDirect, 'terminalBytes'))],
      ['SSH Guacamole stream to the client', 'MB/s', fmt(mbps(seqDirect, 'streamBytes'), 2), '', fmt(mbps(seqAirlock, 'streamBytes'), 2), '', ratio(mbps(seqAirlock, 'streamBytes'), mbps(seqDirect, 'streamBytes'))],
      ['SSH Guacamole stream per run', 'MB', fmt(med(seqDirect.map((x) => x.streamBytes / 1e6)), 2), '', fmt(med(seqAirlock.map((x) => x.streamBytes / 1e6)), 2), '', ''],
    ],
  );
  console.log(
    `\nRows: "connect" starts at the TCP connect to guacd (direct) or at the WebSocket open call (Airlock: upgrade guard with` +
      `\ncookie, ticket GETDEL, grant and spool checks, credential decryption, the per-guacd pacer, guacamole-lite's handshake).` +
      `\n"101 upgrade" ends when the guard has accepted (before guacd is dialled). "ready" is guacd's \`ready\` (direct) or the` +
      `\n\`0.,36.<session id>;\` the tunnel forwards; "first frame" is the first \`sync\`.` +
      `\nThe ticket row is POST /api/sessions alone (not in "connect"); the next row adds it. Sequential runs: ${SEQUENTIAL_RUNS} per path,` +
      `\nalternating. Throughput: ${THROUGHPUT_RUNS} runs per path, from Enter until the typescript holds ${SEQ_LAST} and the prompt` +
      `\nand the stream is quiet for ${SETTLE_QUIET_MS} ms (end = last sync); terminal MB/s = typescript growth ÷ that time.\n`,
  );
  for (const [label, samples] of [['SSH', ssh], ['VNC', vnc]] as const) {
    for (const failure of samples.failures) console.log(`  ${label} sequential run failed (repeated up to ${SEQUENTIAL_RETRIES}×): ${failure}`);
    if (samples.directFrame.length < SEQUENTIAL_RUNS || samples.airlockFrame.length < SEQUENTIAL_RUNS) {
      console.log(`  ${label} samples: ${samples.directFrame.length} direct, ${samples.airlockFrame.length} Airlock of ${SEQUENTIAL_RUNS}`);
    }
    if (samples.reaped > 0) console.log(`  ${label}: ${samples.reaped} of ${2 * SEQUENTIAL_RUNS + 2} guacd children still alive ${SEQUENTIAL_CHILD_EXIT_WAIT_MS / 1000} s after the client closed were killed (guacd 1.3 waits 15 s for "User is not responding")`);
  }
  console.log();
  printGrid(
    ['portal memory (after a full GC in the portal)', 'VmRSS kB', 'V8 heap used + external kB'],
    [
      ['0 sessions (after the connect runs)', String(memIdle.rssKb), String(memIdle.heapKb)],
      [`${liveSessions} live idle SSH sessions (${MEMORY_SESSIONS} opened at once, held ${HOLD_MS / 1000} s)`, String(memLoaded.rssKb), String(memLoaded.heapKb)],
      ['after closing them (2 s)', String(memAfter.rssKb), String(memAfter.heapKb)],
      ['per live session ((with − without) ÷ sessions)', fmt(kbPerSession, 0), fmt((memLoaded.heapKb - memIdle.heapKb) / liveSessions, 0)],
    ],
  );
  console.log();
  printGrid(
    ['SSH sessions opened at once', 'first frame', 'success', `ended in ${HOLD_MS / 1000} s hold`, 'ready p50 ms', 'first frame p50 ms', 'p95 ms', 'max ms', 'all done s', 'guacd children reaped'],
    [...rounds.flatMap((r, i) => [r, directRounds[i]]), ...rounds16.flatMap((r, i) => [r, directRounds16[i]])]
      .flatMap((r) =>
        r === undefined
          ? []
          : [
              [
                `${r.label} N = ${r.n}`,
                `${r.frames.length}/${r.n}`,
                `${fmt((100 * r.frames.length) / r.n, 0)} %`,
                String(r.endedEarly),
                fmt(med(r.readies)),
                fmt(med(r.frames)),
                fmt(p95(r.frames)),
                fmt(r.frames.length > 0 ? Math.max(...r.frames) : NaN),
                fmt(r.wallSeconds, 1),
                String(r.reaped),
              ],
            ],
      ),
  );
  console.log(
    `Airlock: all N WebSockets opened at once; the broker paces set-ups ${GUACD_PACE_MS} ms apart per guacd (the last starts` +
      `\n≥ (N−1)×${GUACD_PACE_MS} ms after the first). Direct: the bench paces its guacHandshakes the same way. Times from the` +
      `\nround's start; "success" = first frame within ${FIRST_FRAME_TIMEOUT_MS / 1000} s; "ended in hold" = reached the first frame, then` +
      `\nended by the other side while held open ${HOLD_MS / 1000} s (the bench sends nop every ${KEEPALIVE_MS / 1000} s, like Guacamole.Client).` +
      `\nRounds are closed and guacd children gone (or reaped after ${CHILDREN_EXIT_TIMEOUT_MS / 1000} s) between rounds.`,
  );
  if (guacd16 === undefined) console.log('guacd 1.6: not built here (no ../shared/vendor tarball, or --quick): its rounds were skipped.');
  else console.log(`guacd 1.6 rounds (${guacd16Bin ?? ''}): neither side paced (the broker paces only guacds older than 1.5).`);
  for (const r of [memoryRound, ...rounds, ...directRounds, ...rounds16, ...directRounds16]) {
    const tag = r.label === 'memory' ? `memory round (${r.n} opened)` : `${r.label} N = ${r.n}`;
    for (const [reason, count] of r.failures) console.log(`  ${tag}: ${count} × ${reason}`);
    for (const [reason, count] of r.auditReasons) console.log(`  ${tag}: ${count} × portal audit of failed/ended sessions: ${reason}`);
  }
  const inspectorNotice = /^(Debugger |For help, see)/;
  const warnings = readFileSync(portalLog, 'utf8').split('\n').filter((l) => l.trim() !== '' && !inspectorNotice.test(l));
  if (warnings.length > 0) {
    const distinct = new Map<string, number>();
    for (const line of warnings) {
      let msg = line;
      try {
        msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? line);
      } catch {
        // not JSON: keep the raw line
      }
      // guacamole-lite prefixes its lines with a timestamp and its connection number: group without them.
      msg = msg.replace(/^\[[^\]]*\] \[Connection #\d+\]\s+/, '').slice(0, 100);
      distinct.set(msg, (distinct.get(msg) ?? 0) + 1);
    }
    console.log(`Portal log (warn and above), ${warnings.length} lines:`);
    for (const [m, c] of [...distinct].sort((a, b) => b[1] - a[1])) console.log(`  ${c} × ${m}`);
  }
  progress(`total ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  const last = rounds.find((r) => r.n === 100);
  const last16 = rounds16.find((r) => r.n === 100);
  console.log(
    JSON.stringify({
      first_frame_ratio_ssh: round(firstFrameRatioSsh, 3),
      first_frame_ratio_vnc: round(firstFrameRatioVnc, 3),
      throughput_ratio: round(throughputRatio, 3),
      success_100: last === undefined ? null : round(last.frames.length / last.n, 3),
      p95_first_frame_ms_100: last === undefined ? null : round(p95(last.frames), 0),
      success_100_guacd16: last16 === undefined ? null : round(last16.frames.length / last16.n, 3),
      p95_first_frame_ms_100_guacd16: last16 === undefined ? null : round(p95(last16.frames), 0),
      portal_kb_per_session: round(kbPerSession, 0),
    }),
  );
} catch (error) {
  // The daemons' logs go with the state directory: show what guacd and the portal said.
  const logs = path.join(stateDir, 'logs');
  for (const file of [...readdirSync(logs).map((f) => path.join(logs, f)), portalLog]) {
    const text = readFileSync(file, { encoding: 'utf8', flag: 'a+' }).trimEnd();
    if (text !== '') process.stderr.write(`--- ${path.basename(file)} (tail) ---\n${text.split('\n').slice(-20).join('\n')}\n`);
  }
  throw error;
} finally {
  await stop();
}
