// `airlock doctor` against the test services, as an operator runs it: a production
// configuration that passes, one with a wrong guacd port and an unwritable store that fails
// (exit 2, saying what is wrong), a broken configuration, and a real Sentinel asked about Redis.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestIdp, type TestIdp } from './support/test-idp.ts';
import { sharedGuacd, sharedRedisUrl, testServices } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import { freePort } from '../dev/probes.ts';
import { redactRedisUrl } from '../server/app/doctor.ts';

const CLI = path.resolve(import.meta.dirname, '../scripts/airlock.ts');
const PUBLIC_URL = 'https://airlock.example.test';
let dir: string;
let idp: TestIdp;
let env: Record<string, string>;

interface Run {
  code: number;
  stdout: string;
  /** The report's line for a subject: "ok  ", "WARN" or "FAIL", then the message. */
  line(subject: string): string;
}

async function doctor(overrides: Record<string, string | undefined> = {}, args: string[] = []): Promise<Run> {
  const merged = Object.fromEntries(Object.entries({ ...env, ...overrides }).filter((e): e is [string, string] => e[1] !== undefined));
  // Asynchronous on purpose: the test IdP answers the doctor's discovery from this process.
  const { code, stdout } = await promisify(execFile)(process.execPath, [CLI, 'doctor', ...args], { env: merged, timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '' }),
  );
  return {
    code,
    stdout,
    line(subject) {
      const found = stdout.split('\n').find((l) => new RegExp(`^(ok  |WARN|FAIL)  ${subject.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +`).test(l));
      if (found === undefined) throw new Error(`no "${subject}" line in:\n${stdout}`);
      return found;
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-doctor-'));
  idp = await startTestIdp({ clients: [{ clientId: 'airlock', redirectUris: [`${PUBLIC_URL}/auth/callback/staff`] }], accounts: [], password: 'unused-password' });
  const keyFile = path.join(dir, 'signing-key.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  mkdirSync(path.join(dir, 'spool'), { mode: 0o700 });
  mkdirSync(path.join(dir, 'store'), { mode: 0o700 });
  const guacd = sharedGuacd();
  env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    AIRLOCK_PUBLIC_URL: PUBLIC_URL,
    AIRLOCK_TRUST_PROXY: 'true',
    AIRLOCK_REDIS_URL: sharedRedisUrl(),
    AIRLOCK_GUACD: `${guacd.host}:${guacd.port}`,
    AIRLOCK_RECORDING_SPOOL: path.join(dir, 'spool'),
    AIRLOCK_RECORDING_STORE: path.join(dir, 'store'),
    AIRLOCK_RECORDING_MIN_FREE_MB: '1',
    AIRLOCK_SIGNING_KEY_FILE: keyFile,
    AIRLOCK_VAULT_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    AIRLOCK_SESSION_SECRET: randomBytes(32).toString('base64url'),
    AIRLOCK_IDENTITY_FILE: idp.identityFile(dir, { providerId: 'staff', clientId: 'airlock', groups: { 'plant-a-managers': { roles: ['approver'], sites: ['site-a'] } } }),
  };
});

afterAll(async () => {
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('airlock doctor', () => {
  test('a sound production configuration passes: every check says ok and what it found, exit 0', async () => {
    const run = await doctor();
    expect(run.code).toBe(0);
    expect(run.line('config')).toMatch(/^ok {4}config +mode standard, NODE_ENV production; public URL https:\/\/airlock\.example\.test$/);
    expect(run.line('idp staff')).toMatch(new RegExp(`^ok .*${idp.issuer.replace(/[.:/]/g, '\\$&')} discovered in \\d+ ms: issuer matches, 1 signing key\\(s\\)`));
    expect(run.line('clock vs idp staff')).toMatch(/^ok .*this host's clock is [+-]\d+\.\d s against staff's Date header$/);
    expect(run.line('redis')).toMatch(/^ok .*redis:\/\/127\.0\.0\.1:\d+: Redis \d+\.\d+\.\d+, master with 0 replica\(s\), PING \d+\.\d ms$/);
    expect(run.line('redis persistence')).toMatch(/^ok .*appendonly yes, appendfsync everysec$/);
    expect(run.line('redis memory')).toMatch(/^ok .*noeviction$/);
    expect(run.line('clock vs redis')).toMatch(/^ok .*against Redis TIME$/);
    // The test services' guacd is Debian's 1.3 unless CI's compatibility run swapped it.
    expect(run.line('guacd default')).toMatch(process.env['AIRLOCK_GUACD_BIN'] === undefined ? /^WARN .*offering VERSION_1_3_0: guacd 1\.4 or older, with known CVEs \(CVE-2023-30575.*run guacd ≥ 1\.6$/ : /^ok .*offering VERSION_1_5_0/);
    expect(run.line('spool')).toMatch(/^ok .*writable, [\d.]+ (MiB|GiB) free/);
    expect(run.line('store')).toMatch(/^ok .*writable, [\d.]+ (MiB|GiB) free/);
    expect(run.line('signing key')).toMatch(/^ok .*Ed25519, key id [0-9a-f]{16}/);
    expect(run.line('vault keys')).toMatch(/^ok .*1 key\(s\), new credentials sealed under "k1"$/);
    expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^doctor: \d+ checks, none failed/);
    // Nothing secret in what it prints.
    for (const secret of [env['AIRLOCK_VAULT_KEYS'], env['AIRLOCK_SESSION_SECRET'], idp.clients[0]?.client_secret]) expect(run.stdout).not.toContain(secret);
  });

  test('a wrong guacd port and an unwritable store fail, each saying what is wrong; exit 2', async () => {
    const blocker = path.join(dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const run = await doctor({ AIRLOCK_GUACD: `127.0.0.1:${await freePort()}`, AIRLOCK_RECORDING_STORE: path.join(blocker, 'store') });
    expect(run.code).toBe(2);
    expect(run.line('guacd default')).toMatch(/^FAIL .*127\.0\.0\.1:\d+ refuses or drops the connection: is guacd running there/);
    expect(run.line('store')).toMatch(new RegExp(`^FAIL .*${path.join(blocker, 'store').replace(/[.:/-]/g, '\\$&')}: .*not-a-directory is not a directory$`));
    // The rest is still checked and still fine.
    expect(run.line('redis')).toMatch(/^ok /);
    expect(run.line('spool')).toMatch(/^ok /);
    expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^doctor: 2 of \d+ checks FAILED/);
  });

  test('an unreachable IdP, Redis without persistence and a spool disk below the threshold fail', async () => {
    // A private Redis with appendonly off (the shared one must keep its AOF).
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    try {
      await waitFor(() => canConnect(port), { timeoutMs: 10_000, what: 'the private Redis' });
      const idpFile = path.join(dir, 'identity-gone.json');
      writeFileSync(idpFile, JSON.stringify({ providers: [{ id: 'gone', label: 'Gone', issuer: `http://127.0.0.1:${await freePort()}`, clientId: 'airlock', clientSecret: 's', allowInsecureRequests: true }] }));
      const run = await doctor({ AIRLOCK_REDIS_URL: `redis://127.0.0.1:${port}`, AIRLOCK_IDENTITY_FILE: idpFile, AIRLOCK_RECORDING_MIN_FREE_MB: '10000000' });
      expect(run.code).toBe(2);
      expect(run.line('idp gone')).toMatch(/^FAIL .*discovery of http:\/\/127\.0\.0\.1:\d+ failed/);
      expect(run.line('redis persistence')).toMatch(/^FAIL .*appendonly is off/);
      expect(run.line('spool')).toMatch(/^FAIL .*free, below AIRLOCK_RECORDING_MIN_FREE_MB .*sessions are refused$/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  test('a Redis URL is printed without its credentials', () => {
    expect(redactRedisUrl('rediss://airlock:s3cret@redis.plant.example:6380/2')).toBe('rediss://redis.plant.example:6380/2');
    expect(redactRedisUrl('redis://:s3cret@10.0.0.5:6379')).toBe('redis://10.0.0.5:6379');
  });

  test('a configuration the portal would refuse is reported as such, exit 2', async () => {
    const run = await doctor({ AIRLOCK_SIGNING_KEY_FILE: undefined });
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/^FAIL {2}config {2}AIRLOCK_SIGNING_KEY_FILE: required: .*\(the portal would not start\)$/m);
  });

  test('with --sentinels and --master it asks each sentinel for the master and its quorum', async () => {
    const redis = testServices().redis;
    if (redis === undefined) throw new Error('no Redis');
    const port = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    // Sentinel rewrites its file: a fresh one per run, beside the test's other files.
    writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor airlock 127.0.0.1 ${redis.port} 1\n`);
    const sentinel: ChildProcess = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
    try {
      await waitFor(() => canConnect(port), { timeoutMs: 10_000, what: 'the sentinel' });
      const run = await doctor({}, ['--sentinels', `127.0.0.1:${port}`, '--master', 'airlock']);
      expect(run.code).toBe(0);
      expect(run.line(`sentinel 127.0.0.1:${port}`)).toMatch(new RegExp(`^ok .*master "airlock" at 127\\.0\\.0\\.1:${redis.port}; OK 1 usable Sentinels`));
      const wrong = await doctor({}, ['--sentinels', `127.0.0.1:${port}`, '--master', 'elsewhere']);
      expect(wrong.code).toBe(2);
      expect(wrong.line(`sentinel 127.0.0.1:${port}`)).toMatch(/^FAIL .*does not monitor a master named "elsewhere"$/);
    } finally {
      sentinel.kill('SIGTERM');
      await new Promise((resolve) => sentinel.once('exit', resolve));
    }
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
