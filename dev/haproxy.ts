// Debian's HAProxy in front of several portal instances on loopback, for the tests and the
// bench: HTTP and WebSocket to any instance whose /readyz answers 200 (no stickiness: a
// WebSocket stays on the instance that accepted it, everything else is in Redis). Its own
// config, log and admin socket live in the given directory; stop() leaves no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { probes } from './probes.ts';

/** Health checks this often: a stopped or draining instance is out after FALL of them. */
const CHECK_INTERVAL_MS = 300;
/** Failed checks before a server is taken out, and passed ones before it is back. */
const FALL = 2;
const RISE = 2;
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;

export interface HaproxyBackend {
  name: string;
  port: number;
}

export interface Haproxy {
  /** The address users (and tests) open: http://127.0.0.1:PORT. */
  readonly url: string;
  readonly port: number;
  /** What HAProxy's health checks last said of each server: UP, DOWN, MAINT, or a transition (e.g. "UP 1/2"). */
  serverStates(): Promise<Record<string, string>>;
  /** Waits until HAProxy says `name` is `state` (UP or DOWN). */
  waitForServer(name: string, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function config(port: number, backends: readonly HaproxyBackend[], socket: string): string {
  return [
    'global',
    '  maxconn 4096',
    `  stats socket ${socket} mode 600 level admin`,
    '  log stdout format raw local0 notice',
    'defaults',
    '  mode http',
    '  log global',
    '  timeout connect 1s',
    '  timeout client 60s',
    '  timeout server 60s',
    // A WebSocket (a brokered session) may be quiet for long stretches; the portal's own
    // keep-alives (Guacamole nop, sync) come every few seconds.
    '  timeout tunnel 1h',
    '  timeout http-keep-alive 2s',
    // A connection refused by a dead instance is retried on another (the request was never sent).
    '  retries 3',
    '  option redispatch',
    `  default-server inter ${CHECK_INTERVAL_MS}ms fall ${FALL} rise ${RISE}`,
    'frontend airlock',
    `  bind 127.0.0.1:${port}`,
    '  default_backend portals',
    'backend portals',
    '  balance roundrobin',
    '  option httpchk',
    '  http-check send meth GET uri /readyz',
    '  http-check expect status 200',
    ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check`),
    '',
  ].join('\n');
}

/** One admin-socket command (HAProxy's runtime API), its whole answer. */
function adminCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let out = '';
    conn.on('connect', () => conn.end(`${command}\n`));
    conn.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    conn.on('end', () => resolve(out));
    conn.on('error', reject);
  });
}

export async function startHaproxy(opts: { dir: string; port: number; backends: readonly HaproxyBackend[] }): Promise<Haproxy> {
  const socket = path.join(opts.dir, 'haproxy-admin.sock');
  const file = path.join(opts.dir, 'haproxy.cfg');
  await writeFile(file, config(opts.port, opts.backends, socket), { mode: 0o600 });
  const log = openSync(path.join(opts.dir, 'haproxy.log'), 'a', 0o600);
  let child: ChildProcess;
  try {
    // -db: stay in the foreground; its own process group, so stop() reaches any worker too.
    child = spawn('haproxy', ['-db', '-f', file], { detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || pid === undefined) return;
    process.kill(-pid, 'SIGTERM');
    if ((await Promise.race([exited.then(() => true), delay(STOP_GRACE_MS, false)])) === false) process.kill(-pid, 'SIGKILL');
    await exited;
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with code ${child.exitCode} (see ${path.join(opts.dir, 'haproxy.log')})`);
    if (await probes.tcpAccept(opts.port)().then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not listen on port ${opts.port} within ${START_TIMEOUT_MS} ms`);
    }
    await delay(50);
  }
  const serverStates = async (): Promise<Record<string, string>> => {
    // "show stat" is CSV: pxname,svname,…,status (column 18), one line per frontend/server/backend.
    const csv = await adminCommand(socket, 'show stat');
    const lines = csv.split('\n').filter((l) => l.startsWith('portals,'));
    const states: Record<string, string> = {};
    for (const line of lines) {
      const cols = line.split(',');
      const name = cols[1] ?? '';
      if (name !== 'BACKEND') states[name] = cols[17] ?? '';
    }
    return states;
  };
  return {
    url: `http://127.0.0.1:${opts.port}`,
    port: opts.port,
    serverStates,
    async waitForServer(name, state, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        if ((await serverStates())[name] === state) return;
        if (Date.now() > until) throw new Error(`haproxy did not see ${name} ${state} within ${timeoutMs} ms (${JSON.stringify(await serverStates())})`);
        await delay(CHECK_INTERVAL_MS / 2);
      }
    },
    stop,
  };
}
