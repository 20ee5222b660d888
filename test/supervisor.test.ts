// The dev/test service supervisor against the real daemons: every service answers its protocol,
// the generated accounts log in through guacd, services restart on their port (Redis keeps its
// AOF data), readiness failures are reported and cleaned up, and stop() leaves no process behind.
import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { encodeInstruction, GuacParser, guacHandshake, type GuacHandshakeResult } from '../dev/guac-probe.ts';
import { probes } from '../dev/probes.ts';
import { runWithInput, startServices, type RunningServices, type Supervisor } from '../dev/supervisor.ts';
import { processFamily, type ProcessInfo } from '../dev/processes.ts';

/** Its own account names, so a supervisor running beside the test (dev server, global setup) keeps its passwords. */
const USER_PREFIX = 'airlock-suptest';
const TARGET_USERS = ['ssh', 'rdp', 'tel', 'vnc'].map((suffix) => `${USER_PREFIX}-${suffix}`);
/** Generous: a login through guacd takes ~1 s here, but CI machines are slower and busy. */
const LOGIN_TIMEOUT_MS = 20_000;
const POLL_MS = 100;

// ─── helpers ────────────────────────────────────────────────────────────────────────────────

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = LOGIN_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(POLL_MS);
  }
}

interface ProcEntry {
  pid: number;
  ppid: number;
  uid: number;
  state: string;
  cwd: string;
  args: string;
}

async function processTable(): Promise<ProcEntry[]> {
  const entries: ProcEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      entries.push({
        pid: Number(name),
        ppid: Number(fields[1]),
        state: fields[0] ?? '?',
        uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
        cwd: await readlink(`/proc/${name}/cwd`).catch(() => ''),
        args: readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' '),
      });
    } catch {
      // The process exited while we looked.
    }
  }
  return entries;
}

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'; // a zombie has exited already
  } catch {
    return false;
  }
}

async function uidsOf(users: string[]): Promise<Set<number>> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  return new Set(
    passwd
      .split('\n')
      .map((line) => line.split(':'))
      .filter((fields) => users.includes(fields[0] ?? ''))
      .map((fields) => Number(fields[2])),
  );
}

/**
 * Live processes that the supervisor or its daemons started, found independently of the
 * supervisor's own bookkeeping: working directory or command line in the state directory, owned
 * by a test account, or descended from any of those or from the given pids.
 */
async function supervisorFootprint(stateDir: string, extraRoots: number[] = []): Promise<ProcEntry[]> {
  const uids = await uidsOf(TARGET_USERS);
  const table = (await processTable()).filter((p) => p.state !== 'Z');
  const found = new Map<number, ProcEntry>();
  for (const p of table) {
    if (p.cwd.startsWith(stateDir) || p.args.includes(stateDir) || uids.has(p.uid) || extraRoots.includes(p.pid)) found.set(p.pid, p);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of table) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.set(p.pid, p);
        grew = true;
      }
    }
  }
  return [...found.values()];
}

/** One Redis command over raw RESP; returns the raw reply. */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      const complete = reply.startsWith('$') && !reply.startsWith('$-1') ? reply.split('\r\n').length >= 3 : reply.endsWith('\r\n');
      if (complete) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', reject);
  });
}

/** Collects guacd's instructions after `ready`, answering every `sync` as a real client must. */
function follow(conn: GuacHandshakeResult): { seen: string[][]; close: () => Promise<void> } {
  const seen: string[][] = [];
  const handle = (instruction: string[]): void => {
    seen.push(instruction);
    if (instruction[0] === 'sync') conn.socket.write(encodeInstruction('sync', instruction[1] ?? ''));
  };
  conn.pending.forEach(handle);
  conn.socket.on('data', (chunk: string) => conn.parser.push(chunk).forEach(handle));
  conn.socket.on('error', () => {}); // guacd may drop the connection once the target refuses us
  conn.socket.resume();
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      if (conn.socket.destroyed) return resolve();
      conn.socket.once('close', () => resolve());
      conn.socket.end(encodeInstruction('disconnect'));
    });
  return { seen, close };
}

const errorsIn = (seen: string[][]): string[] => seen.filter((i) => i[0] === 'error').map((i) => i.slice(1).join(' '));

/**
 * Logs in to a terminal target through guacd and waits until the shell prompt of `username`
 * appears in the session's typescript (guacd's text log of the terminal): only a successful
 * login gets that far, a wrong password just leaves a "Password:" prompt on screen.
 */
async function terminalLogin(
  services: RunningServices,
  protocol: 'ssh' | 'telnet',
  params: Record<string, string>,
  username: string,
): Promise<string> {
  const typescriptDir = await mkdtemp(path.join(os.tmpdir(), 'airlock-suptest-typescript-'));
  const typescript = path.join(typescriptDir, 'session');
  try {
    const conn = await guacHandshake({
      host: services.guacd!.host,
      port: services.guacd!.port,
      protocol,
      params: { ...params, username, 'typescript-path': typescriptDir, 'typescript-name': 'session' },
      width: 1024,
      height: 768,
      dpi: 96,
      timeoutMs: LOGIN_TIMEOUT_MS,
    });
    const session = follow(conn);
    const prompt = `${username}@`;
    await waitFor(`${protocol} prompt of ${username}`, async () => {
      if (errorsIn(session.seen).length > 0) return true;
      return (await readFile(typescript, 'utf8').catch(() => '')).includes(prompt);
    });
    await session.close();
    expect(errorsIn(session.seen)).toEqual([]);
    return await readFile(typescript, 'utf8');
  } finally {
    await rm(typescriptDir, { recursive: true, force: true });
  }
}

// ─── the full stack ─────────────────────────────────────────────────────────────────────────

describe('dev service supervisor', () => {
  let stateDir: string;
  let supervisor: Supervisor | undefined;
  let services: RunningServices;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'airlock-suptest-'));
    expect(await supervisorFootprint(stateDir)).toEqual([]);
    supervisor = await startServices({ stateDir, userPrefix: USER_PREFIX });
    services = supervisor.services;
  });

  afterAll(async () => {
    await supervisor?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  test('every service answers its own protocol on its port', async () => {
    await probes.redisPing(services.redis!.port)();
    await probes.guacdArgs(services.guacd!.port)();
    await probes.sshBanner(services.sshd!.port)();
    await probes.rfbBanner(services.vnc!.port)();
    await probes.telnetIac(services.telnet!.port)();
    await probes.tcpAccept(services.rdp!.port)();
    const ports = [services.redis, services.guacd, services.sshd, services.vnc, services.rdp, services.telnet].map((s) => s!.port);
    expect(new Set(ports).size).toBe(ports.length);
  });

  test('credentials are generated, not fixed', () => {
    const ssh = services.sshd!.account;
    expect(ssh.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(services.rdp!.account.password).not.toBe(ssh.password);
    expect(services.telnet!.account.password).not.toBe(ssh.password);
    expect(services.vnc!.password).toHaveLength(8);
    expect(ssh.privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
  });

  test('the generated SSH password logs in through guacd', async () => {
    const { username, password } = services.sshd!.account;
    const text = await terminalLogin(services, 'ssh', { hostname: '127.0.0.1', port: String(services.sshd!.port), password }, username);
    expect(text).toContain(`${username}@`);
  });

  test('the generated SSH private key logs in through guacd', async () => {
    const { username, privateKey } = services.sshd!.account;
    const params = { hostname: '127.0.0.1', port: String(services.sshd!.port), 'private-key': privateKey! };
    await terminalLogin(services, 'ssh', params, username);
    const sshdLog = await readFile(path.join(stateDir, 'logs', 'sshd.log'), 'utf8');
    expect(sshdLog).toContain(`Accepted publickey for ${username}`);
  });

  test('the generated telnet account logs in through guacd', async () => {
    const { username, password } = services.telnet!.account;
    await terminalLogin(services, 'telnet', { hostname: '127.0.0.1', port: String(services.telnet!.port), password }, username);
  });

  test('guacd accepts the generated VNC password and refuses a wrong one', async () => {
    const vnc = (password: string) =>
      guacHandshake({
        host: services.guacd!.host,
        port: services.guacd!.port,
        protocol: 'vnc',
        params: { hostname: '127.0.0.1', port: String(services.vnc!.port), password },
        width: 1024,
        height: 768,
        dpi: 96,
        timeoutMs: LOGIN_TIMEOUT_MS,
      }).then(follow);
    // After VNC authentication guacd draws the remote screen (img … sync); a refusal is an `error`.
    const good = await vnc(services.vnc!.password);
    await waitFor('first VNC frame', () => good.seen.some((i) => i[0] === 'sync' || i[0] === 'error'));
    await good.close();
    expect(errorsIn(good.seen)).toEqual([]);

    const bad = await vnc(services.vnc!.password === 'wrongpwd' ? 'wrongpw2' : 'wrongpwd');
    await waitFor('VNC refusal', () => bad.seen.some((i) => i[0] === 'sync' || i[0] === 'error'));
    await bad.close();
    expect(errorsIn(bad.seen)).not.toEqual([]);
  });

  test('the generated RDP account starts an xrdp session through guacd', async () => {
    const { username, password } = services.rdp!.account;
    const conn = await guacHandshake({
      host: services.guacd!.host,
      port: services.guacd!.port,
      protocol: 'rdp',
      params: { hostname: '127.0.0.1', port: String(services.rdp!.port), username, password, security: 'any', 'ignore-cert': 'true' },
      width: 1024,
      height: 768,
      dpi: 96,
      timeoutMs: LOGIN_TIMEOUT_MS,
    });
    const session = follow(conn);
    // A wrong password still draws xrdp's login dialog, so the proof is sesman starting a session.
    const sesmanLog = path.join(stateDir, 'logs', 'xrdp-sesman.own.log');
    await waitFor('xrdp-sesman session', async () =>
      (await readFile(sesmanLog, 'utf8').catch(() => '')).includes(`Session started successfully for user ${username}`),
    );
    await session.close();
    expect(errorsIn(session.seen)).toEqual([]);
    // The X session outlives the RDP connection (KillDisconnected=false): stop() must reap it.
  });

  test('Redis restarts on the same port and keeps its data (AOF)', async () => {
    const port = services.redis!.port;
    expect(await redisCommand(port, 'SET', 'suptest:key', 'survives')).toBe('+OK\r\n');
    await supervisor!.stopService('redis');
    await expect(probes.redisPing(port)()).rejects.toThrow();
    await supervisor!.startService('redis');
    expect(supervisor!.services.redis!.port).toBe(port);
    expect(await redisCommand(port, 'GET', 'suptest:key')).toBe('$8\r\nsurvives\r\n');
  });

  test('sshd restarts on the same port with the same account', async () => {
    const port = services.sshd!.port;
    await supervisor!.stopService('sshd');
    await expect(probes.sshBanner(port)()).rejects.toThrow();
    await supervisor!.startService('sshd');
    await probes.sshBanner(port)();
    const { username, password } = services.sshd!.account;
    await terminalLogin(services, 'ssh', { hostname: '127.0.0.1', port: String(port), password }, username);
  });

  test('stop() leaves no process behind', async () => {
    const pids = supervisor!.pids();
    // Daemons plus what they spawned: the VNC xterm and the RDP session (sesman child, Xorg, xterm).
    expect(pids.length).toBeGreaterThanOrEqual(10);
    expect((await supervisorFootprint(stateDir, pids)).length).toBeGreaterThan(0);
    await supervisor!.stop();
    expect(pids.filter(isRunning)).toEqual([]);
    expect(await supervisorFootprint(stateDir, pids)).toEqual([]);
    await supervisor!.stop(); // idempotent
    await expect(supervisor!.startService('redis')).rejects.toThrow(/stopped/);
  });
});

// ─── failures ───────────────────────────────────────────────────────────────────────────────

describe('dev service supervisor readiness failures', () => {
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'airlock-suptest-fail-'));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  test('a configured port held by another listener fails naming the service and stops the rest', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const start = startServices({ stateDir, services: ['redis', 'guacd'], ports: { guacd: taken }, userPrefix: USER_PREFIX });
      await expect(start).rejects.toThrow(new RegExp(`^guacd: port ${taken} on 127.0.0.1 is already in use`));
      expect(await supervisorFootprint(stateDir)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  test('a daemon that does not answer in time fails naming the service and is stopped', async () => {
    // 1 ms from the start of the launch: spawning guacd alone takes longer, so time is up.
    const start = startServices({ stateDir, services: ['guacd'], readyTimeoutMs: 1, userPrefix: USER_PREFIX });
    await expect(start).rejects.toThrow(/^guacd: guacd on port \d+ not ready within 1 ms/);
    expect(await supervisorFootprint(stateDir)).toEqual([]);
  });
});

// ─── the wire format (pure) ─────────────────────────────────────────────────────────────────

describe('collecting a helper command’s output (the VNC password file)', () => {
  test('all of stdout is collected, however fast the process exits (1000 vncpasswd runs at once)', async () => {
    // Resolving on 'exit' lost output not yet read (a quarter of 1000 concurrent runs here): the VNC password file was sometimes empty.
    const lengths = await Promise.all(Array.from({ length: 1000 }, () => runWithInput('vncpasswd', ['-f'], 'secret-pw\n').then((r) => r.stdout.length)));
    expect(lengths.filter((n) => n !== 8)).toEqual([]);
  });
});

describe('the family of a service’s processes (what its stop kills)', () => {
  const proc = (pid: number, ppid: number, pgid: number, sid: number, startTime: number): ProcessInfo => ({ pid, ppid, pgid, sid, startTime, state: 'S' });

  test('a dead root’s reused pid leads another program’s session: that program and its children are not family', () => {
    // Root 100 (started at tick 50) is gone; pid 100 now belongs to another run's xterm, which
    // leads its own session, with a shell under it.
    const table = [proc(100, 1, 100, 100, 900), proc(101, 100, 100, 100, 905)];
    expect(processFamily([{ pid: 100, startTime: 50 }], table)).toEqual([]);
  });

  test('orphans of a dead root still count by its group and session, and live descendants by parent', () => {
    const table = [
      proc(201, 1, 200, 200, 60), // re-parented to init, still in the dead root's session
      proc(202, 201, 202, 200, 70), // its child, leading a group of its own
      proc(203, 1, 202, 202, 80), // an orphan of that group
      proc(300, 1, 300, 300, 10), // unrelated, older
    ];
    expect(processFamily([{ pid: 200, startTime: 50 }], table).map((p) => p.pid).sort()).toEqual([201, 202, 203]);
  });
});

describe('Guacamole wire format', () => {
  test('lengths count code points, not UTF-16 units', () => {
    expect(encodeInstruction('key', 'é😀', '1')).toBe('3.key,2.é😀,1.1;');
  });

  test('the parser reassembles instructions split anywhere', () => {
    const wire = encodeInstruction('args', 'VERSION_1_3_0', 'hostname', 'p😀rt') + encodeInstruction('ready', '$abc');
    // Cut at every code point (a socket with setEncoding('utf8') never splits one).
    const codePoints = [...wire];
    for (let cut = 1; cut < codePoints.length; cut++) {
      const parser = new GuacParser();
      const got = [...parser.push(codePoints.slice(0, cut).join('')), ...parser.push(codePoints.slice(cut).join(''))];
      expect(got).toEqual([
        ['args', 'VERSION_1_3_0', 'hostname', 'p😀rt'],
        ['ready', '$abc'],
      ]);
    }
  });

  test('the parser rejects a garbled stream', () => {
    expect(() => new GuacParser().push('4.args,x.y;')).toThrow(/malformed/);
  });
});
