// `airlock doctor`: checks a production configuration end to end before (or while) the portal
// runs — the configuration itself, each IdP's discovery, Redis (role, persistence, eviction,
// Sentinel), each guacd's handshake and version, the spool and the store, the signing key and
// the clocks — and says in one line per check what is wrong. Read-only: it creates nothing.
import { constants } from 'node:fs';
import { access, lstat, open, rm, stat, statfs } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as oidc from 'openid-client';
import { createClient } from 'redis';
import { ConfigError, loadConfig, type Config, type ProviderConfig, type S3StoreConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import type { RedisTarget } from '../redis.ts';
import { parseKeyring } from '../keyring.ts';
import { loadChatFile } from '../chat/config.ts';
import { probeGuacd } from '../../sessions/tunnel/guacd-health.ts';
import { ManifestSigner, verifySignature } from '../../recordings/signing.ts';
import { S3Store } from '../../recordings/s3-store.ts';
import { tmpdir } from 'node:os';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  verdict: Verdict;
  /** What was checked: "redis", "guacd plant-b", "idp staff", "clock vs redis", … */
  subject: string;
  message: string;
}

export interface DoctorOptions {
  /** Sentinels to ask about `masterName` (host:port each); until the portal's own config has them. */
  sentinels?: Array<{ host: string; port: number }>;
  masterName?: string;
  /** Per network check; an operator is waiting. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
/** Clock differences: grants, tickets and ID tokens are compared across machines. */
const SKEW_WARN_S = 2;
const SKEW_FAIL_S = 30;
/** guacd below this protocol version is 1.3 or older: known CVEs (LAB.md). */
const SAFE_PROTOCOL = [1, 5, 0] as const;
const GUACD_13_CVES = 'CVE-2023-30575, CVE-2023-30576, CVE-2023-43826, CVE-2024-35164';

const ok = (subject: string, message: string): Check => ({ verdict: 'ok', subject, message });
const warn = (subject: string, message: string): Check => ({ verdict: 'warn', subject, message });
const fail = (subject: string, message: string): Check => ({ verdict: 'fail', subject, message });

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A Redis URL without its credentials (they never reach the output). */
export function redactRedisUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '' || u.pathname === '/' ? '' : u.pathname}`;
}

const formatSkew = (seconds: number): string => `${seconds > -0.05 ? '+' : '-'}${Math.abs(seconds).toFixed(1)} s`;

function skewCheck(subject: string, seconds: number, against: string): Check {
  const text = `this host's clock is ${formatSkew(seconds)} against ${against}`;
  const abs = Math.abs(seconds);
  if (abs >= SKEW_FAIL_S) return fail(subject, `${text}: tokens, tickets and windows will be misjudged; run NTP (chrony, systemd-timesyncd)`);
  if (abs >= SKEW_WARN_S) return warn(subject, `${text}; keep it under ${SKEW_WARN_S} s with NTP`);
  return ok(subject, text);
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.round(n / 1024 ** 2)} MiB`;
}

// ---- configuration ----------------------------------------------------------------------------

function configChecks(config: Config): Check[] {
  const checks: Check[] = [];
  const mode = `mode ${config.mode}, NODE_ENV ${config.production ? 'production' : 'not production'}`;
  if (config.devIdp.enabled) checks.push(fail('config', `${mode}: the embedded development IdP and demo defaults are on; production runs AIRLOCK_MODE=standard with NODE_ENV=production`));
  else if (!config.production) checks.push(warn('config', `${mode}: set NODE_ENV=production (it refuses demo mode and insecure cookies)`));
  else checks.push(ok('config', `${mode}; public URL ${config.publicUrl}`));
  if (!config.session.secureCookies) checks.push(fail('tls', 'AIRLOCK_INSECURE_HTTP_COOKIES=true: sign-in cookies travel without the Secure flag; terminate TLS and serve https'));
  else if (config.publicUrl.startsWith('https:')) {
    checks.push(
      config.trustProxy || config.listen.host !== '127.0.0.1'
        ? ok('tls', `public URL is https; listening on ${config.listen.host}:${config.listen.port}${config.trustProxy ? ' behind a trusted proxy' : ''}`)
        : warn('tls', `public URL is https but the portal listens on ${config.listen.host} without AIRLOCK_TRUST_PROXY: behind a TLS-terminating proxy set it, or client addresses (rate limits, audit) are the proxy's`),
    );
  }
  try {
    const keyring = parseKeyring(config.vaultKeys);
    checks.push(ok('vault keys', `${keyring.length} key(s), new credentials sealed under "${keyring[0]?.id ?? ''}"`));
  } catch (err) {
    checks.push(fail('vault keys', errorMessage(err)));
  }
  const m = config.metrics;
  if (m.listen !== undefined) checks.push(ok('metrics', `/metrics on ${m.listen.host}:${m.listen.port}${m.token === undefined ? ' (no token: keep that address private)' : ', bearer token required'}`));
  else if (m.token !== undefined) checks.push(ok('metrics', '/metrics on the portal listener, bearer token required'));
  else checks.push(ok('metrics', 'off (AIRLOCK_METRICS_LISTEN or AIRLOCK_METRICS_TOKEN turns /metrics on)'));
  if (config.chatFile !== undefined) {
    try {
      const chat = loadChatFile(config.chatFile, { production: config.production });
      const platforms = (['slack', 'teams', 'mattermost'] as const).filter((p) => chat[p] !== undefined);
      checks.push(ok('chat', `${config.chatFile}: ${platforms.join(', ') || 'no platform'} for ${Object.keys(chat.sites).length} site(s)`));
    } catch (err) {
      checks.push(fail('chat', errorMessage(err)));
    }
  }
  return checks;
}

// ---- identity providers -----------------------------------------------------------------------

async function idpChecks(provider: ProviderConfig, timeoutMs: number): Promise<Check[]> {
  const subject = `idp ${provider.id}`;
  let serverDate: string | null = null;
  const started = Date.now();
  let config: oidc.Configuration;
  try {
    config = await oidc.discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, undefined, {
      execute: provider.allowInsecureRequests ? [oidc.allowInsecureRequests] : [],
      timeout: Math.ceil(timeoutMs / 1000),
      // The same request the portal makes; its Date header tells the IdP's clock.
      [oidc.customFetch]: async (url, options) => {
        const res = await fetch(url, options as RequestInit);
        serverDate ??= res.headers.get('date');
        return res;
      },
    });
  } catch (err) {
    return [fail(subject, `discovery of ${provider.issuer} failed: ${errorMessage(err)}${err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : ''}`)];
  }
  const ms = Date.now() - started;
  const meta = config.serverMetadata();
  const checks: Check[] = [];
  let keys = 'no jwks_uri';
  let keysOk = false;
  if (meta.jwks_uri !== undefined) {
    try {
      const res = await fetch(meta.jwks_uri, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as { keys?: unknown[] };
      keysOk = res.ok && Array.isArray(body.keys) && body.keys.length > 0;
      keys = keysOk ? `${body.keys?.length ?? 0} signing key(s)` : `its key set ${meta.jwks_uri} has no keys (HTTP ${res.status})`;
    } catch (err) {
      keys = `its key set ${meta.jwks_uri} cannot be read: ${errorMessage(err)}`;
    }
  }
  const extras = [meta.backchannel_logout_supported === true ? 'back-channel logout supported' : 'no back-channel logout (signing out at the IdP will not end Airlock sign-ins at once)'];
  const text = `${provider.issuer} discovered in ${ms} ms: issuer matches, ${keys}; ${extras.join(', ')}`;
  checks.push(keysOk ? ok(subject, text) : fail(subject, text));
  if (serverDate !== null && !Number.isNaN(Date.parse(serverDate))) {
    // The Date header has a resolution of a second and was stamped somewhere during the request.
    const midpoint = started + ms / 2;
    checks.push(skewCheck(`clock vs ${subject}`, (midpoint - Date.parse(serverDate)) / 1000, `${provider.id}'s Date header`));
  } else {
    checks.push(warn(`clock vs ${subject}`, 'the IdP sent no Date header: its clock could not be compared'));
  }
  return checks;
}

// ---- Redis -------------------------------------------------------------------------------------

/** INFO text → field map. */
function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}

async function redisChecks(url: string, timeoutMs: number): Promise<Check[]> {
  const where = redactRedisUrl(url);
  const client = createClient({ url, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } });
  client.on('error', () => {}); // connect() rejects with the same error
  try {
    await withTimeout(client.connect(), timeoutMs, 'connect');
  } catch (err) {
    client.destroy();
    return [fail('redis', `${where}: cannot connect: ${errorMessage(err)}`)];
  }
  const checks: Check[] = [];
  try {
    const started = performance.now();
    await withTimeout(client.ping(), timeoutMs, 'PING');
    const pingMs = performance.now() - started;
    const role = (await withTimeout(client.sendCommand(['ROLE']), timeoutMs, 'ROLE')) as unknown[];
    const info = infoFields(await withTimeout(client.info(), timeoutMs, 'INFO'));
    const version = info.get('redis_version') ?? '?';
    const roleName = String(role[0]);
    if (roleName === 'master') {
      const replicas = Number(info.get('connected_slaves') ?? '0');
      checks.push(ok('redis', `${where}: Redis ${version}, master with ${replicas} replica(s), PING ${pingMs.toFixed(1)} ms`));
    } else if (roleName === 'slave') {
      checks.push(fail('redis', `${where}: Redis ${version} is a replica of ${String(role[1])}:${String(role[2])}: the portal writes; point it at the master (or at Sentinel)`));
    } else {
      checks.push(fail('redis', `${where}: answers as a ${roleName}, not a Redis data server`));
    }
    // Persistence: an approval or a consumed ticket acknowledged to a user must survive a restart.
    if (info.get('aof_enabled') !== '1') {
      checks.push(fail('redis persistence', 'appendonly is off: approvals, revocations and consumed tickets written since the last snapshot are lost when Redis restarts; set appendonly yes'));
    } else if (info.get('aof_last_write_status') !== 'ok' || info.get('aof_last_bgrewrite_status') === 'err') {
      checks.push(fail('redis persistence', `the append-only file is failing (last write ${info.get('aof_last_write_status') ?? '?'}, last rewrite ${info.get('aof_last_bgrewrite_status') ?? '?'}): check Redis's disk`));
    } else {
      let fsync = '';
      try {
        const reply = (await withTimeout(client.configGet('appendfsync'), timeoutMs, 'CONFIG GET')) as Record<string, string>;
        fsync = reply['appendfsync'] ?? '';
      } catch {
        // CONFIG may be renamed or forbidden by an ACL (managed Redis): say what could not be read.
      }
      if (fsync === 'no') checks.push(warn('redis persistence', 'appendonly yes but appendfsync no: up to ~30 s of writes can be lost on a crash; use everysec'));
      else checks.push(ok('redis persistence', `appendonly yes${fsync === '' ? ' (appendfsync not readable: CONFIG is restricted)' : `, appendfsync ${fsync}`}${info.get('rdb_last_bgsave_status') === 'err' ? '; the last RDB snapshot FAILED' : ''}`));
    }
    const maxmemory = Number(info.get('maxmemory') ?? '0');
    const policy = info.get('maxmemory_policy') ?? 'noeviction';
    if (maxmemory > 0 && policy !== 'noeviction') {
      checks.push(fail('redis memory', `maxmemory ${formatBytes(maxmemory)} with ${policy}: Redis would evict grants, sessions and the audit log when full; use maxmemory-policy noeviction`));
    } else {
      checks.push(ok('redis memory', `${formatBytes(Number(info.get('used_memory') ?? '0'))} used, ${maxmemory > 0 ? `maxmemory ${formatBytes(maxmemory)}` : 'no maxmemory'}, ${policy}`));
    }
    const before = Date.now();
    const [seconds = '0', micros = '0'] = (await withTimeout(client.sendCommand(['TIME']), timeoutMs, 'TIME')) as string[];
    const after = Date.now();
    const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
    checks.push(skewCheck('clock vs redis', ((before + after) / 2 - redisMs) / 1000, 'Redis TIME'));
  } catch (err) {
    checks.push(fail('redis', `${where}: ${errorMessage(err)}`));
  } finally {
    client.destroy();
  }
  return checks;
}

/**
 * The configured store: one Redis by URL; or, with Sentinel, the sentinels (below) and then the
 * master they name, checked like a single Redis (role, persistence, memory policy, clock).
 */
async function redisTargetChecks(target: RedisTarget, timeoutMs: number): Promise<Check[]> {
  if (target.kind === 'standalone') return redisChecks(target.url, timeoutMs);
  const { checks, master } = await askSentinels(target.sentinels, target.masterName, timeoutMs, target.sentinelPassword);
  if (master === undefined) return [...checks, fail('redis', `no sentinel named a master "${target.masterName}": the portal cannot write`)];
  const url = new URL(`${target.tls === undefined ? 'redis' : 'rediss'}://${master}`);
  if (target.username !== undefined) url.username = encodeURIComponent(target.username);
  if (target.password !== undefined) url.password = encodeURIComponent(target.password);
  return [...checks, ...(await redisChecks(url.toString(), timeoutMs))];
}

/** Every sentinel must know the master, agree on its address and see a quorum. */
export async function sentinelChecks(sentinels: ReadonlyArray<{ host: string; port: number }>, masterName: string, timeoutMs = DEFAULT_TIMEOUT_MS, password?: string): Promise<Check[]> {
  return (await askSentinels(sentinels, masterName, timeoutMs, password)).checks;
}

async function askSentinels(
  sentinels: ReadonlyArray<{ host: string; port: number }>,
  masterName: string,
  timeoutMs: number,
  password: string | undefined,
): Promise<{ checks: Check[]; master: string | undefined }> {
  const checks: Check[] = [];
  const masters = new Set<string>();
  for (const s of sentinels) {
    const subject = `sentinel ${s.host}:${s.port}`;
    const client = createClient({ ...(password === undefined ? {} : { password }), socket: { host: s.host, port: s.port, connectTimeout: timeoutMs, reconnectStrategy: false } });
    client.on('error', () => {});
    try {
      await withTimeout(client.connect(), timeoutMs, 'connect');
      const addr = (await withTimeout(client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]), timeoutMs, 'SENTINEL')) as string[] | null;
      if (addr === null) {
        checks.push(fail(subject, `does not monitor a master named "${masterName}"`));
        continue;
      }
      const master = `${addr[0] ?? '?'}:${addr[1] ?? '?'}`;
      masters.add(master);
      let quorum: string;
      try {
        quorum = String(await withTimeout(client.sendCommand(['SENTINEL', 'CKQUORUM', masterName]), timeoutMs, 'CKQUORUM'));
      } catch (err) {
        checks.push(fail(subject, `master ${master}, but no quorum: ${errorMessage(err)}`));
        continue;
      }
      checks.push(ok(subject, `master "${masterName}" at ${master}; ${quorum}`));
    } catch (err) {
      checks.push(fail(subject, `cannot ask: ${errorMessage(err)}`));
    } finally {
      client.destroy();
    }
  }
  if (masters.size > 1) checks.push(fail('sentinels', `disagree on the master of "${masterName}": ${[...masters].join(' vs ')}`));
  return { checks, master: masters.size === 1 ? [...masters][0] : undefined };
}

// ---- guacd -------------------------------------------------------------------------------------

/** VERSION_1_5_0 → [1, 5, 0]. */
export function protocolVersion(version: string): number[] {
  return (/^VERSION_(\d+)_(\d+)_(\d+)$/.exec(version)?.slice(1) ?? ['0', '0', '0']).map(Number);
}

export function olderThan(version: number[], than: readonly number[]): boolean {
  for (let i = 0; i < than.length; i++) {
    const a = version[i] ?? 0;
    const b = than[i] ?? 0;
    if (a !== b) return a < b;
  }
  return false;
}

async function guacdCheck(id: string, target: { host: string; port: number }, timeoutMs: number): Promise<Check> {
  const subject = `guacd ${id}`;
  const where = `${target.host}:${target.port}`;
  const started = Date.now();
  const answer = await probeGuacd(target, timeoutMs);
  if ('problem' in answer) {
    return fail(subject, answer.problem === 'unreachable' ? `${where} refuses or drops the connection: is guacd running there, and may this host reach it?` : `${where} accepts but does not answer a handshake within ${timeoutMs} ms: guacd is hung`);
  }
  const ms = Date.now() - started;
  if (olderThan(protocolVersion(answer.version), SAFE_PROTOCOL)) {
    return warn(subject, `${where} answered in ${ms} ms offering ${answer.version}: guacd 1.4 or older, with known CVEs (${GUACD_13_CVES}); run guacd ≥ 1.6`);
  }
  return ok(subject, `${where} answered in ${ms} ms offering ${answer.version} (guacd ≥ 1.5: make sure the build is ≥ 1.6.0, which fixes CVE-2024-35164)`);
}

// ---- spool, store, signing key -----------------------------------------------------------------

/** The directory, or the nearest ancestor that exists (the portal creates what is missing). */
async function existingAncestor(dir: string): Promise<string> {
  let current = dir;
  for (;;) {
    try {
      await lstat(current);
      return current;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

async function directoryCheck(subject: string, dir: string, minFreeBytes: number): Promise<Check> {
  const root = process.getuid?.() === 0 ? ' (checked as root, who may write anywhere: run the doctor as the portal\'s user to check its permissions)' : '';
  const existing = await existingAncestor(dir);
  try {
    if (!(await stat(existing)).isDirectory()) return fail(subject, `${dir}: ${existing} is not a directory`);
    await access(existing, constants.W_OK);
    // A real write: a full or read-only disk refuses here, whatever the permission bits say.
    const probe = path.join(existing, `.airlock-doctor-${randomBytes(6).toString('hex')}`);
    const handle = await open(probe, 'wx', 0o600);
    try {
      await handle.write('airlock doctor\n');
      await handle.sync();
    } finally {
      await handle.close();
      await rm(probe, { force: true });
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(subject, `${dir} cannot be written${existing === dir ? '' : ` (nor created in ${existing})`}: ${code ?? errorMessage(err)}`);
  }
  const fs = await statfs(existing);
  const free = fs.bavail * fs.bsize;
  const missing = existing === dir ? '' : `does not exist yet (the portal creates it in ${existing}); `;
  if (free < minFreeBytes) {
    const consequence = subject === 'spool' ? 'sessions are refused' : 'finalised recordings may not fit';
    return fail(subject, `${dir}: ${missing}only ${formatBytes(free)} free, below AIRLOCK_RECORDING_MIN_FREE_MB (${formatBytes(minFreeBytes)}): ${consequence}`);
  }
  const mode = existing === dir ? (await stat(dir)).mode & 0o777 : undefined;
  if (mode !== undefined && (mode & 0o007) !== 0) return warn(subject, `${dir}: writable, ${formatBytes(free)} free, but mode ${mode.toString(8)} lets every user in; recordings show what vendors saw: chmod o-rwx${root}`);
  return ok(subject, `${dir}: ${missing}writable, ${formatBytes(free)} free${root}`);
}

/** The S3 store: the bucket answers with these credentials and, with Object Lock configured, has it. Read-only: a probe object would be locked. */
async function s3Check(s3: S3StoreConfig, timeoutMs: number): Promise<Check> {
  const where = `s3://${s3.bucket}/${s3.prefix}`;
  const store = new S3Store(s3, tmpdir());
  try {
    const problems = await Promise.race([
      store.check(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    if (problems.length > 0) return fail('store', `${where}: ${problems.join('; ')}`);
    return ok('store', `${where}: reachable${s3.objectLock === 'compliance' ? ', Object Lock enabled (uploads locked in compliance mode until their retention date)' : ''}`);
  } catch (err) {
    const name = (err as { name?: string }).name;
    return fail('store', `${where}: ${name === 'NotFound' || name === 'NoSuchBucket' ? 'no such bucket' : name === 'Forbidden' || name === 'AccessDenied' ? 'access denied (check the credentials and the IAM policy)' : errorMessage(err)}`);
  } finally {
    store.destroy();
  }
}

function signingKeyCheck(config: Config): Check {
  if (config.recording.signingKeyPem === undefined) {
    return fail('signing key', 'none configured: a key is generated per run, so recordings signed before a restart no longer verify; set AIRLOCK_SIGNING_KEY_FILE');
  }
  try {
    const signer = new ManifestSigner(config.recording.signingKeyPem);
    const probe = Buffer.from(`airlock doctor ${randomBytes(8).toString('hex')}`);
    if (!verifySignature(probe, signer.sign(probe), signer.publicKeyPem())) return fail('signing key', 'a signature made with it does not verify');
    return ok('signing key', `Ed25519, key id ${signer.keyId} (the same on every instance; auditors verify with its public key)`);
  } catch (err) {
    return fail('signing key', `cannot sign: ${errorMessage(err)}`);
  }
}

// ---- the whole run -----------------------------------------------------------------------------

export async function runDoctor(env: NodeJS.ProcessEnv, opts: DoctorOptions = {}): Promise<Check[]> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [fail('config', `${err.message} (the portal would not start)`)];
    throw err;
  }
  const checks = configChecks(config);
  const network = await Promise.all([
    ...(config.identity?.providers ?? []).map((p) => idpChecks(p, timeoutMs)),
    redisTargetChecks(config.redis, timeoutMs),
    ...(opts.sentinels !== undefined && opts.sentinels.length > 0 ? [sentinelChecks(opts.sentinels, opts.masterName ?? 'airlock', timeoutMs)] : []),
    Promise.all(Object.entries(config.guacds).map(([id, target]) => guacdCheck(id, target, timeoutMs))),
  ]);
  checks.push(...network.flat());
  checks.push(await directoryCheck('spool', config.recording.spool, config.recording.minFreeBytes));
  checks.push(config.recording.s3 === undefined ? await directoryCheck('store', config.recording.store, config.recording.minFreeBytes) : await s3Check(config.recording.s3, timeoutMs));
  checks.push(signingKeyCheck(config));
  return checks;
}

const LABEL: Record<Verdict, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

/** One line per check, then the verdict. */
export function formatReport(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.subject.length));
  const lines = checks.map((c) => `${LABEL[c.verdict]}  ${c.subject.padEnd(width)}  ${c.message}`);
  const failed = checks.filter((c) => c.verdict === 'fail').length;
  const warned = checks.filter((c) => c.verdict === 'warn').length;
  lines.push(failed === 0 ? `doctor: ${checks.length} checks, none failed${warned > 0 ? `, ${warned} warning(s)` : ''}` : `doctor: ${failed} of ${checks.length} checks FAILED${warned > 0 ? `, ${warned} warning(s)` : ''}: see the FAIL lines`);
  return `${lines.join('\n')}\n`;
}
