// Shared benchmark plumbing: closed-loop load with N concurrent clients, latency percentiles,
// and the table every bench prints.
import { readdirSync, readFileSync } from 'node:fs';

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/**
 * Runs `op` from `clients` concurrent loops until `total` operations have completed (or
 * `durationMs` has passed, whichever first). `op(client, i)` must resolve true on success.
 */
export async function closedLoop(
  name: string,
  clients: number,
  limits: { total?: number; durationMs?: number },
  op: (client: number, i: number) => Promise<boolean>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const total = limits.total ?? Number.POSITIVE_INFINITY;
  const started = performance.now();
  const deadline = limits.durationMs === undefined ? Number.POSITIVE_INFINITY : started + limits.durationMs;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (issued < total && performance.now() < deadline) {
        const i = issued++;
        const t0 = performance.now();
        const ok = await op(client, i).catch(() => false);
        latencies.push(performance.now() - t0);
        if (!ok) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name,
    requests: latencies.length,
    errors,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
  };
}

export function printTable(rows: LoadResult[], baseline?: LoadResult): void {
  const header = ['operation', 'requests', 'errors', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', ...(baseline ? [`req/s ÷ ${baseline.name}`] : [])];
  const lines = rows.map((r) => [
    r.name,
    String(r.requests),
    String(r.errors),
    r.rps.toFixed(0),
    r.p50.toFixed(1),
    r.p95.toFixed(1),
    r.p99.toFixed(1),
    ...(baseline ? [(r.rps / baseline.rps).toFixed(2)] : []),
  ]);
  printGrid(header, lines);
}

/** A plain text table: first column left-aligned, the others right-aligned. */
export function printGrid(header: string[], lines: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

export const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

/**
 * GET load from wrk (C, one thread): the load generator costs far less CPU than Node's fetch, so
 * on a small machine the portal, not the client, is what gets measured.
 */
export async function wrkGet(name: string, url: string, opts: { connections: number; seconds: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const { spawnSync } = await import('node:child_process');
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', ...Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  const run = spawnSync('wrk', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr || run.error?.message}`);
  const out = run.stdout;
  const ms = (label: string): number => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (m === null) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    name,
    requests,
    errors: non2xx,
    seconds: opts.seconds,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: ms('50'),
    p95: ms('90'), // wrk reports 50/75/90/99: the 90th stands in for the 95th
    p99: ms('99'),
  };
}

/** Rate limits off: a bench drives a few accounts very hard; the limits would measure themselves. */
const UNLIMITED = '1000000';

/**
 * Benches open many sessions of one vendor on one grant: the per-grant cap (a second open takes
 * the first over) and the per-user cap would turn that into one session. Capacity, not the caps,
 * is measured (test/containment.test.ts tests the caps).
 */
export const UNCAPPED = { AIRLOCK_MAX_SESSIONS_PER_GRANT: '100', AIRLOCK_MAX_SESSIONS_PER_USER: '1000', AIRLOCK_MAX_SESSIONS_PER_GUACD: '1000' } as const;

export interface BenchPortal {
  base: string;
  child: import('node:child_process').ChildProcess;
}

/**
 * Starts the portal as its own process (test mode, dev IdP with the tests' password, warn-level
 * logs, no rate limits) on a free port; `env` adds or overrides variables, `nodeArgs` go to node.
 * Resolves once /readyz answers 200.
 */
export async function startBenchPortal(opts: {
  /** Undefined: `env` says where Redis is (AIRLOCK_REDIS_SENTINELS…). */
  redisUrl: string | undefined;
  guacd: { host: string; port: number };
  env?: Record<string, string>;
  nodeArgs?: string[];
  stdio?: 'pipe' | 'ignore';
}): Promise<BenchPortal> {
  const { spawn } = await import('node:child_process');
  const path = await import('node:path');
  const { freePort } = await import('../dev/probes.ts');
  const { TEST_IDP_PASSWORD } = await import('../test/support/portal.ts');
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(import.meta.dirname, '../server/app/main.ts')], {
    stdio: ['ignore', opts.stdio ?? 'ignore', opts.stdio === 'pipe' ? 'pipe' : 'inherit'],
    env: {
      PATH: process.env['PATH'] ?? '',
      AIRLOCK_MODE: 'test',
      AIRLOCK_PORT: String(port),
      AIRLOCK_PUBLIC_URL: base,
      ...(opts.redisUrl === undefined ? {} : { AIRLOCK_REDIS_URL: opts.redisUrl }),
      AIRLOCK_GUACD: `${opts.guacd.host}:${opts.guacd.port}`,
      AIRLOCK_INSECURE_HTTP_COOKIES: 'true',
      AIRLOCK_DEV_IDP_PASSWORD: TEST_IDP_PASSWORD,
      AIRLOCK_LOG_LEVEL: 'warn',
      AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: UNLIMITED,
      AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: UNLIMITED,
      // No load balancer in front: SIGTERM stops at once instead of draining.
      AIRLOCK_DRAIN_SECONDS: '0',
      ...opts.env,
    },
  });
  return { base, child };
}

/** Polls /readyz until it answers 200 (the portal process has no other ready signal). */
export async function portalReady(base: string, timeoutMs = 15_000): Promise<void> {
  const { setTimeout: delay } = await import('node:timers/promises');
  const deadline = Date.now() + timeoutMs;
  while ((await fetch(`${base}/readyz`).then((r) => r.status).catch(() => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error('the portal did not become ready');
    await delay(50);
  }
}

/**
 * Seeds the demo plant for `services` into the bench's Redis: the inventory, and with `keyring`
 * the machines' credentials in the vault. Returns both, for benches that dial machines directly.
 */
export async function seedBenchPlant(
  redis: import('../server/redis.ts').RedisClient,
  services: import('../dev/supervisor.ts').RunningServices,
  keyring?: string,
): Promise<{ inventory: import('../server/inventory/schema.ts').InventoryFile; credentials: ReturnType<typeof import('../dev/demo-inventory.ts').demoCredentials> }> {
  const { demoCredentials, demoInventory } = await import('../dev/demo-inventory.ts');
  const { InventoryStore } = await import('../server/inventory/store.ts');
  const { Vault } = await import('../server/vault/vault.ts');
  const { parseKeyring } = await import('../server/keyring.ts');
  const inventory = demoInventory(services);
  const credentials = demoCredentials(services);
  await new InventoryStore(redis).seed(inventory, true);
  if (keyring !== undefined) {
    const vault = new Vault(redis, parseKeyring(keyring));
    for (const [machineId, credential] of Object.entries(credentials)) await vault.store(machineId, credential);
  }
  return { inventory, credentials };
}

/** A bench's own Redis and guacd under a fresh state directory; `stop` ends them and removes it. */
export async function startBenchServices(name: string): Promise<{
  stateDir: string;
  redisUrl: string;
  guacd: { host: string; port: number };
  stop(): Promise<void>;
}> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { startServices } = await import('../dev/supervisor.ts');
  const stateDir = mkdtempSync(path.join(tmpdir(), `airlock-bench-${name}-`));
  const supervisor = await startServices({ stateDir, services: ['redis', 'guacd'], userPrefix: 'airlock-bench' });
  const { redis, guacd } = supervisor.services;
  if (redis === undefined || guacd === undefined) throw new Error('no redis/guacd');
  return {
    stateDir,
    redisUrl: redis.url,
    guacd,
    async stop() {
      await supervisor.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The Chrome DevTools protocol of a bench's portal process (`--inspect=127.0.0.1:PORT`, loopback, bench only). */
export class Inspector {
  private nextId = 0;
  private readonly ws: import('ws').WebSocket;

  private constructor(ws: import('ws').WebSocket) {
    this.ws = ws;
  }

  static async connect(port: number): Promise<Inspector> {
    const { default: WebSocket } = await import('ws');
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const url = targets[0]?.webSocketDebuggerUrl;
    if (url === undefined) throw new Error('the portal has no inspector target');
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new Inspector(ws);
  }

  /** One method call; resolves with its `result`. */
  call<T = unknown>(method: string, params: object = {}): Promise<T> {
    return new Promise((resolve, reject) => {
      const id = ++this.nextId;
      const onMessage = (data: Buffer): void => {
        const reply = JSON.parse(data.toString('utf8')) as { id?: number; result?: T; error?: { message: string } };
        if (reply.id !== id) return;
        this.ws.off('message', onMessage);
        if (reply.error !== undefined) reject(new Error(`${method}: ${reply.error.message}`));
        else resolve(reply.result as T);
      };
      this.ws.on('message', onMessage);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** CPU seconds (user + system) of each thread of a process, by thread name (/proc/PID/task/*). */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const ticks = 100; // USER_HZ on Linux
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The name is in parentheses and may hold spaces: split after the last ')'.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticks;
      const key = tid === String(pid) ? 'main' : name;
      byName.set(key, (byName.get(key) ?? 0) + seconds);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

/**
 * The plant the session benches dial: Redis, guacd and the SSH and VNC targets under `stateDir`,
 * the demo plant seeded with its credentials sealed under a fresh keyring (give it to the portal
 * as AIRLOCK_VAULT_KEYS), and the bench's own Redis connection (`client`).
 */
export async function startBenchPlant(opts: { stateDir: string; userPrefix: string; keyringId: string; clientName: string }) {
  const { startServices } = await import('../dev/supervisor.ts');
  const { generateKeyringEntry } = await import('../server/keyring.ts');
  const { connectRedis } = await import('../server/redis.ts');
  const { createLogger } = await import('../server/log.ts');
  const supervisor = await startServices({ stateDir: opts.stateDir, services: ['redis', 'guacd', 'sshd', 'vnc'], userPrefix: opts.userPrefix });
  const services = supervisor.services;
  const { redis, guacd } = services;
  if (redis === undefined || guacd === undefined || services.sshd === undefined || services.vnc === undefined) throw new Error('services missing');
  const keyring = generateKeyringEntry(opts.keyringId);
  const client = await connectRedis(redis.url, createLogger('warn'), opts.clientName);
  const { inventory, credentials } = await seedBenchPlant(client, services, keyring);
  return { supervisor, services, redis, guacd, keyring, client, inventory, credentials };
}

/** SIGTERM to a bench's portal, then up to `graceMs` for it to exit (it drains nothing: AIRLOCK_DRAIN_SECONDS is 0). */
export async function stopBenchPortal(child: import('node:child_process').ChildProcess, graceMs = 5_000): Promise<void> {
  const { setTimeout: delay } = await import('node:timers/promises');
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await Promise.race([exited, delay(graceMs)]);
}

/** Ctrl-C or a kill stops what the bench started before it exits (130, as for an interrupt). */
export function stopOnSignal(stop: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop().finally(() => process.exit(130)));
}

/** An hour's request for `machineId` opening 1.5 s from now, approved; its id and when its window opens (ms since the epoch). */
export async function approvedRequest(
  vendor: import('../test/support/http.ts').Browserless,
  approver: import('../test/support/http.ts').Browserless,
  machineId: string,
  reason: string,
  approval: { comment?: string } = {},
): Promise<{ requestId: string; start: number }> {
  const start = Date.now() + 1_500;
  const created = await vendor.post('/api/requests', {
    machineId,
    windowStart: new Date(start).toISOString(),
    windowEnd: new Date(start + 60 * 60_000).toISOString(),
    reason,
  });
  if (created.status !== 201) throw new Error(`request refused (${created.status}): ${created.text}`);
  const requestId = created.json<{ request: { id: string } }>().request.id;
  const approved = await approver.post(`/api/requests/${requestId}/approve`, approval);
  if (approved.status !== 200) throw new Error(`approve refused (${approved.status}): ${approved.text}`);
  return { requestId, start };
}
