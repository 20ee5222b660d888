// The one place that reads process.env and the identity file. Everything is validated once at
// start-up; a bad value stops the process with one line naming the variable (see main.ts).
import { readFileSync } from 'node:fs';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseKeyring } from './keyring.ts';
import { errorMessage } from './errors.ts';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS, type RedisDurability, type RedisTarget } from './redis.ts';

/** RFC 5424 §6.2.1 facility names, by code (authpriv = 10 is where access logs belong). */
export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, ntp: 12, security: 13, console: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type FacilityName = keyof typeof FACILITIES;

/** Highest facility code RFC 5424 defines. */
export const MAX_FACILITY = 23;

/** `observer`: plant staff of the mapped sites who watch vendors' sessions (required observer) without deciding requests. */
export const ROLES = ['vendor', 'approver', 'auditor', 'admin', 'observer'] as const;
export type Role = (typeof ROLES)[number];

export const MODES = ['standard', 'demo', 'test'] as const;
export type Mode = (typeof MODES)[number];

/** A configuration problem, always naming the variable (or file key) at fault. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

// A group (from the provider's groups claim) grants roles, and for approvers and observers the sites they serve.
const groupMappingSchema = z.strictObject({
  roles: z.array(z.enum(ROLES)).min(1),
  sites: z.array(z.string().min(1)).default([]),
});

/** What counts as a sign-in with a second factor; RFC 8176 names the `amr` values. */
const MFA_AMR_DEFAULT = ['mfa', 'otp', 'hwk'];
const claimValue = z.string().min(1).max(256);
const mfaSchema = z.strictObject({
  /** The ID token shows a second factor when its `amr` contains any of these. */
  amr: z.array(claimValue).max(20).default(MFA_AMR_DEFAULT),
  /** …or when its `acr` is one of these (an IdP's own level names, e.g. Keycloak's "2"). */
  acr: z.array(claimValue).max(20).default([]),
  /** Sent as `acr_values` when Airlock asks the IdP for a second factor (step-up); absent: none sent. */
  acrValues: z.string().min(1).max(512).regex(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/, 'space-separated values').optional(),
});

const providerSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]{1,32}$/, 'lower-case letters, digits and dashes'),
  label: z.string().min(1).max(80),
  issuer: z.url(),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  scopes: z.array(z.string()).default(['openid', 'profile', 'email']),
  /** Claim holding the user's groups (string array). */
  groupsClaim: z.string().default('groups'),
  /** Claim naming the vendor's company; required for vendor users. */
  companyClaim: z.string().default('company'),
  /**
   * Claim holding the Microsoft Entra object id (Entra ID puts it in `oid`); Teams names users by
   * the same id, so chat links them without a code. Opt-in per provider (`oid` for Entra ID):
   * only a provider trusted to say who someone is in Entra may name it.
   */
  entraObjectIdClaim: z.string().min(1).optional(),
  /** Roles every user of this provider gets (e.g. [vendor] for a vendor IdP). */
  defaultRoles: z.array(z.enum(ROLES)).default([]),
  /** Only for a local development IdP on plain http: openid-client refuses http otherwise. */
  allowInsecureRequests: z.boolean().default(false),
  /** Refuse sign-ins whose ID token does not show a second factor (`mfa`), with 403 mfa_required. */
  requireMfa: z.boolean().default(false),
  mfa: mfaSchema.prefault({}),
});
export type ProviderConfig = z.infer<typeof providerSchema>;

export const identitySchema = z.strictObject({
  defaultProvider: z.string().optional(),
  providers: z.array(providerSchema).min(1),
  groups: z.record(z.string(), groupMappingSchema).default({}),
});
export type IdentityConfig = z.infer<typeof identitySchema>;

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected host:port')
  .transform((v) => {
    const i = v.lastIndexOf(':');
    return { host: v.slice(0, i), port: Number(v.slice(i + 1)) };
  });

const redisUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a redis:// or rediss:// URL with a host');

const HOST_PORT_LIST = /^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/;

/** AIRLOCK_REDIS_WAIT_REPLICAS with Sentinel: one replica must confirm each acknowledged decision. */
const DEFAULT_WAIT_REPLICAS_WITH_SENTINEL = 1;

export type SyslogProtocol = 'udp' | 'tcp' | 'tls';

const SYSLOG_URL_HINT = 'expected udp://host:port, tcp://host:port or tls://host:port';

// A syslog receiver: a scheme, a host and an explicit port; nothing else (no credentials, path or query).
const syslogUrl = z.string().transform((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: SYSLOG_URL_HINT });
    return z.NEVER;
  }
  const protocol = u.protocol.slice(0, -1);
  const port = Number(u.port);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const bare = u.username === '' && u.password === '' && (u.pathname === '' || u.pathname === '/') && u.search === '' && u.hash === '';
  if ((protocol !== 'udp' && protocol !== 'tcp' && protocol !== 'tls') || host === '' || !Number.isInteger(port) || port < 1 || !bare) {
    ctx.addIssue({ code: 'custom', message: SYSLOG_URL_HINT });
    return z.NEVER;
  }
  return { protocol: protocol as SyslogProtocol, host, port };
});

const syslogFacility = z.string().transform((v, ctx) => {
  if (/^\d{1,2}$/.test(v) && Number(v) <= MAX_FACILITY) return Number(v);
  if (Object.hasOwn(FACILITIES, v)) return FACILITIES[v as FacilityName];
  ctx.addIssue({ code: 'custom', message: `expected a facility name (${Object.keys(FACILITIES).join(', ')}) or a number 0–${MAX_FACILITY}` });
  return z.NEVER;
});

/** A whole number from the environment, within bounds, with its default. */
const intVar = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
// The S3 store's settings (recordings/s3-store.ts); the CLI's `recordings verify` reads them too.
const s3EnvShape = {
  AIRLOCK_S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  // S3 bucket names: 3–63 lower-case letters, digits, dots and dashes.
  AIRLOCK_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').optional(),
  AIRLOCK_S3_REGION: z.string().regex(/^[a-z0-9-]{1,32}$/, 'a region name like eu-central-1').default('us-east-1'),
  // Key prefix below which the store's folders sit: path segments, no leading slash, no "..".
  AIRLOCK_S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9_.-]+\/)*[A-Za-z0-9_.-]*\/?$/, 'path segments of letters, digits, ._- separated by /')
    .refine((v) => !v.split('/').includes('..'), 'no .. segments')
    .default(''),
  AIRLOCK_S3_FORCE_PATH_STYLE: booleanString.default(false),
  AIRLOCK_S3_ACCESS_KEY_ID: z.string().min(1).max(256).optional(),
  AIRLOCK_S3_SECRET_ACCESS_KEY: z.string().min(1).max(1024).optional(),
  AIRLOCK_S3_SECRET_ACCESS_KEY_FILE: z.string().min(1).optional(),
  AIRLOCK_S3_OBJECT_LOCK: z.enum(['off', 'compliance']).default('off'),
};
const s3EnvSchema = z.object(s3EnvShape);

/** An S3-compatible recording store. Credentials absent: the SDK's default chain (env, profile, instance role). */
export interface S3StoreConfig {
  readonly endpoint: string | undefined;
  readonly bucket: string;
  readonly region: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  /** 'compliance': every object is written under Object Lock in compliance mode until its retention date. */
  readonly objectLock: 'off' | 'compliance';
}

/** The S3 store's settings from AIRLOCK_S3_* (ConfigError naming the variable at fault). */
export function s3StoreConfig(env: NodeJS.ProcessEnv): S3StoreConfig {
  const parsed = s3EnvSchema.safeParse(env);
  if (!parsed.success) {
    const { path: variable, message } = firstIssue(parsed.error);
    throw new ConfigError(variable || 'environment', message);
  }
  const e = parsed.data;
  if (e.AIRLOCK_S3_BUCKET === undefined) throw new ConfigError('AIRLOCK_S3_BUCKET', 'required with AIRLOCK_RECORDING_BACKEND=s3');
  let secret = e.AIRLOCK_S3_SECRET_ACCESS_KEY;
  if (secret === undefined && e.AIRLOCK_S3_SECRET_ACCESS_KEY_FILE !== undefined) secret = readSecretFile('AIRLOCK_S3_SECRET_ACCESS_KEY_FILE', e.AIRLOCK_S3_SECRET_ACCESS_KEY_FILE);
  if ((e.AIRLOCK_S3_ACCESS_KEY_ID === undefined) !== (secret === undefined)) {
    throw new ConfigError(e.AIRLOCK_S3_ACCESS_KEY_ID === undefined ? 'AIRLOCK_S3_ACCESS_KEY_ID' : 'AIRLOCK_S3_SECRET_ACCESS_KEY', 'set both the access key id and the secret, or neither (the SDK default chain)');
  }
  const prefix = e.AIRLOCK_S3_PREFIX === '' || e.AIRLOCK_S3_PREFIX.endsWith('/') ? e.AIRLOCK_S3_PREFIX : `${e.AIRLOCK_S3_PREFIX}/`;
  return Object.freeze({
    endpoint: e.AIRLOCK_S3_ENDPOINT,
    bucket: e.AIRLOCK_S3_BUCKET,
    region: e.AIRLOCK_S3_REGION,
    prefix,
    forcePathStyle: e.AIRLOCK_S3_FORCE_PATH_STYLE,
    credentials: e.AIRLOCK_S3_ACCESS_KEY_ID === undefined || secret === undefined ? undefined : Object.freeze({ accessKeyId: e.AIRLOCK_S3_ACCESS_KEY_ID, secretAccessKey: secret }),
    objectLock: e.AIRLOCK_S3_OBJECT_LOCK,
  });
}

const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  AIRLOCK_MODE: z.enum(MODES).default('standard'),
  AIRLOCK_LISTEN_HOST: z.string().min(1).default('127.0.0.1'),
  AIRLOCK_PORT: intVar(0, 65535, 8080),
  AIRLOCK_PUBLIC_URL: z.url().optional(),
  AIRLOCK_REDIS_URL: redisUrl.optional(),
  AIRLOCK_REDIS_SENTINELS: z
    .string()
    .regex(HOST_PORT_LIST, 'expected host:port[,host:port…] (the sentinels, ideally three)')
    .transform((v) => v.split(',').map((entry) => ({ host: entry.slice(0, entry.lastIndexOf(':')), port: Number(entry.slice(entry.lastIndexOf(':') + 1)) })))
    .optional(),
  AIRLOCK_REDIS_MASTER_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1–64 letters, digits, dots, dashes or underscores').optional(),
  AIRLOCK_REDIS_USERNAME: z.string().min(1).optional(),
  AIRLOCK_REDIS_PASSWORD: z.string().min(1).optional(),
  AIRLOCK_REDIS_PASSWORD_FILE: z.string().min(1).optional(),
  AIRLOCK_REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  AIRLOCK_REDIS_SENTINEL_PASSWORD_FILE: z.string().min(1).optional(),
  AIRLOCK_REDIS_TLS: booleanString.default(false),
  AIRLOCK_REDIS_CA_FILE: z.string().min(1).optional(),
  AIRLOCK_REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(10).optional(),
  AIRLOCK_REDIS_WAIT_TIMEOUT_MS: intVar(10, 10_000, 1_000),
  AIRLOCK_DRAIN_SECONDS: intVar(0, 3_600, 30),
  AIRLOCK_REDIS_COMMAND_TIMEOUT_MS: intVar(100, 60_000, DEFAULT_REDIS_COMMAND_TIMEOUT_MS),
  AIRLOCK_GUACD: hostPort.default({ host: '127.0.0.1', port: 4822 }),
  AIRLOCK_SESSION_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  AIRLOCK_SESSION_SECRET_FILE: z.string().optional(),
  AIRLOCK_SESSION_TTL_SECONDS: intVar(60, 7 * 24 * 3600, 8 * 3600),
  AIRLOCK_IDENTITY_MAX_AGE_SECONDS: intVar(1, 24 * 3600, 300),
  AIRLOCK_INSECURE_HTTP_COOKIES: booleanString.default(false),
  AIRLOCK_IDENTITY_FILE: z.string().optional(),
  AIRLOCK_TRUST_PROXY: booleanString.default(false),
  AIRLOCK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  AIRLOCK_CLIENT_DIR: z.string().optional(),
  AIRLOCK_DEV_IDP_PASSWORD: z.string().min(8).optional(),
  AIRLOCK_INVENTORY_FILE: z.string().optional(),
  AIRLOCK_VAULT_KEYS: z.string().optional(),
  AIRLOCK_VAULT_KEYS_FILE: z.string().optional(),
  AIRLOCK_GUACD_SHARED_SPOOL: z
    .string()
    .regex(/^(none|[a-z0-9-]+(,[a-z0-9-]+)*)$/, 'expected guacd ids separated by commas, or none')
    .default('default'),
  AIRLOCK_GUACDS: z
    .string()
    .regex(/^([a-z0-9-]+=[A-Za-z0-9.-]+:\d{1,5})(,[a-z0-9-]+=[A-Za-z0-9.-]+:\d{1,5})*$/, 'expected id=host:port[,id=host:port…]')
    .optional(),
  AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: intVar(1, 1_000_000, 60),
  AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: intVar(1, 1_000_000, 1200),
  // Per source address, before sign-in: a sign-in is two calls (/auth/login, /auth/callback).
  AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE: intVar(1, 1_000_000, 120),
  // Per source address: every click of a workspace comes from the platform's few servers.
  AIRLOCK_RATE_LIMIT_CHAT_CALLBACKS_PER_MINUTE: intVar(1, 1_000_000, 300),
  AIRLOCK_CHAT_FILE: z.string().optional(),
  AIRLOCK_RECORDING_SPOOL: z.string().min(1).optional(),
  AIRLOCK_RECORDING_STORE: z.string().min(1).optional(),
  AIRLOCK_RECORDING_BACKEND: z.enum(['filesystem', 's3']).default('filesystem'),
  ...s3EnvShape,
  AIRLOCK_SIGNING_KEY_FILE: z.string().min(1).optional(),
  AIRLOCK_RETENTION_DAYS: intVar(1, 36_500, 365),
  AIRLOCK_PURGE_INTERVAL_MS: intVar(1_000, 7 * 86_400_000, 3_600_000),
  /** Where the renderer worker (keyframes, activity strip) runs: `off` (an `airlock worker` process does it) or `inprocess`. */
  AIRLOCK_RENDER_WORKER: z.enum(['off', 'inprocess']).default('off'),
  /** The Chromium the renderer worker drives (Debian's). */
  AIRLOCK_CHROMIUM_PATH: z.string().min(1).default('/usr/bin/chromium'),
  /** A keyframe every this many KB of recording (a seek replays at most this much). */
  AIRLOCK_KEYFRAME_EVERY_KB: intVar(16, 1024 * 1024, 1024),
  AIRLOCK_RECORDING_MIN_FREE_MB: intVar(0, 10_000_000, 1024),
  AIRLOCK_SESSION_READY_TIMEOUT_MS: intVar(1000, 120_000, 15_000),
  AIRLOCK_GUACD_PACE_MS: intVar(0, 10_000, 100),
  AIRLOCK_GUACD_MAX_SETUPS: intVar(1, 100, 4),
  AIRLOCK_MAX_SESSIONS_PER_GRANT: intVar(1, 100, 1),
  AIRLOCK_MAX_SESSIONS_PER_USER: intVar(1, 1000, 3),
  AIRLOCK_MAX_SESSIONS_PER_GUACD: intVar(1, 100_000, 100),
  AIRLOCK_MAX_SESSIONS_PER_INSTANCE: intVar(1, 100_000, 200),
  AIRLOCK_TUNNEL_REFUSALS_PER_MINUTE: intVar(1, 1_000_000, 30),
  AIRLOCK_REFUSAL_AUDIT_WINDOW_MS: intVar(100, 3_600_000, 60_000),
  AIRLOCK_GRANT_RECHECK_MS: intVar(100, 2_000, 1_000),
  AIRLOCK_STORE_OUTAGE_GRACE_MS: intVar(1_000, 3_600_000, 60_000),
  AIRLOCK_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  AIRLOCK_SWEEP_INTERVAL_MS: intVar(100, 60_000, 1000),
  AIRLOCK_SYSLOG_URL: syslogUrl.optional(),
  // RFC 5424 APP-NAME: 1–48 printable US-ASCII characters.
  AIRLOCK_SYSLOG_APP_NAME: z.string().regex(/^[\x21-\x7e]{1,48}$/, '1–48 printable ASCII characters, no spaces').default('airlock'),
  AIRLOCK_SYSLOG_FACILITY: syslogFacility.default(FACILITIES.authpriv),
  AIRLOCK_SYSLOG_CA_FILE: z.string().min(1).optional(),
  AIRLOCK_METRICS_LISTEN: hostPort.optional(),
  AIRLOCK_METRICS_TOKEN: z.string().min(32, 'at least 32 characters').optional(),
  AIRLOCK_METRICS_TOKEN_FILE: z.string().min(1).optional(),
  // The file airlock's scanner: clamd's socket (`unix:/run/clamav/clamd.ctl`) or TCP (`host:port`).
  AIRLOCK_CLAMD: z
    .string()
    .regex(/^(unix:\/.+|[A-Za-z0-9.-]+:\d{1,5})$/, 'expected unix:/path/to/clamd.sock or host:port')
    .transform((v) => (v.startsWith('unix:') ? { socket: v.slice('unix:'.length) } : { host: v.slice(0, v.lastIndexOf(':')), port: Number(v.slice(v.lastIndexOf(':') + 1)) }))
    .optional(),
  AIRLOCK_CLAMD_TIMEOUT_MS: intVar(100, 600_000, 60_000),
  AIRLOCK_QUARANTINE_DIR: z.string().min(1).optional(),
  AIRLOCK_RDP_DRIVE_ROOT: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'an absolute path of letters, digits, ".", "_", "-" and "/"').optional(),
});

export interface Config {
  readonly mode: Mode;
  readonly production: boolean;
  readonly listen: { readonly host: string; readonly port: number };
  /** Origin users type in their browser; used for redirect URIs and the Origin allowlist. */
  readonly publicUrl: string;
  /** One Redis by URL, or Sentinel's master (server/redis.ts connects to either). */
  readonly redis: RedisTarget;
  /** A Redis that leaves a command unanswered this long counts as down: 503s, then a reconnect. */
  readonly redisCommandTimeoutMs: number;
  /** WAIT after decisions, revocations, grants, consumed tickets and audit events (Sentinel only). */
  readonly redisDurability: RedisDurability;
  /**
   * SIGTERM drains: no new sessions, live ones warned, then ended after at most this long
   * (0: at once), so a rolling restart moves users to the other instances.
   */
  readonly drainMs: number;
  /** The default guacd; machines name theirs by id ("default" is this one). */
  readonly guacd: { readonly host: string; readonly port: number };
  readonly guacds: Readonly<Record<string, { readonly host: string; readonly port: number }>>;
  /**
   * guacds that see the recording spool at the same path (same host or a shared mount): only
   * they write the SSH/Telnet typescript (guacd's text record). The recording itself is the
   * portal's, whatever the guacd.
   */
  readonly sharedSpoolGuacds: readonly string[];
  readonly inventoryFile: string | undefined;
  /** The credential vault's keyring text (id:base64 entries, current first); see vault.ts. */
  readonly vaultKeys: string;
  readonly rateLimits: {
    readonly writesPerMinute: number;
    readonly readsPerMinute: number;
    /** /auth/login and /auth/callback, per source address. */
    readonly signInsPerMinute: number;
    /** Chat platform callbacks (/chat/…), per source address. */
    readonly chatCallbacksPerMinute: number;
  };
  /** How often each instance expires pending requests and ends grants whose window is over. */
  readonly sweepIntervalMs: number;
  readonly recording: {
    /** Where guacd writes recordings and typescripts and the portal its input-event logs. */
    readonly spool: string;
    /** Below this much free space on the spool's disk, new sessions are refused. */
    readonly minFreeBytes: number;
    /** Where finalised recordings live (filesystem store): <store>/<site>/<yyyy>/<mm>/<dd>/<session>/. */
    readonly store: string;
    /** Set: finalised recordings go to this S3-compatible store instead (same folder names, as key prefixes). */
    readonly s3: S3StoreConfig | undefined;
    /** Ed25519 private key (PKCS#8 PEM) that signs manifests; undefined in demo/test: generated. */
    readonly signingKeyPem: string | undefined;
    /** Days a recording is kept when its site says nothing. */
    readonly retentionDays: number;
    readonly purgeIntervalMs: number;
    /** `inprocess`: this portal also renders finalised recordings (keyframes); `off`: an `airlock worker` does. */
    readonly renderWorker: 'off' | 'inprocess';
    readonly chromiumPath: string;
    readonly keyframeEveryBytes: number;
  };
  readonly broker: {
    /** A set-up that has not reached `ready` by then is abandoned (guacd 1.3 can hang). */
    readonly readyTimeoutMs: number;
    /** Least time between two connection set-ups on one guacd (LAB.md: bursts hang guacd 1.3). */
    readonly guacdPaceMs: number;
    /** Most set-ups (dial to `ready`) in flight on one guacd; later ones queue in the portal. */
    readonly guacdMaxSetups: number;
    /** Live sessions at once: per grant (a new open takes over the older), per user, guacd, instance. */
    readonly caps: { readonly perGrant: number; readonly perUser: number; readonly perGuacd: number; readonly perInstance: number };
    /** Refused WebSocket upgrades a source (user, or address when anonymous) may have per minute before it is turned away at once (429). */
    readonly refusalsPerMinute: number;
    /** Refusals of one kind from one source are audited once per window, then as a count. */
    readonly refusalAuditWindowMs: number;
    /** Every live session's grant is re-read this often (pub/sub is only the fast path). */
    readonly grantRecheckMs: number;
    /** Live sessions end when the state store has been unreachable this long (they cannot be revoked). */
    readonly storeOutageGraceMs: number;
  };
  /** The file airlock (sessions/files): its scanner, quarantine and RDP drive folders. */
  readonly files: {
    /** clamd's socket or TCP address; undefined: no scanner, so nothing is ever released (fail closed). */
    readonly clamd: { readonly socket: string } | { readonly host: string; readonly port: number } | undefined;
    /** A scan that has not answered by then fails, and the file is not released. */
    readonly scanTimeoutMs: number;
    /** Where uploads wait (not on the target) until released; every instance must see the same folder. */
    readonly quarantineDir: string;
    /** On guacd's host: each RDP session's redirected drive folder is <root>/<session id>. */
    readonly rdpDriveRoot: string;
  };
  /** This portal process's name in the session registry. */
  readonly instanceId: string;
  /** YAML configuring the chat integrations (server/chat/); absent: chat is off. */
  readonly chatFile: string | undefined;
  /** Where audit events are forwarded as syslog (RFC 5424 + CEF, server/siem/); absent: off. */
  readonly siem: SiemConfig | undefined;
  /** Prometheus /metrics (server/metrics.ts): its own listener and/or a bearer token; neither: off. */
  readonly metrics: { readonly listen: { readonly host: string; readonly port: number } | undefined; readonly token: string | undefined };
  readonly session: { readonly secret: string; readonly ttlSeconds: number; readonly secureCookies: boolean };
  /**
   * Identity freshness (server/auth/freshness.ts): a privileged action re-validates the user with
   * the IdP (refresh token) when the last validation is older than this; chat acts only on a
   * profile at most this old.
   */
  readonly identityMaxAgeMs: number;
  readonly trustProxy: boolean;
  readonly logLevel: string;
  readonly clientDir: string | undefined;
  /** The embedded development IdP (demo and test modes only); the portal mounts it when no identity file is given. */
  readonly devIdp: { readonly enabled: boolean; readonly password: string };
  /** Undefined only when devIdp is enabled and no identity file was given: app/portal.ts then builds one that trusts the dev IdP. */
  readonly identity: IdentityConfig | undefined;
}

export interface SiemConfig {
  readonly protocol: SyslogProtocol;
  readonly host: string;
  readonly port: number;
  readonly appName: string;
  /** RFC 5424 facility code, 0–23. */
  readonly facility: number;
  /** PEM of the CA(s) trusted for tls://; undefined: Node's default roots. */
  readonly caPem: string | undefined;
}

function firstIssue(error: z.ZodError): { path: string; message: string } {
  const issue = error.issues[0];
  return { path: issue?.path.join('.') ?? '', message: issue?.message ?? 'invalid' };
}

function readSecretFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    throw new ConfigError(variable, `cannot read file ${path}`);
  }
}

export function loadIdentityFile(path: string, variable = 'AIRLOCK_IDENTITY_FILE'): IdentityConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(variable, `cannot read YAML from ${path}: ${errorMessage(err)}`);
  }
  return validateIdentity(raw, `${variable} (${path})`);
}

export function validateIdentity(raw: unknown, variable: string): IdentityConfig {
  const parsed = identitySchema.safeParse(raw);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new ConfigError(variable, `${path}: ${message}`);
  }
  const identity = parsed.data;
  const ids = new Set<string>();
  for (const p of identity.providers) {
    if (ids.has(p.id)) throw new ConfigError(variable, `providers: duplicate id "${p.id}"`);
    ids.add(p.id);
    if (p.allowInsecureRequests && !p.issuer.startsWith('http://localhost') && !p.issuer.startsWith('http://127.0.0.1')) {
      throw new ConfigError(variable, `providers.${p.id}.allowInsecureRequests is only allowed for a loopback issuer`);
    }
  }
  if (identity.defaultProvider !== undefined && !ids.has(identity.defaultProvider)) {
    throw new ConfigError(variable, `defaultProvider "${identity.defaultProvider}" is not a configured provider`);
  }
  return Object.freeze(identity);
}

/**
 * The state store: AIRLOCK_REDIS_URL, or AIRLOCK_REDIS_SENTINELS with AIRLOCK_REDIS_MASTER_NAME
 * (never both). Credentials and TLS of a URL are in the URL; Sentinel's have variables of their own.
 */
function redisConfig(e: z.infer<typeof envSchema>): { redis: RedisTarget; redisDurability: RedisDurability } {
  const sentinelOnly = [
    'AIRLOCK_REDIS_MASTER_NAME',
    'AIRLOCK_REDIS_USERNAME',
    'AIRLOCK_REDIS_PASSWORD',
    'AIRLOCK_REDIS_PASSWORD_FILE',
    'AIRLOCK_REDIS_SENTINEL_PASSWORD',
    'AIRLOCK_REDIS_SENTINEL_PASSWORD_FILE',
    'AIRLOCK_REDIS_CA_FILE',
  ] as const;
  const timeoutMs = e.AIRLOCK_REDIS_WAIT_TIMEOUT_MS;
  if (e.AIRLOCK_REDIS_SENTINELS === undefined) {
    if (e.AIRLOCK_REDIS_URL === undefined) throw new ConfigError('AIRLOCK_REDIS_URL', 'required (or AIRLOCK_REDIS_SENTINELS with AIRLOCK_REDIS_MASTER_NAME)');
    for (const variable of sentinelOnly) if (e[variable] !== undefined) throw new ConfigError(variable, 'only applies with AIRLOCK_REDIS_SENTINELS (a URL carries its own credentials)');
    if (e.AIRLOCK_REDIS_TLS) throw new ConfigError('AIRLOCK_REDIS_TLS', 'only applies with AIRLOCK_REDIS_SENTINELS (use a rediss:// URL)');
    if ((e.AIRLOCK_REDIS_WAIT_REPLICAS ?? 0) > 0) throw new ConfigError('AIRLOCK_REDIS_WAIT_REPLICAS', 'needs AIRLOCK_REDIS_SENTINELS: a single Redis has no replica to wait for');
    return { redis: Object.freeze({ kind: 'standalone', url: e.AIRLOCK_REDIS_URL }), redisDurability: Object.freeze({ replicas: 0, timeoutMs }) };
  }
  if (e.AIRLOCK_REDIS_URL !== undefined) throw new ConfigError('AIRLOCK_REDIS_SENTINELS', 'set together with AIRLOCK_REDIS_URL: configure one or the other');
  if (e.AIRLOCK_REDIS_MASTER_NAME === undefined) throw new ConfigError('AIRLOCK_REDIS_MASTER_NAME', 'required with AIRLOCK_REDIS_SENTINELS: the name the sentinels monitor the master under');
  if (e.AIRLOCK_REDIS_CA_FILE !== undefined && !e.AIRLOCK_REDIS_TLS) throw new ConfigError('AIRLOCK_REDIS_CA_FILE', 'set without AIRLOCK_REDIS_TLS=true');
  const secret = (variable: 'AIRLOCK_REDIS_PASSWORD' | 'AIRLOCK_REDIS_SENTINEL_PASSWORD'): string | undefined => {
    const file = e[`${variable}_FILE`];
    if (e[variable] !== undefined && file !== undefined) throw new ConfigError(`${variable}_FILE`, `set together with ${variable}: use one or the other`);
    return e[variable] ?? (file === undefined ? undefined : readSecretFile(`${variable}_FILE`, file));
  };
  const redis: RedisTarget = {
    kind: 'sentinel',
    sentinels: Object.freeze(e.AIRLOCK_REDIS_SENTINELS.map((n) => Object.freeze(n))),
    masterName: e.AIRLOCK_REDIS_MASTER_NAME,
    username: e.AIRLOCK_REDIS_USERNAME,
    password: secret('AIRLOCK_REDIS_PASSWORD'),
    sentinelPassword: secret('AIRLOCK_REDIS_SENTINEL_PASSWORD'),
    tls: e.AIRLOCK_REDIS_TLS
      ? Object.freeze({ ca: e.AIRLOCK_REDIS_CA_FILE === undefined ? undefined : readSecretFile('AIRLOCK_REDIS_CA_FILE', e.AIRLOCK_REDIS_CA_FILE) })
      : undefined,
  };
  return {
    redis: Object.freeze(redis),
    redisDurability: Object.freeze({ replicas: e.AIRLOCK_REDIS_WAIT_REPLICAS ?? DEFAULT_WAIT_REPLICAS_WITH_SENTINEL, timeoutMs }),
  };
}

/** Validates the environment; throws ConfigError naming the first variable at fault. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new ConfigError(path || 'environment', message);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const devIdpEnabled = e.AIRLOCK_MODE === 'demo' || e.AIRLOCK_MODE === 'test';
  if (production && devIdpEnabled) {
    throw new ConfigError('AIRLOCK_MODE', `"${e.AIRLOCK_MODE}" enables the development identity provider, which is refused with NODE_ENV=production`);
  }

  let secret = e.AIRLOCK_SESSION_SECRET;
  if (secret === undefined && e.AIRLOCK_SESSION_SECRET_FILE !== undefined) {
    secret = readSecretFile('AIRLOCK_SESSION_SECRET_FILE', e.AIRLOCK_SESSION_SECRET_FILE);
    if (secret.length < 32) throw new ConfigError('AIRLOCK_SESSION_SECRET_FILE', 'secret must be at least 32 characters');
  }
  if (secret === undefined) {
    if (!devIdpEnabled) throw new ConfigError('AIRLOCK_SESSION_SECRET', 'required (or AIRLOCK_SESSION_SECRET_FILE)');
    // Demo and test runs get a fresh secret: sessions do not outlive the process, which is fine there.
    secret = randomBytes(32).toString('base64url');
  }

  const publicUrl = e.AIRLOCK_PUBLIC_URL ?? (devIdpEnabled ? `http://localhost:${e.AIRLOCK_PORT}` : undefined);
  if (publicUrl === undefined) throw new ConfigError('AIRLOCK_PUBLIC_URL', 'required');
  const origin = new URL(publicUrl).origin;
  const secureCookies = !e.AIRLOCK_INSECURE_HTTP_COOKIES;
  if (origin.startsWith('http:') && secureCookies) {
    throw new ConfigError(
      'AIRLOCK_PUBLIC_URL',
      'is plain http, where browsers drop Secure cookies; use https, or set AIRLOCK_INSECURE_HTTP_COOKIES=true for local development',
    );
  }
  if (production && !secureCookies) {
    throw new ConfigError('AIRLOCK_INSECURE_HTTP_COOKIES', 'is refused with NODE_ENV=production');
  }

  let vaultKeys = e.AIRLOCK_VAULT_KEYS;
  if (vaultKeys === undefined && e.AIRLOCK_VAULT_KEYS_FILE !== undefined) vaultKeys = readSecretFile('AIRLOCK_VAULT_KEYS_FILE', e.AIRLOCK_VAULT_KEYS_FILE);
  if (vaultKeys === undefined) {
    if (!devIdpEnabled) throw new ConfigError('AIRLOCK_VAULT_KEYS', 'required (or AIRLOCK_VAULT_KEYS_FILE): the credential encryption keyring');
    // Demo and test runs seal credentials under a key that lives as long as the process.
    vaultKeys = `demo:${randomBytes(32).toString('base64')}`;
  }
  try {
    parseKeyring(vaultKeys);
  } catch (err) {
    throw new ConfigError(e.AIRLOCK_VAULT_KEYS === undefined ? 'AIRLOCK_VAULT_KEYS_FILE' : 'AIRLOCK_VAULT_KEYS', errorMessage(err));
  }
  const guacds: Record<string, { host: string; port: number }> = { default: e.AIRLOCK_GUACD };
  for (const entry of e.AIRLOCK_GUACDS?.split(',') ?? []) {
    const [id = '', hostPort = ''] = entry.split('=');
    const i = hostPort.lastIndexOf(':');
    guacds[id] = { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
  }
  const sharedSpoolGuacds = e.AIRLOCK_GUACD_SHARED_SPOOL === 'none' ? [] : e.AIRLOCK_GUACD_SHARED_SPOOL.split(',');
  for (const id of sharedSpoolGuacds) {
    if (guacds[id] === undefined) throw new ConfigError('AIRLOCK_GUACD_SHARED_SPOOL', `no guacd "${id}" (AIRLOCK_GUACD is "default", AIRLOCK_GUACDS names the others)`);
  }

  let spool = e.AIRLOCK_RECORDING_SPOOL;
  if (spool === undefined) {
    if (!devIdpEnabled) throw new ConfigError('AIRLOCK_RECORDING_SPOOL', 'required: the directory guacd writes recordings into');
    spool = path.join(tmpdir(), `airlock-spool-${process.pid}`);
  }

  const s3 = e.AIRLOCK_RECORDING_BACKEND === 's3' ? s3StoreConfig(env) : undefined;
  let store = e.AIRLOCK_RECORDING_STORE;
  if (store === undefined) {
    if (!devIdpEnabled && s3 === undefined) throw new ConfigError('AIRLOCK_RECORDING_STORE', 'required: the directory finalised recordings are kept in');
    store = path.join(tmpdir(), `airlock-recordings-${process.pid}`);
  }
  let signingKeyPem: string | undefined;
  if (e.AIRLOCK_SIGNING_KEY_FILE !== undefined) signingKeyPem = readSecretFile('AIRLOCK_SIGNING_KEY_FILE', e.AIRLOCK_SIGNING_KEY_FILE);
  else if (!devIdpEnabled) throw new ConfigError('AIRLOCK_SIGNING_KEY_FILE', 'required: the Ed25519 private key (PEM) that signs recording manifests');
  if (signingKeyPem !== undefined) {
    try {
      if (createPrivateKey(signingKeyPem).asymmetricKeyType !== 'ed25519') throw new Error('not Ed25519');
    } catch {
      throw new ConfigError('AIRLOCK_SIGNING_KEY_FILE', 'must hold an Ed25519 private key in PEM (openssl genpkey -algorithm ed25519)');
    }
  }

  const { redis, redisDurability } = redisConfig(e);

  let identity: IdentityConfig | undefined;
  if (e.AIRLOCK_IDENTITY_FILE !== undefined) identity = loadIdentityFile(e.AIRLOCK_IDENTITY_FILE);
  else if (!devIdpEnabled) throw new ConfigError('AIRLOCK_IDENTITY_FILE', 'required: the YAML file naming the OpenID providers');

  let siem: SiemConfig | undefined;
  if (e.AIRLOCK_SYSLOG_URL !== undefined) {
    const caFile = e.AIRLOCK_SYSLOG_CA_FILE;
    if (caFile !== undefined && e.AIRLOCK_SYSLOG_URL.protocol !== 'tls') throw new ConfigError('AIRLOCK_SYSLOG_CA_FILE', 'only applies to a tls:// AIRLOCK_SYSLOG_URL');
    siem = Object.freeze({
      ...e.AIRLOCK_SYSLOG_URL,
      appName: e.AIRLOCK_SYSLOG_APP_NAME,
      facility: e.AIRLOCK_SYSLOG_FACILITY,
      caPem: caFile === undefined ? undefined : readSecretFile('AIRLOCK_SYSLOG_CA_FILE', caFile),
    });
  } else if (e.AIRLOCK_SYSLOG_CA_FILE !== undefined) {
    throw new ConfigError('AIRLOCK_SYSLOG_CA_FILE', 'set without AIRLOCK_SYSLOG_URL');
  }

  let metricsToken = e.AIRLOCK_METRICS_TOKEN;
  if (metricsToken === undefined && e.AIRLOCK_METRICS_TOKEN_FILE !== undefined) {
    metricsToken = readSecretFile('AIRLOCK_METRICS_TOKEN_FILE', e.AIRLOCK_METRICS_TOKEN_FILE);
    if (metricsToken.length < 32) throw new ConfigError('AIRLOCK_METRICS_TOKEN_FILE', 'token must be at least 32 characters');
  }
  // Figures name sites and guacds: off a loopback address, only with a token.
  const metricsListen = e.AIRLOCK_METRICS_LISTEN;
  if (metricsListen !== undefined && metricsToken === undefined && !/^(127\.\d+\.\d+\.\d+|localhost)$/.test(metricsListen.host)) {
    throw new ConfigError('AIRLOCK_METRICS_LISTEN', 'a non-loopback address needs AIRLOCK_METRICS_TOKEN (or AIRLOCK_METRICS_TOKEN_FILE)');
  }

  return Object.freeze({
    mode: e.AIRLOCK_MODE,
    production,
    listen: Object.freeze({ host: e.AIRLOCK_LISTEN_HOST, port: e.AIRLOCK_PORT }),
    publicUrl: origin,
    redis,
    redisCommandTimeoutMs: e.AIRLOCK_REDIS_COMMAND_TIMEOUT_MS,
    redisDurability,
    drainMs: e.AIRLOCK_DRAIN_SECONDS * 1000,
    guacd: Object.freeze(e.AIRLOCK_GUACD),
    guacds: Object.freeze(guacds),
    sharedSpoolGuacds: Object.freeze(sharedSpoolGuacds),
    inventoryFile: e.AIRLOCK_INVENTORY_FILE,
    vaultKeys,
    rateLimits: Object.freeze({
      writesPerMinute: e.AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE,
      readsPerMinute: e.AIRLOCK_RATE_LIMIT_READS_PER_MINUTE,
      signInsPerMinute: e.AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE,
      chatCallbacksPerMinute: e.AIRLOCK_RATE_LIMIT_CHAT_CALLBACKS_PER_MINUTE,
    }),
    sweepIntervalMs: e.AIRLOCK_SWEEP_INTERVAL_MS,
    chatFile: e.AIRLOCK_CHAT_FILE,
    siem,
    metrics: Object.freeze({ listen: metricsListen, token: metricsToken }),
    recording: Object.freeze({
      spool: path.resolve(spool),
      minFreeBytes: e.AIRLOCK_RECORDING_MIN_FREE_MB * 1024 * 1024,
      store: path.resolve(store),
      s3,
      signingKeyPem,
      retentionDays: e.AIRLOCK_RETENTION_DAYS,
      purgeIntervalMs: e.AIRLOCK_PURGE_INTERVAL_MS,
      renderWorker: e.AIRLOCK_RENDER_WORKER,
      chromiumPath: e.AIRLOCK_CHROMIUM_PATH,
      keyframeEveryBytes: e.AIRLOCK_KEYFRAME_EVERY_KB * 1024,
    }),
    broker: Object.freeze({
      readyTimeoutMs: e.AIRLOCK_SESSION_READY_TIMEOUT_MS,
      guacdPaceMs: e.AIRLOCK_GUACD_PACE_MS,
      guacdMaxSetups: e.AIRLOCK_GUACD_MAX_SETUPS,
      caps: Object.freeze({
        perGrant: e.AIRLOCK_MAX_SESSIONS_PER_GRANT,
        perUser: e.AIRLOCK_MAX_SESSIONS_PER_USER,
        perGuacd: e.AIRLOCK_MAX_SESSIONS_PER_GUACD,
        perInstance: e.AIRLOCK_MAX_SESSIONS_PER_INSTANCE,
      }),
      refusalsPerMinute: e.AIRLOCK_TUNNEL_REFUSALS_PER_MINUTE,
      refusalAuditWindowMs: e.AIRLOCK_REFUSAL_AUDIT_WINDOW_MS,
      grantRecheckMs: e.AIRLOCK_GRANT_RECHECK_MS,
      storeOutageGraceMs: e.AIRLOCK_STORE_OUTAGE_GRACE_MS,
    }),
    files: Object.freeze({
      clamd: e.AIRLOCK_CLAMD === undefined ? undefined : Object.freeze(e.AIRLOCK_CLAMD),
      scanTimeoutMs: e.AIRLOCK_CLAMD_TIMEOUT_MS,
      quarantineDir: path.resolve(e.AIRLOCK_QUARANTINE_DIR ?? path.join(path.dirname(path.resolve(spool)), `${path.basename(spool)}-quarantine`)),
      rdpDriveRoot: e.AIRLOCK_RDP_DRIVE_ROOT ?? (devIdpEnabled ? path.join(tmpdir(), 'airlock-rdp-drives') : '/var/lib/guacd/airlock-drives'),
    }),
    instanceId: e.AIRLOCK_INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    session: Object.freeze({ secret, ttlSeconds: e.AIRLOCK_SESSION_TTL_SECONDS, secureCookies }),
    identityMaxAgeMs: e.AIRLOCK_IDENTITY_MAX_AGE_SECONDS * 1000,
    trustProxy: e.AIRLOCK_TRUST_PROXY,
    logLevel: e.AIRLOCK_LOG_LEVEL,
    clientDir: e.AIRLOCK_CLIENT_DIR,
    devIdp: Object.freeze({
      enabled: devIdpEnabled,
      password: e.AIRLOCK_DEV_IDP_PASSWORD ?? randomBytes(9).toString('base64url'),
    }),
    identity,
  });
}
