// Bad configuration stops the portal at once with one line naming the variable at fault.
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { loadConfig, ConfigError } from '../server/config.ts';

const MAIN = path.resolve(import.meta.dirname, '../server/app/main.ts');
const SECRET = 'x'.repeat(40);
const SIGNING_KEY_FILE = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-key-')), 'signing.pem');
writeFileSync(SIGNING_KEY_FILE, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));

function runMain(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { status: result.status, stderr: result.stderr };
}

function identityFile(content: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-config-')), 'identity.yaml');
  writeFileSync(file, content);
  return file;
}

const base = {
  AIRLOCK_VAULT_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  AIRLOCK_REDIS_URL: 'redis://127.0.0.1:1',
  AIRLOCK_PUBLIC_URL: 'https://airlock.example',
  AIRLOCK_SESSION_SECRET: SECRET,
  AIRLOCK_RECORDING_SPOOL: '/var/spool/airlock',
  AIRLOCK_RECORDING_STORE: '/var/lib/airlock/recordings',
  AIRLOCK_SIGNING_KEY_FILE: SIGNING_KEY_FILE,
};

describe('the portal process refuses bad configuration', () => {
  test('a provider without an issuer', () => {
    const file = identityFile('providers:\n  - id: staff\n    label: Staff\n    clientId: airlock\n');
    const { status, stderr } = runMain({ ...base, AIRLOCK_IDENTITY_FILE: file });
    expect(status).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^airlock: configuration error: AIRLOCK_IDENTITY_FILE .*providers\.0\.issuer/);
  });

  test('a malformed Redis URL', () => {
    const file = identityFile('providers:\n  - id: staff\n    label: Staff\n    issuer: https://idp.example\n    clientId: airlock\n');
    const { status, stderr } = runMain({ ...base, AIRLOCK_IDENTITY_FILE: file, AIRLOCK_REDIS_URL: 'http//nope' });
    expect(status).toBe(1);
    expect(stderr.trim()).toBe('airlock: configuration error: AIRLOCK_REDIS_URL: must be a redis:// or rediss:// URL with a host');
  });

  test('the development IdP with NODE_ENV=production', () => {
    const { status, stderr } = runMain({ ...base, NODE_ENV: 'production', AIRLOCK_MODE: 'demo' });
    expect(status).toBe(1);
    expect(stderr).toContain('AIRLOCK_MODE');
    expect(stderr).toContain('NODE_ENV=production');
  });
});

describe('loadConfig', () => {
  const ok = { ...base, AIRLOCK_IDENTITY_FILE: identityFile('providers:\n  - id: staff\n    label: Staff\n    issuer: https://idp.example\n    clientId: airlock\n') };

  test('accepts a complete production configuration and freezes it', () => {
    const config = loadConfig({ ...ok, NODE_ENV: 'production' });
    expect(config.session.secureCookies).toBe(true);
    expect(config.devIdp.enabled).toBe(false);
    expect(config.identity?.providers[0]?.issuer).toBe('https://idp.example');
    expect(Object.isFrozen(config)).toBe(true);
  });

  test.each([
    [{ AIRLOCK_SESSION_SECRET: 'short' }, 'AIRLOCK_SESSION_SECRET'],
    [{ AIRLOCK_PUBLIC_URL: 'http://airlock.example' }, 'AIRLOCK_PUBLIC_URL'],
    [{ AIRLOCK_PUBLIC_URL: 'http://airlock.example', AIRLOCK_INSECURE_HTTP_COOKIES: 'true', NODE_ENV: 'production' }, 'AIRLOCK_INSECURE_HTTP_COOKIES'],
    [{ AIRLOCK_GUACD: 'localhost' }, 'AIRLOCK_GUACD'],
    [{ AIRLOCK_PORT: 'eighty' }, 'AIRLOCK_PORT'],
    [{ AIRLOCK_MODE: 'yolo' }, 'AIRLOCK_MODE'],
    [{ AIRLOCK_VAULT_KEYS: 'k1:dG9vIHNob3J0' }, 'AIRLOCK_VAULT_KEYS'],
    [{ AIRLOCK_VAULT_KEYS: undefined }, 'AIRLOCK_VAULT_KEYS'],
  ])('rejects %o naming %s', (override, variable) => {
    expect(() => loadConfig({ ...ok, ...override })).toThrow(ConfigError);
    try {
      loadConfig({ ...ok, ...override });
    } catch (err) {
      expect((err as ConfigError).variable).toBe(variable);
    }
  });

  test('the Redis command timeout defaults to 3 s and must be between 100 ms and 60 s', () => {
    expect(loadConfig(ok).redisCommandTimeoutMs).toBe(3_000);
    expect(loadConfig({ ...ok, AIRLOCK_REDIS_COMMAND_TIMEOUT_MS: '750' }).redisCommandTimeoutMs).toBe(750);
    for (const bad of ['0', '99', '60001', 'soon', '1.5']) {
      expect(() => loadConfig({ ...ok, AIRLOCK_REDIS_COMMAND_TIMEOUT_MS: bad })).toThrow(expect.objectContaining({ variable: 'AIRLOCK_REDIS_COMMAND_TIMEOUT_MS' }));
    }
  });

  describe('Redis through Sentinel', () => {
    const sentinel = { ...ok, AIRLOCK_REDIS_URL: undefined, AIRLOCK_REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379,redis-3.plant:26380', AIRLOCK_REDIS_MASTER_NAME: 'airlock' };

    test('a URL is one Redis and never waits for replicas', () => {
      const config = loadConfig(ok);
      expect(config.redis).toEqual({ kind: 'standalone', url: 'redis://127.0.0.1:1' });
      expect(config.redisDurability.replicas).toBe(0);
    });

    test('sentinel addresses and a master name; one replica must confirm each durable write by default', () => {
      const config = loadConfig(sentinel);
      expect(config.redis).toEqual({
        kind: 'sentinel',
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '10.0.0.2', port: 26379 },
          { host: 'redis-3.plant', port: 26380 },
        ],
        masterName: 'airlock',
        username: undefined,
        password: undefined,
        sentinelPassword: undefined,
        tls: undefined,
      });
      expect(config.redisDurability).toEqual({ replicas: 1, timeoutMs: 1_000 });
      expect(Object.isFrozen(config.redis)).toBe(true);
    });

    test('passwords from files, TLS with a CA, WAIT settings', () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'airlock-redis-'));
      writeFileSync(path.join(dir, 'pw'), 'node-secret\n');
      writeFileSync(path.join(dir, 'spw'), 'sentinel-secret\n');
      writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
      const config = loadConfig({
        ...sentinel,
        AIRLOCK_REDIS_USERNAME: 'airlock',
        AIRLOCK_REDIS_PASSWORD_FILE: path.join(dir, 'pw'),
        AIRLOCK_REDIS_SENTINEL_PASSWORD_FILE: path.join(dir, 'spw'),
        AIRLOCK_REDIS_TLS: 'true',
        AIRLOCK_REDIS_CA_FILE: path.join(dir, 'ca.pem'),
        AIRLOCK_REDIS_WAIT_REPLICAS: '2',
        AIRLOCK_REDIS_WAIT_TIMEOUT_MS: '250',
      });
      expect(config.redis).toMatchObject({ username: 'airlock', password: 'node-secret', sentinelPassword: 'sentinel-secret', tls: { ca: expect.stringContaining('BEGIN CERTIFICATE') } });
      expect(config.redisDurability).toEqual({ replicas: 2, timeoutMs: 250 });
    });

    test.each([
      ['neither a URL nor sentinels', { ...ok, AIRLOCK_REDIS_URL: undefined }, 'AIRLOCK_REDIS_URL'],
      ['a URL and sentinels', { ...sentinel, AIRLOCK_REDIS_URL: 'redis://127.0.0.1:6379' }, 'AIRLOCK_REDIS_SENTINELS'],
      ['sentinels without a master name', { ...sentinel, AIRLOCK_REDIS_MASTER_NAME: undefined }, 'AIRLOCK_REDIS_MASTER_NAME'],
      ['a sentinel without a port', { ...sentinel, AIRLOCK_REDIS_SENTINELS: '10.0.0.1' }, 'AIRLOCK_REDIS_SENTINELS'],
      ['a master name with a space', { ...sentinel, AIRLOCK_REDIS_MASTER_NAME: 'bad name' }, 'AIRLOCK_REDIS_MASTER_NAME'],
      ['a master name with a URL', { ...ok, AIRLOCK_REDIS_MASTER_NAME: 'airlock' }, 'AIRLOCK_REDIS_MASTER_NAME'],
      ['a sentinel password with a URL', { ...ok, AIRLOCK_REDIS_PASSWORD: 'x' }, 'AIRLOCK_REDIS_PASSWORD'],
      ['TLS for sentinels with a URL', { ...ok, AIRLOCK_REDIS_TLS: 'true' }, 'AIRLOCK_REDIS_TLS'],
      ['WAIT with a single Redis', { ...ok, AIRLOCK_REDIS_WAIT_REPLICAS: '1' }, 'AIRLOCK_REDIS_WAIT_REPLICAS'],
      ['a CA without TLS', { ...sentinel, AIRLOCK_REDIS_CA_FILE: '/etc/ssl/ca.pem' }, 'AIRLOCK_REDIS_CA_FILE'],
      ['a password twice', { ...sentinel, AIRLOCK_REDIS_PASSWORD: 'x', AIRLOCK_REDIS_PASSWORD_FILE: '/run/secrets/pw' }, 'AIRLOCK_REDIS_PASSWORD_FILE'],
      ['a WAIT timeout under 10 ms', { ...sentinel, AIRLOCK_REDIS_WAIT_TIMEOUT_MS: '5' }, 'AIRLOCK_REDIS_WAIT_TIMEOUT_MS'],
    ])('refuses %s', (_what, env, variable) => {
      expect(() => loadConfig(env)).toThrow(expect.objectContaining({ variable }));
    });
  });

  test('SIGTERM drains for 30 s by default (AIRLOCK_DRAIN_SECONDS, 0–3600)', () => {
    expect(loadConfig(ok).drainMs).toBe(30_000);
    expect(loadConfig({ ...ok, AIRLOCK_DRAIN_SECONDS: '0' }).drainMs).toBe(0);
    for (const bad of ['-1', '3601', 'later']) expect(() => loadConfig({ ...ok, AIRLOCK_DRAIN_SECONDS: bad })).toThrow(expect.objectContaining({ variable: 'AIRLOCK_DRAIN_SECONDS' }));
  });

  test('an http issuer may only skip TLS checks on loopback', () => {
    const file = identityFile('providers:\n  - id: x\n    label: X\n    issuer: http://idp.example\n    clientId: a\n    allowInsecureRequests: true\n');
    expect(() => loadConfig({ ...base, AIRLOCK_IDENTITY_FILE: file })).toThrow(/allowInsecureRequests is only allowed for a loopback issuer/);
  });
});

describe('the recording store (AIRLOCK_RECORDING_BACKEND, AIRLOCK_S3_*)', () => {
  const ok = { ...base, AIRLOCK_IDENTITY_FILE: identityFile('providers:\n  - id: staff\n    label: Staff\n    issuer: https://idp.example\n    clientId: airlock\n') };
  const s3 = { AIRLOCK_RECORDING_BACKEND: 's3', AIRLOCK_S3_BUCKET: 'plant-recordings', AIRLOCK_S3_ENDPOINT: 'https://minio.plant.example:9000' };
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  test('is the filesystem store unless configured otherwise', () => {
    const config = loadConfig(ok);
    expect(config.recording.s3).toBeUndefined();
    expect(config.recording.store).toBe('/var/lib/airlock/recordings');
  });

  test('s3: parsed, the prefix ending in a slash, credentials optional (the SDK chain), no store directory needed, frozen', () => {
    const { AIRLOCK_RECORDING_STORE: _unused, ...withoutStore } = ok;
    const config = loadConfig({ ...withoutStore, ...s3, AIRLOCK_S3_PREFIX: 'lyon/recordings', AIRLOCK_S3_OBJECT_LOCK: 'compliance', AIRLOCK_S3_FORCE_PATH_STYLE: 'true', NODE_ENV: 'production' });
    expect(config.recording.s3).toEqual({
      endpoint: 'https://minio.plant.example:9000',
      bucket: 'plant-recordings',
      region: 'us-east-1',
      prefix: 'lyon/recordings/',
      forcePathStyle: true,
      credentials: undefined,
      objectLock: 'compliance',
    });
    expect(Object.isFrozen(config.recording.s3)).toBe(true);
  });

  test('the secret access key may come from a file', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-s3-')), 'secret');
    writeFileSync(file, `${secret}\n`);
    const config = loadConfig({ ...ok, ...s3, AIRLOCK_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE', AIRLOCK_S3_SECRET_ACCESS_KEY_FILE: file });
    expect(config.recording.s3?.credentials).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: secret });
  });

  test.each([
    [{ AIRLOCK_RECORDING_BACKEND: 'nfs' }, 'AIRLOCK_RECORDING_BACKEND'],
    [{ ...s3, AIRLOCK_S3_BUCKET: undefined }, 'AIRLOCK_S3_BUCKET'],
    [{ ...s3, AIRLOCK_S3_BUCKET: 'Plant_Recordings' }, 'AIRLOCK_S3_BUCKET'],
    [{ ...s3, AIRLOCK_S3_ENDPOINT: 'ftp://minio' }, 'AIRLOCK_S3_ENDPOINT'],
    [{ ...s3, AIRLOCK_S3_PREFIX: '../elsewhere' }, 'AIRLOCK_S3_PREFIX'],
    [{ ...s3, AIRLOCK_S3_PREFIX: '/absolute' }, 'AIRLOCK_S3_PREFIX'],
    [{ ...s3, AIRLOCK_S3_OBJECT_LOCK: 'governance' }, 'AIRLOCK_S3_OBJECT_LOCK'],
    [{ ...s3, AIRLOCK_S3_FORCE_PATH_STYLE: 'maybe' }, 'AIRLOCK_S3_FORCE_PATH_STYLE'],
    [{ ...s3, AIRLOCK_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE' }, 'AIRLOCK_S3_SECRET_ACCESS_KEY'],
    [{ ...s3, AIRLOCK_S3_SECRET_ACCESS_KEY: secret }, 'AIRLOCK_S3_ACCESS_KEY_ID'],
    [{ ...s3, AIRLOCK_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE', AIRLOCK_S3_SECRET_ACCESS_KEY_FILE: '/nonexistent/secret' }, 'AIRLOCK_S3_SECRET_ACCESS_KEY_FILE'],
  ])('rejects %o naming %s, and the message never holds the secret', (override, variable) => {
    expect.assertions(3);
    try {
      loadConfig({ ...ok, ...override });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(variable);
      expect((err as ConfigError).message).not.toContain(secret);
    }
  });
});
