// Development/test service supervisor: starts private instances of Redis, guacd and the demo
// targets (sshd, Xvnc, xrdp, telnetd) on loopback, with per-run credentials, waits until each one
// answers its protocol, and stops them so that no process they started is left behind.
// It installs no signal handlers: whoever embeds it (the CLI, a Jest global setup) owns shutdown.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  ensureUser,
  generatePassword,
  generateSshKeyPair,
  generateVncPassword,
  setPassword,
  writeUserFile,
} from './accounts.ts';
import { isAlive, processFamily, readProcess, signal, waitForExit, type ProcessRef } from './processes.ts';
import { freePort, isPortFree, probes, type Probe } from './probes.ts';
import { errorMessage } from '../server/errors.ts';

const run = promisify(execFile);

export type ServiceName = 'redis' | 'guacd' | 'sshd' | 'vnc' | 'rdp' | 'telnet' | 'clamd' | 'sentinel';
/** What a supervisor starts when told nothing: the demo's and the shared test services. */
export const ALL_SERVICES: readonly ServiceName[] = ['redis', 'guacd', 'sshd', 'vnc', 'rdp', 'telnet', 'clamd'];
/** Started only when asked for: the Redis Sentinel topology (high-availability tests and bench). */
export const OPTIONAL_SERVICES: readonly ServiceName[] = ['sentinel'];

export interface SupervisorOptions {
  /** Everything the services write goes below here (configs, Redis AOF, pid files, logs). */
  stateDir: string;
  /** Default: all. */
  services?: ServiceName[];
  /** Configured ports (for rdp: the RDP port; for sentinel: the first master's); otherwise free loopback ports are picked. */
  ports?: Partial<Record<ServiceName, number>>;
  /** Per service; default 20 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * Target accounts are `<prefix>-ssh`, `<prefix>-rdp`, `<prefix>-tel`, and `<prefix>-vnc` owns
   * the VNC desktop. Each run sets new passwords, so two supervisors running at the same time
   * need different prefixes (the tests use their own). Default `airlock`.
   */
  userPrefix?: string;
  /** The guacd binary (e.g. a guacd 1.6 build for the compatibility run); default: Debian's. */
  guacdBin?: string;
  /**
   * Runs guacd in its own mount namespace with a private, empty /tmp, as a guacd in another
   * plant segment would be: it cannot see the portal's spool (tests of the portal's recording).
   */
  guacdIsolated?: boolean;
}

export interface TargetAccount {
  username: string;
  password: string;
  /** PEM private key (sshd only); see generateSshKeyPair for why RSA/PKCS#1. */
  privateKey?: string;
}

export interface RunningServices {
  redis?: { host: '127.0.0.1'; port: number; url: string };
  guacd?: { host: '127.0.0.1'; port: number };
  /** `hostKey`: the server's public host key (`ssh-ed25519 AAAA…`), for machines to pin. */
  sshd?: { host: '127.0.0.1'; port: number; account: TargetAccount; hostKey: string };
  vnc?: { host: '127.0.0.1'; port: number; display: number; password: string };
  rdp?: { host: '127.0.0.1'; port: number; sesmanPort: number; account: TargetAccount };
  telnet?: { host: '127.0.0.1'; port: number; account: TargetAccount };
  /**
   * ClamAV's clamd on a private socket, with a generated signature database (no freshclam here):
   * the EICAR test string and `testMarker`, a string any file can carry to be found infected.
   */
  clamd?: { socket: string; testMarker: string; signatures: string[] };
  sentinel?: SentinelTopology;
}

/**
 * A Redis master, two replicas and three sentinels (quorum 2) on loopback. Which node is the
 * master changes with every failover: ask a sentinel (SENTINEL get-master-addr-by-name).
 */
export interface SentinelTopology {
  masterName: string;
  /** The sentinels, as AIRLOCK_REDIS_SENTINELS lists them. */
  sentinels: Array<{ host: '127.0.0.1'; port: number }>;
  /** The data nodes; the first was the master at start. */
  nodes: Array<{ host: '127.0.0.1'; port: number }>;
  /** A sentinel notices a dead master this long after its last answer (then fails over). */
  downAfterMs: number;
}

export interface Supervisor {
  readonly services: RunningServices;
  /** Stops one service and everything it spawned (e.g. to test how the app copes without Redis). */
  stopService(name: ServiceName): Promise<void>;
  /** (Re)starts a service on the same port, with the same data directory and credentials. */
  startService(name: ServiceName): Promise<void>;
  /** Stops everything; idempotent; leaves no process behind. */
  stop(): Promise<void>;
  /**
   * Signals one process of the sentinel topology, a data node or a sentinel (by port): SIGKILL
   * (resolves once it is gone), SIGSTOP (hung: it keeps its sockets and answers nothing) or SIGCONT.
   */
  signalRedisNode(port: number, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void>;
  /**
   * Starts a killed data node or sentinel again on its port, with its data or its (rewritten)
   * configuration. An old master comes back as a master until the sentinels demote it (their
   * next look, up to 10 s); with `replicaOf` it starts as a replica of that node at once, as an
   * operator would bring it back.
   */
  restartRedisNode(port: number, opts?: { replicaOf?: number }): Promise<void>;
  /** Every pid the supervisor started or saw its daemons spawn (xterm, sesman sessions, …). */
  pids(): number[];
}

/** A service failed to start: the message names it and carries the tail of its logs. */
export class ServiceStartError extends Error {
  readonly service: ServiceName;
  constructor(service: ServiceName, reason: string, logTail: string) {
    super(`${service}: ${reason}${logTail ? `\n${logTail}` : ''}`);
    this.name = 'ServiceStartError';
    this.service = service;
  }
}

const DEFAULT_READY_TIMEOUT_MS = 20_000;
/** Short enough that readiness costs little over the daemon's real start-up time. */
const READY_POLL_MS = 100;
/** How long a process gets to exit after SIGTERM before SIGKILL (Redis flushes its AOF here). */
const KILL_GRACE_MS = 5_000;
/** Children can fork while we kill their parents; rescan this many times before giving up. */
const KILL_ROUNDS = 3;
const LOG_TAIL_LINES = 30;
/**
 * VNC display numbers we probe for a free one: above xrdp-sesman's X11DisplayOffset (10, it
 * counts up from there) and any desktop on :0/:1.
 */
const VNC_DISPLAYS = { first: 50, last: 99 };
/**
 * LAB.md: with `-L info` more guacd 1.3 children hang in bursts (fork while syslog's lock is
 * held), so 1.3 logs errors only; guacd ≥ 1.5 does not hang and logs at info, which is where it
 * says why an RDP connection failed. guacd's log is logs/guacd.log beside the other services'.
 */
const GUACD_LOG_LEVEL = { hangProne: 'error', current: 'info' } as const;
const DEFAULT_GUACD_BIN = '/usr/sbin/guacd';
/** The sentinel topology's master name (AIRLOCK_REDIS_MASTER_NAME). */
const SENTINEL_MASTER_NAME = 'airlock';
/** Two of the three sentinels must agree the master is down: one dead sentinel still fails over. */
const SENTINEL_QUORUM = 2;
/**
 * How long a master may be silent before a sentinel calls it down. Production runs 5–30 s (a
 * GC pause or a slow disk must not fail over); tests want failovers in seconds.
 */
const SENTINEL_DOWN_AFTER_MS = 1_000;
/**
 * A sentinel retries a failover of the same master only after twice this; tests fail over
 * several times a minute, and on loopback a failover takes about a second.
 */
const SENTINEL_FAILOVER_TIMEOUT_MS = 3_000;
const SCREEN = { geometry: '1024x768', depth: '24' };
/** Daemons get a clean environment rather than ours (which may hold secrets). */
const DAEMON_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
const X11_SOCKET_DIR = '/tmp/.X11-unix';
const SYSTEM_SESMAN_INI = '/etc/xrdp/sesman.ini';
const XRDP_SOCKET_DIR = '/run/xrdp/sockdir';

interface Daemon {
  label: string;
  child: ChildProcess;
  ref: ProcessRef;
  /** Set once the process has exited and been reaped. */
  exit?: string;
  exited: Promise<void>;
}

interface ServiceState {
  daemons: Daemon[];
  /**
   * Processes seen in the family of the current run of the service; dead ones still name their
   * process group and session. Cleared by a clean stop, since pids get reused (pid_max is 32768).
   */
  tracked: Map<number, ProcessRef>;
  /** Every pid ever tracked, for pids(). */
  history: Set<number>;
  logFiles: Set<string>;
}

interface Layout {
  logs: string;
  pids: string;
  dir(service: ServiceName): string;
}

export async function startServices(opts: SupervisorOptions): Promise<Supervisor> {
  const stateDir = path.resolve(opts.stateDir);
  const selected = [...new Set(opts.services ?? ALL_SERVICES)];
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const log = opts.log ?? ((): void => {});
  const prefix = opts.userPrefix ?? 'airlock';
  const layout: Layout = {
    logs: path.join(stateDir, 'logs'),
    pids: path.join(stateDir, 'pids'),
    dir: (service) => path.join(stateDir, service),
  };
  const states = new Map<ServiceName, ServiceState>(
    selected.map((name) => [name, { daemons: [], tracked: new Map(), history: new Set(), logFiles: new Set() }]),
  );
  let stopped = false;

  // Sections 1–3 (below) do the work; this is the orchestration.
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.logs, { recursive: true });
  await mkdir(layout.pids, { recursive: true });
  await killLeftoversFromCrashedRun(layout, log);

  const services: RunningServices = {};
  const launchers = new Map<ServiceName, () => Promise<void>>();
  const context: LaunchContext = { layout, log, readyTimeoutMs, states };
  try {
    for (const name of selected) {
      // Sequential on purpose: useradd/chpasswd lock /etc/passwd and fail when run in parallel.
      const { info, launch } = await prepare(name, { ...context, prefix, port: opts.ports?.[name], guacdBin: opts.guacdBin ?? DEFAULT_GUACD_BIN, guacdIsolated: opts.guacdIsolated === true });
      Object.assign(services, { [name]: info });
      launchers.set(name, launch);
    }
    const started = Date.now();
    const results = await Promise.allSettled(selected.map((name) => launchers.get(name)!()));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length > 0) throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map((f) => f.message).join('\n\n'));
    log(`all services ready in ${Date.now() - started} ms: ${selected.join(', ')}`);
  } catch (error) {
    await Promise.all([...states.keys()].map((name) => stopFamily(name, states.get(name)!, layout)));
    throw error;
  }

  const supervisorSentinels = new Set(services.sentinel?.sentinels.map((s) => s.port) ?? []);
  const stateOf = (name: ServiceName): ServiceState => {
    const state = states.get(name);
    if (!state) throw new Error(`service ${name} is not managed by this supervisor`);
    return state;
  };

  return {
    services: deepFreeze(services),
    async stopService(name) {
      await stopFamily(name, stateOf(name), layout);
      log(`${name} stopped`);
    },
    async startService(name) {
      if (stopped) throw new Error('supervisor has been stopped');
      const state = stateOf(name);
      if (state.daemons.some((d) => d.exit === undefined)) return;
      try {
        await launchers.get(name)!();
      } catch (error) {
        await stopFamily(name, state, layout);
        throw error;
      }
    },
    async stop() {
      stopped = true;
      await Promise.all([...states.entries()].map(([name, state]) => stopFamily(name, state, layout)));
    },
    pids() {
      for (const state of states.values()) rememberFamily(state);
      return [...states.values()].flatMap((state) => [...state.history]);
    },
    async signalRedisNode(port, sig) {
      const daemon = stateOf('sentinel').daemons.find((d) => (d.label === redisNodeLabel(port) || d.label === sentinelLabel(port)) && d.exit === undefined);
      if (daemon === undefined) throw new Error(`sentinel: nothing of the topology runs on port ${port}`);
      signal(-daemon.ref.pid, sig);
      if (sig === 'SIGKILL') await daemon.exited;
      log(`sentinel: ${sig} sent to ${daemon.label}`);
    },
    async restartRedisNode(port, opts = {}) {
      if (stopped) throw new Error('supervisor has been stopped');
      const state = stateOf('sentinel');
      const isSentinel = supervisorSentinels.has(port);
      const label = isSentinel ? sentinelLabel(port) : redisNodeLabel(port);
      if (state.daemons.some((d) => d.label === label && d.exit === undefined)) throw new Error(`sentinel: ${label} is running`);
      // Forget the dead run: a spawner's readiness check fails on any exited daemon of its service.
      state.daemons = state.daemons.filter((d) => d.exit === undefined);
      const spawner = daemonSpawner('sentinel', context);
      if (isSentinel) {
        await spawner.spawn(label, 'redis-sentinel', [path.join(layout.dir('sentinel'), `sentinel-${port}`, 'sentinel.conf')]);
      } else {
        const replicaOf = opts.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(opts.replicaOf)];
        await spawner.spawn(label, 'redis-server', [path.join(layout.dir('sentinel'), `node-${port}`, 'redis.conf'), ...replicaOf]);
      }
      await spawner.waitReady(`${label}`, probes.redisPing(port));
    },
  };
}

// ─── 1. Preparing a service: ports, accounts, credentials ──────────────────────────────────

interface LaunchContext {
  layout: Layout;
  log: (line: string) => void;
  readyTimeoutMs: number;
  states: Map<ServiceName, ServiceState>;
}

interface PrepareContext extends LaunchContext {
  prefix: string;
  port: number | undefined;
  guacdBin: string;
  guacdIsolated: boolean;
}

interface Prepared {
  info: NonNullable<RunningServices[ServiceName]>;
  /** Writes configs, spawns the daemons and resolves once they answer; reused by startService. */
  launch: () => Promise<void>;
}

async function prepare(name: ServiceName, ctx: PrepareContext): Promise<Prepared> {
  const port = ctx.port ?? (await freePort());
  const dir = ctx.layout.dir(name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const spawner = daemonSpawner(name, ctx);
  switch (name) {
    case 'redis':
      return { info: { host: '127.0.0.1', port, url: `redis://127.0.0.1:${port}` }, launch: () => launchRedis(spawner, dir, port) };
    case 'guacd':
      return { info: { host: '127.0.0.1', port }, launch: () => launchGuacd(spawner, port, ctx.guacdBin, ctx.guacdIsolated) };
    case 'clamd': {
      const socket = path.join(dir, 'clamd.sock');
      return {
        info: { socket, testMarker: CLAMD_TEST_MARKER, signatures: [...CLAMD_SIGNATURES] },
        launch: () => launchClamd(spawner, dir, socket),
      };
    }
    case 'sentinel': {
      const nodes = [port, await freePort(), await freePort()].map((p) => ({ host: '127.0.0.1' as const, port: p }));
      const sentinels = [await freePort(), await freePort(), await freePort()].map((p) => ({ host: '127.0.0.1' as const, port: p }));
      const topology: SentinelTopology = { masterName: SENTINEL_MASTER_NAME, nodes, sentinels, downAfterMs: SENTINEL_DOWN_AFTER_MS };
      return { info: topology, launch: () => launchSentinelTopology(spawner, dir, topology) };
    }
    case 'sshd': {
      const username = `${ctx.prefix}-ssh`;
      const user = await ensureUser(username);
      const password = generatePassword();
      await setPassword(username, password);
      const keys = await generateSshKeyPair(dir);
      await writeUserFile(user, '.ssh/authorized_keys', `${keys.publicKey}\n`, 0o600);
      const hostKey = await ensureSshHostKey(dir);
      return {
        info: { host: '127.0.0.1', port, account: { username, password, privateKey: keys.privateKey }, hostKey },
        launch: () => launchSshd(spawner, dir, port, username),
      };
    }
    case 'vnc': {
      const owner = await ensureUser(`${ctx.prefix}-vnc`);
      const password = generateVncPassword();
      const display = await claimFreeDisplay();
      return {
        info: { host: '127.0.0.1', port, display, password },
        launch: () => launchVnc(spawner, dir, port, display, password, owner),
      };
    }
    case 'rdp': {
      const username = `${ctx.prefix}-rdp`;
      const user = await ensureUser(username);
      const password = generatePassword();
      await setPassword(username, password);
      // LAB.md: the stock startwm.sh ends the session within seconds when there is no desktop.
      await writeUserFile(user, 'startwm.sh', '#!/bin/sh\nexec xterm\n', 0o755);
      const sesmanPort = await sesmanPortFor(ctx.log);
      return {
        info: { host: '127.0.0.1', port, sesmanPort: sesmanPort.port, account: { username, password } },
        launch: () => launchRdp(spawner, dir, port, sesmanPort),
      };
    }
    case 'telnet': {
      const username = `${ctx.prefix}-tel`;
      await ensureUser(username);
      const password = generatePassword();
      await setPassword(username, password);
      return {
        info: { host: '127.0.0.1', port, account: { username, password } },
        launch: () => launchTelnet(spawner, dir, port),
      };
    }
  }
}

/**
 * xrdp 0.9 reads the sesman port from /etc/xrdp/sesman.ini whatever `-c` says. Rather than edit
 * that system file (shared with every other instance), xrdp runs in a private mount namespace
 * where our sesman.ini is bind-mounted over it. Without mount namespaces (no CAP_SYS_ADMIN) our
 * sesman has to listen on the port the system file names, so only one instance can run.
 */
async function sesmanPortFor(log: (line: string) => void): Promise<{ port: number; bindMount: boolean }> {
  const bindMount = await run('unshare', ['--mount', 'true']).then(
    () => true,
    () => false,
  );
  if (bindMount) return { port: await freePort(), bindMount };
  const systemIni = await readFile(SYSTEM_SESMAN_INI, 'utf8').catch(() => '');
  const port = Number(/^ListenPort=(\d+)/m.exec(systemIni)?.[1] ?? 3350);
  log(`rdp: no mount namespaces here; xrdp-sesman uses port ${port} from ${SYSTEM_SESMAN_INI}`);
  return { port, bindMount };
}

// ─── 2. Launching the daemons ───────────────────────────────────────────────────────────────

interface SpawnOptions {
  env?: Record<string, string>;
  uid?: number;
  gid?: number;
  cwd?: string;
}

interface DaemonSpawner {
  /** Spawns a daemon in its own process group (and session), output appended to logs/LABEL.log. */
  spawn(label: string, command: string, args: string[], options?: SpawnOptions): Promise<Daemon>;
  /** Polls the probe until it succeeds; fails early if a daemon of this service exits. */
  waitReady(what: string, probe: Probe): Promise<void>;
  /** Fails if a port is taken, so we never probe somebody else's daemon by mistake. */
  requireFreePort(port: number, host?: string): Promise<void>;
  /** Path for a log file the daemon writes itself (named in its config); included in error tails. */
  ownLogFile(label: string): string;
}

function daemonSpawner(name: ServiceName, ctx: LaunchContext): DaemonSpawner {
  const state = ctx.states.get(name)!;
  // The service's readiness budget runs from the start of its launch, not from the first probe.
  const launchedAt = Date.now();
  const fail = async (reason: string): Promise<never> => {
    throw new ServiceStartError(name, reason, await logTails(state.logFiles));
  };
  return {
    async spawn(label, command, args, options = {}) {
      const logFile = path.join(ctx.layout.logs, `${label}.log`);
      state.logFiles.add(logFile);
      const fd = openSync(logFile, 'a', 0o600);
      let child: ChildProcess;
      try {
        child = spawn(command, args, {
          detached: true, // own process group and session: stop() signals the whole group
          stdio: ['ignore', fd, fd],
          env: options.env ?? DAEMON_ENV,
          cwd: options.cwd ?? ctx.layout.dir(name),
          ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
        });
      } finally {
        closeSync(fd);
      }
      const pid = child.pid;
      if (pid === undefined) {
        const error = await new Promise<Error>((resolve) => child.once('error', resolve));
        return fail(`cannot start ${command}: ${error.message}`);
      }
      const ref = { pid, startTime: readProcess(pid)?.startTime ?? 0 };
      const daemon: Daemon = {
        label,
        child,
        ref,
        exited: new Promise((resolve) =>
          child.once('exit', (code, sig) => {
            daemon.exit = sig ? `killed by ${sig}` : `exited with code ${code}`;
            resolve();
          }),
        ),
      };
      state.daemons.push(daemon);
      state.tracked.set(pid, ref);
      state.history.add(pid);
      await writeFile(path.join(ctx.layout.pids, `${label}.pid`), `${pid} ${ref.startTime}\n`);
      return daemon;
    },
    async waitReady(what, probe) {
      let lastError = 'no attempt yet';
      for (;;) {
        const dead = state.daemons.find((d) => d.exit !== undefined);
        if (dead) return fail(`${dead.label} ${dead.exit} before ${what} was ready`);
        let ready = false;
        try {
          await probe();
          ready = true;
        } catch (error) {
          lastError = errorMessage(error);
        }
        const elapsed = Date.now() - launchedAt;
        // Answering late is not answering in time: the budget holds for a success too.
        const outOfTime = ready ? elapsed > ctx.readyTimeoutMs : elapsed >= ctx.readyTimeoutMs;
        if (outOfTime) {
          return fail(`${what} not ready within ${ctx.readyTimeoutMs} ms (last probe: ${ready ? 'answered too late' : lastError})`);
        }
        if (ready) {
          ctx.log(`${name}: ${what} ready after ${elapsed} ms`);
          return;
        }
        await delay(READY_POLL_MS);
      }
    },
    async requireFreePort(port, host = '127.0.0.1') {
      if (!(await isPortFree(port, host))) await fail(`port ${port} on ${host} is already in use`);
    },
    ownLogFile(label) {
      const file = path.join(ctx.layout.logs, `${label}.own.log`);
      state.logFiles.add(file);
      return file;
    },
  };
}

async function launchRedis(d: DaemonSpawner, dir: string, port: number): Promise<void> {
  await d.requireFreePort(port);
  const config = await writeConfig(dir, 'redis.conf', redisDataLines(port, dir));
  await d.spawn('redis', 'redis-server', [config]);
  await d.waitReady(`redis on port ${port}`, probes.redisPing(port));
}

/** Every Redis process here: on loopback only, in the foreground, logging to stdout (the supervisor keeps it), its files in `dir`. */
const redisProcessLines = (port: number, dir: string): string[] => [`port ${port}`, 'bind 127.0.0.1', 'daemonize no', 'logfile ""', `dir "${dir}"`];
/**
 * A Redis data node (the standalone one, or one of the Sentinel topology): also closed to
 * clients from elsewhere, and its data in the AOF, which is what makes it survive
 * stopService/startService (RDB snapshots are not needed).
 */
const redisDataLines = (port: number, dir: string): string[] => [...redisProcessLines(port, dir), 'protected-mode yes', 'appendonly yes', 'appendfsync everysec', 'save ""'];

const redisNodeLabel = (port: number): string => `redis-node-${port}`;
const sentinelLabel = (port: number): string => `sentinel-${port}`;

/** Writes a daemon's config (one line each) into `dir`, made private to us first; returns its path. */
async function writeConfig(dir: string, name: string, lines: readonly string[]): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  await writeFile(file, [...lines, ''].join('\n'), { mode: 0o600 });
  return file;
}

/**
 * The data nodes first (the replicas fully synced), then the sentinels: a sentinel learns the
 * replicas from the master's INFO, which it reads on connecting and then only every 10 s.
 * Ready once every sentinel sees the master, both replicas and the two other sentinels, so a
 * failover can happen from the first moment.
 */
async function launchSentinelTopology(d: DaemonSpawner, dir: string, t: SentinelTopology): Promise<void> {
  const [master, ...replicas] = t.nodes;
  if (master === undefined) throw new Error('sentinel: no nodes');
  for (const node of t.nodes) await d.requireFreePort(node.port);
  for (const s of t.sentinels) await d.requireFreePort(s.port);
  for (const node of t.nodes) {
    const nodeDir = path.join(dir, `node-${node.port}`);
    const config = await writeConfig(nodeDir, 'redis.conf', [
      ...redisDataLines(node.port, nodeDir),
      // A (re)starting replica syncs at once instead of after the default 5 s of waiting for others.
      'repl-diskless-sync yes',
      'repl-diskless-sync-delay 0',
      ...(node === master ? [] : [`replicaof 127.0.0.1 ${master.port}`]),
    ]);
    await d.spawn(redisNodeLabel(node.port), 'redis-server', [config]);
  }
  for (const node of t.nodes) await d.waitReady(`redis node on port ${node.port}`, probes.redisPing(node.port));
  await d.waitReady(
    `${replicas.length} replicas in sync with port ${master.port}`,
    probes.redisReply(master.port, ['INFO', 'replication'], (info) => (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicas.length),
  );
  for (const s of t.sentinels) {
    const sentinelDir = path.join(dir, `sentinel-${s.port}`);
    // Sentinel rewrites its own file (the current master, the others it met): one each, writable.
    const config = await writeConfig(sentinelDir, 'sentinel.conf', [
      ...redisProcessLines(s.port, sentinelDir),
      `sentinel monitor ${t.masterName} 127.0.0.1 ${master.port} ${SENTINEL_QUORUM}`,
      `sentinel down-after-milliseconds ${t.masterName} ${t.downAfterMs}`,
      `sentinel failover-timeout ${t.masterName} ${SENTINEL_FAILOVER_TIMEOUT_MS}`,
      `sentinel parallel-syncs ${t.masterName} 1`,
    ]);
    await d.spawn(sentinelLabel(s.port), 'redis-sentinel', [config]);
  }
  const fieldIs = (reply: string, field: string, value: string): boolean => new RegExp(`(^|\n)${field}\n${value}(\n|$)`).test(reply);
  for (const s of t.sentinels) {
    await d.waitReady(
      `sentinel on port ${s.port}`,
      probes.redisReply(s.port, ['SENTINEL', 'MASTER', t.masterName], (r) =>
        fieldIs(r, 'flags', 'master') && fieldIs(r, 'num-slaves', String(replicas.length)) && fieldIs(r, 'num-other-sentinels', String(t.sentinels.length - 1)),
      ),
    );
  }
}

/** guacd's version from `guacd -v` ("… version 1.3.0"), as [major, minor]; [0, 0] when unknown. */
async function guacdVersion(bin: string): Promise<[number, number]> {
  const { stdout } = await runWithInput(bin, ['-v'], '').catch(() => ({ stdout: Buffer.alloc(0) }));
  const m = /version (\d+)\.(\d+)/.exec(stdout.toString('utf8'));
  return m === null ? [0, 0] : [Number(m[1]), Number(m[2])];
}

async function launchGuacd(d: DaemonSpawner, port: number, bin: string, isolated: boolean): Promise<void> {
  await d.requireFreePort(port);
  const [major, minor] = await guacdVersion(bin);
  const level = major > 1 || (major === 1 && minor >= 5) ? GUACD_LOG_LEVEL.current : GUACD_LOG_LEVEL.hangProne;
  const args = ['-f', '-b', '127.0.0.1', '-l', String(port), '-L', level];
  if (isolated) {
    // unshare and sh exec in place: the pid tracked is guacd's.
    await d.spawn('guacd', 'unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `mount -t tmpfs tmpfs /tmp && exec ${bin} ${args.join(' ')}`]);
  } else {
    await d.spawn('guacd', bin, args);
  }
  await d.waitReady(`guacd on port ${port}`, probes.guacdArgs(port));
}

async function launchSshd(d: DaemonSpawner, dir: string, port: number, username: string): Promise<void> {
  await d.requireFreePort(port);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege-separation directory
  const hostKey = sshHostKeyFile(dir);
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'UsePAM yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      // guacd 1.3.0 (libssh2 1.10) signs RSA keys with SHA-1 only, which OpenSSH ≥ 8.8 refuses by
      // default; without this, key logins through guacd fail with "Aborted. See logs.".
      'PubkeyAcceptedAlgorithms +ssh-rsa',
      'AuthorizedKeysFile .ssh/authorized_keys',
      'PermitRootLogin no',
      `AllowUsers ${username}`,
      // Benchmarks open many sessions at once; the default 10:30:100 drops them.
      'MaxStartups 200:30:400',
      'AcceptEnv TZ',
      // guacd's SFTP (the file airlock delivers into the machine through it).
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await d.spawn('sshd', '/usr/sbin/sshd', ['-D', '-e', '-f', config]); // sshd needs its absolute path to re-exec
  await d.waitReady(`sshd on port ${port}`, probes.sshBanner(port));
}

const sshHostKeyFile = (dir: string): string => path.join(dir, 'ssh_host_ed25519_key');

/**
 * The sshd's host key, made once per state directory (ed25519 only: guacd then has one key to
 * check). Returns the public key without its comment, as a machine pins it.
 */
async function ensureSshHostKey(dir: string): Promise<string> {
  const file = sshHostKeyFile(dir);
  if (!(await readFile(file).then(() => true, () => false))) {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'airlock-dev-host', '-f', file]);
  }
  const [type = '', base64 = ''] = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/);
  return `${type} ${base64}`;
}

async function launchVnc(
  d: DaemonSpawner,
  dir: string,
  port: number,
  display: number,
  password: string,
  owner: { uid: number; gid: number; home: string; name: string },
): Promise<void> {
  await d.requireFreePort(port);
  await removeStaleDisplayFiles(display);
  const passwordFile = path.join(dir, 'passwd');
  const { stdout } = await runWithInput('vncpasswd', ['-f'], `${password}\n`);
  // VNC authentication uses an 8-byte obfuscated password: anything else would lock every session out.
  if (stdout.length !== 8) throw new Error(`vncpasswd -f wrote ${stdout.length} bytes, expected 8`);
  await writeFile(passwordFile, stdout, { mode: 0o600 });
  await d.spawn('Xvnc', 'Xvnc', [
    `:${display}`,
    '-rfbport', String(port),
    '-interface', '127.0.0.1',
    '-SecurityTypes', 'VncAuth',
    '-PasswordFile', passwordFile,
    '-geometry', SCREEN.geometry,
    '-depth', SCREEN.depth,
    '-nolisten', 'tcp',
  ]);
  await d.waitReady(`Xvnc :${display} on port ${port}`, probes.rfbBanner(port));
  // The terminal runs as an unprivileged user: the VNC password should not be a root shell.
  await d.spawn('xterm', 'xterm', ['-geometry', '120x40+0+0'], {
    uid: owner.uid,
    gid: owner.gid,
    cwd: owner.home,
    env: { ...DAEMON_ENV, DISPLAY: `:${display}`, HOME: owner.home, USER: owner.name, LOGNAME: owner.name, SHELL: '/bin/bash' },
  });
}

async function launchRdp(d: DaemonSpawner, dir: string, port: number, sesman: { port: number; bindMount: boolean }): Promise<void> {
  await d.requireFreePort(port);
  await d.requireFreePort(sesman.port);
  await mkdir(XRDP_SOCKET_DIR, { recursive: true });
  await chmod(XRDP_SOCKET_DIR, 0o3777); // LAB.md: sessions of every user create sockets here
  const xrdpIni = path.join(dir, 'xrdp.ini');
  const sesmanIni = path.join(dir, 'sesman.ini');
  const xrdpOwnLog = d.ownLogFile('xrdp');
  const sesmanOwnLog = d.ownLogFile('xrdp-sesman');
  await writeFile(
    xrdpIni,
    iniSet(await readFile('/etc/xrdp/xrdp.ini', 'utf8'), {
      Globals: { port: `tcp://127.0.0.1:${port}` },
      Logging: { LogFile: xrdpOwnLog, EnableSyslog: 'false' },
    }),
    { mode: 0o600 },
  );
  await writeFile(
    sesmanIni,
    iniSet(await readFile(SYSTEM_SESMAN_INI, 'utf8'), {
      Globals: { ListenAddress: '127.0.0.1', ListenPort: String(sesman.port) },
      Security: { AllowRootLogin: 'false' },
      Logging: { LogFile: sesmanOwnLog, EnableSyslog: 'false' },
    }),
    { mode: 0o600 },
  );
  await d.spawn('xrdp-sesman', 'xrdp-sesman', ['-n', '-c', sesmanIni]);
  await d.waitReady(`xrdp-sesman on port ${sesman.port}`, anyOf(probes.tcpAccept(sesman.port), probes.tcpAccept(sesman.port, '::1')));
  if (sesman.bindMount) {
    // See sesmanPortFor: `exec` keeps xrdp's pid the one we track.
    await d.spawn('xrdp', 'unshare', [
      '--mount', '--propagation', 'private', '--',
      'sh', '-c', 'mount --bind "$0" "$1" && exec xrdp -n -c "$2"', sesmanIni, SYSTEM_SESMAN_INI, xrdpIni,
    ]);
  } else {
    await d.spawn('xrdp', 'xrdp', ['-n', '-c', xrdpIni]);
  }
  await d.waitReady(`xrdp on port ${port}`, probes.tcpAccept(port));
}

/** What the generated database finds: the EICAR test file (whole, by MD5, and as a string anywhere) and our own marker. */
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const CLAMD_TEST_MARKER = 'AIRLOCK-TEST-MALWARE-MARKER-7f3c9b2e';
const CLAMD_SIGNATURES = ['Airlock.Test.Eicar', 'Airlock.Test.EicarString', 'Airlock.Test.Marker'] as const;
/** Files of up to this size are scanned whole (the bench sends 100 MB): clamd's defaults are 25–100 MB. */
const CLAMD_MAX_SCAN = '400M';

/**
 * clamd with only our small database (ready in about a second: the official one takes ~20 s and
 * ~1 GB, and cannot be fetched here). `.hdb` is MD5:size:name; `.ndb` name:target:offset:hex.
 */
async function launchClamd(d: DaemonSpawner, dir: string, socket: string): Promise<void> {
  const db = path.join(dir, 'db');
  const tmp = path.join(dir, 'tmp');
  await mkdir(db, { recursive: true, mode: 0o700 });
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  const { createHash } = await import('node:crypto');
  const hex = (text: string): string => Buffer.from(text, 'latin1').toString('hex');
  await writeFile(path.join(db, 'airlock-test.hdb'), `${createHash('md5').update(EICAR).digest('hex')}:${EICAR.length}:${CLAMD_SIGNATURES[0]}\n`);
  await writeFile(path.join(db, 'airlock-test.ndb'), `${CLAMD_SIGNATURES[1]}:0:*:${hex(EICAR)}\n${CLAMD_SIGNATURES[2]}:0:*:${hex(CLAMD_TEST_MARKER)}\n`);
  const config = path.join(dir, 'clamd.conf');
  await writeFile(
    config,
    [
      'Foreground yes',
      `LocalSocket ${socket}`,
      'LocalSocketMode 600',
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${tmp}`,
      `PidFile ${path.join(dir, 'clamd.pid')}`,
      `LogFile ${d.ownLogFile('clamd')}`,
      'LogTime yes',
      `StreamMaxLength ${CLAMD_MAX_SCAN}`,
      `MaxScanSize ${CLAMD_MAX_SCAN}`,
      `MaxFileSize ${CLAMD_MAX_SCAN}`,
      // Two cores shared with everything else: a few scans at once is plenty for tests.
      'MaxThreads 4',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await rm(socket, { force: true });
  await d.spawn('clamd', 'clamd', ['-c', config]);
  await d.waitReady(`clamd on ${socket}`, () => clamdPing(socket));
}

/** zPING over the socket: clamd answers PONG once its database is loaded. */
function clamdPing(socket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let reply = '';
    conn.setTimeout(1_000, () => conn.destroy(new Error('no answer')));
    conn.on('data', (data: Buffer) => {
      reply += data.toString('latin1');
      if (reply.includes('\0')) conn.end();
    });
    conn.on('error', reject);
    conn.on('close', () => (reply.startsWith('PONG') ? resolve() : reject(new Error(`clamd answered ${JSON.stringify(reply)}`))));
    conn.on('connect', () => conn.write('zPING\0'));
  });
}

async function launchTelnet(d: DaemonSpawner, dir: string, port: number): Promise<void> {
  await d.requireFreePort(port);
  const config = path.join(dir, 'inetd.conf');
  await writeFile(config, `127.0.0.1:${port} stream tcp nowait root /usr/sbin/telnetd telnetd\n`, { mode: 0o600 });
  // -d keeps inetd in the foreground (and logs each connection to our log file).
  await d.spawn('inetd', 'inetd', ['-d', config]);
  await d.waitReady(`telnetd on port ${port}`, probes.telnetIac(port));
}

// ─── 3. Stopping: whole families, not just the daemons ─────────────────────────────────────

function rememberFamily(state: ServiceState): ReturnType<typeof processFamily> {
  const family = processFamily(state.tracked.values());
  for (const proc of family) {
    state.tracked.set(proc.pid, { pid: proc.pid, startTime: proc.startTime });
    state.history.add(proc.pid);
  }
  return family;
}

async function stopFamily(label: string, state: ServiceState, layout: Layout): Promise<void> {
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const family = rememberFamily(state);
    if (family.length === 0) break;
    for (const daemon of state.daemons) if (daemon.exit === undefined) signal(-daemon.ref.pid, 'SIGTERM');
    for (const proc of family) signal(proc.pid, 'SIGTERM');
    const stubborn = await waitForExit(family, KILL_GRACE_MS);
    for (const proc of stubborn) signal(proc.pid, 'SIGKILL');
    await waitForExit(stubborn, KILL_GRACE_MS);
  }
  await Promise.all(state.daemons.map((d) => d.exited));
  await Promise.all(state.daemons.map((d) => rm(path.join(layout.pids, `${d.label}.pid`), { force: true })));
  state.daemons = [];
  const survivors = processFamily(state.tracked.values());
  if (survivors.length > 0) throw new Error(`${label}: processes survived SIGKILL: ${survivors.map((p) => p.pid).join(', ')}`);
  state.tracked.clear();
}

/** A previous run with this stateDir died without stopping its daemons: their pid files remain. */
async function killLeftoversFromCrashedRun(layout: Layout, log: (line: string) => void): Promise<void> {
  for (const file of await readdir(layout.pids)) {
    const pidFile = path.join(layout.pids, file);
    const [pid, startTime] = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number);
    if (pid !== undefined && startTime !== undefined && isAlive(pid, startTime)) {
      log(`stopping ${file.replace(/\.pid$/, '')} (pid ${pid}) left over from a previous run`);
      const leftover: ServiceState = {
        daemons: [],
        tracked: new Map([[pid, { pid, startTime }]]),
        history: new Set(),
        logFiles: new Set(),
      };
      await stopFamily(file, leftover, layout).catch((error: Error) => log(error.message));
    }
    await rm(pidFile, { force: true });
  }
}

// ─── Helpers ────────────────────────────────────────────────────────────────────────────────

/**
 * The first display number with no live X server. A lock file whose pid is dead (a crashed
 * run) is removed with its socket, but only for the display we take.
 */
async function claimFreeDisplay(): Promise<number> {
  await mkdir(X11_SOCKET_DIR, { recursive: true });
  await chmod(X11_SOCKET_DIR, 0o1777);
  for (let display = VNC_DISPLAYS.first; display <= VNC_DISPLAYS.last; display++) {
    if (await displayInUse(display)) continue;
    await removeStaleDisplayFiles(display);
    return display;
  }
  throw new Error(`vnc: no free X display between :${VNC_DISPLAYS.first} and :${VNC_DISPLAYS.last}`);
}

async function displayInUse(display: number): Promise<boolean> {
  const lock = await readFile(`/tmp/.X${display}-lock`, 'utf8').catch(() => undefined);
  if (lock !== undefined && isAlive(Number(lock.trim()))) return true;
  return new Promise((resolve) => {
    const socket = net.connect(`${X11_SOCKET_DIR}/X${display}`);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function removeStaleDisplayFiles(display: number): Promise<void> {
  if (await displayInUse(display)) return;
  await rm(`/tmp/.X${display}-lock`, { force: true });
  await rm(`${X11_SOCKET_DIR}/X${display}`, { force: true });
}

function anyOf(...candidates: Probe[]): Probe {
  return () => Promise.any(candidates.map((probe) => probe())).then(() => undefined);
}

/** Sets keys inside [sections] of an ini file, replacing existing (even commented-out) lines. */
function iniSet(text: string, changes: Record<string, Record<string, string>>): string {
  const lines = text.split('\n');
  for (const [section, values] of Object.entries(changes)) {
    const start = lines.findIndex((line) => line.trim() === `[${section}]`);
    if (start < 0) throw new Error(`ini section [${section}] not found`);
    let end = lines.findIndex((line, i) => i > start && line.trim().startsWith('['));
    if (end < 0) end = lines.length;
    for (const [key, value] of Object.entries(values)) {
      const inSection = (pattern: RegExp): number => lines.findIndex((line, i) => i > start && i < end && pattern.test(line));
      const active = inSection(new RegExp(`^${key}\\s*=`));
      const existing = active >= 0 ? active : inSection(new RegExp(`^[#;]\\s*${key}\\s*=`));
      if (existing >= 0) {
        lines[existing] = `${key}=${value}`;
      } else {
        lines.splice(start + 1, 0, `${key}=${value}`);
        end++;
      }
    }
  }
  return lines.join('\n');
}

async function logTails(files: Iterable<string>): Promise<string> {
  const tails: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (!text.trim()) continue;
    const tail = text.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
    tails.push(`--- ${file} (last ${LOG_TAIL_LINES} lines) ---\n${tail}`);
  }
  return tails.join('\n');
}

/**
 * Runs a command with `input` on stdin and collects all of its stdout. Resolves on 'close', not
 * 'exit': a process may exit before its output has been read, and the VNC password file was
 * sometimes written empty that way.
 */
export function runWithInput(command: string, args: string[], input: string): Promise<{ stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ stdout: Buffer.concat(chunks) }) : reject(new Error(`${command} exited with ${code}`))));
    child.stdin.end(input);
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (inner && typeof inner === 'object') deepFreeze(inner as object);
  return Object.freeze(value);
}
