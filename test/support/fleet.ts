// Several portal processes behind HAProxy, as a plant runs them: one Redis, one spool and store
// they all see, the same secrets, a separate OpenID provider (the embedded dev IdP lives in one
// process and cannot serve several), and users who reach the portals only through the load
// balancer. Each instance is its own process, so a test can SIGKILL or SIGTERM it.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../dev/probes.ts';
import { startHaproxy, type Haproxy } from '../../dev/haproxy.ts';
import { startTestIdp, type TestIdpAccount } from './test-idp.ts';
import { Browserless, startLogin, submitLogin } from './http.ts';
import { waitFor } from './wait.ts';

const PASSWORD = 'fleet-password-1';
const PROVIDER = 'staff';
const CLIENT_ID = 'airlock-fleet';
/** A portal process is ready when its /readyz answers 200; start-up is a few seconds. */
const READY_TIMEOUT_MS = 30_000;
/** Rate limits off: a few test accounts do everything. */
const UNLIMITED = '1000000';

/** The fleet's accounts: vendors of two companies, a plant manager of site A, an auditor. */
const ACCOUNTS: TestIdpAccount[] = [
  { sub: 'vera', name: 'Vera Vendor', groups: ['vendors'], company: 'acme-automation' },
  { sub: 'victor', name: 'Victor Vendor', groups: ['vendors'], company: 'bolt-robotics' },
  { sub: 'mona', name: 'Mona Manager', groups: ['plant-a-managers'] },
  { sub: 'aude', name: 'Aude Auditor', groups: ['auditors'] },
];
const GROUPS = {
  vendors: { roles: ['vendor'] },
  'plant-a-managers': { roles: ['approver'], sites: ['site-a'] },
  auditors: { roles: ['auditor'] },
};

export interface FleetInstance {
  readonly id: string;
  readonly port: number;
  /** The instance itself, bypassing the load balancer (what HAProxy's checks see). */
  readonly url: string;
  child: ChildProcess | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Fleet {
  /** Through HAProxy: the portal's public URL. */
  readonly url: string;
  readonly haproxy: Haproxy;
  readonly instances: ReadonlyMap<string, FleetInstance>;
  readonly spool: string;
  readonly store: string;
  /** The shared credential keyring (to seal machine credentials from the test). */
  readonly vaultKeys: string;
  /** Signs in through the load balancer. */
  signIn(username: string): Promise<Browserless>;
  /** Starts (or starts again) an instance, on its port, and waits until it is ready. */
  start(id: string): Promise<void>;
  /** Signals an instance's process; SIGKILL and SIGTERM resolve once it has exited. */
  signal(id: string, sig: 'SIGKILL' | 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export async function startFleet(opts: {
  ids: readonly string[];
  dir: string;
  redisUrl: string;
  guacd: { host: string; port: number };
  env?: Record<string, string>;
}): Promise<Fleet> {
  const lbPort = await freePort();
  const url = `http://127.0.0.1:${lbPort}`;
  const spool = path.join(opts.dir, 'spool');
  const store = path.join(opts.dir, 'store');
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  mkdirSync(store, { recursive: true, mode: 0o700 });
  const signingKey = path.join(opts.dir, 'signing.pem');
  writeFileSync(signingKey, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const vaultKeys = `fleet:${randomBytes(32).toString('base64')}`;
  const idp = await startTestIdp({ clients: [{ clientId: CLIENT_ID, redirectUris: [`${url}/auth/callback/${PROVIDER}`] }], accounts: ACCOUNTS, password: PASSWORD });
  const identityFile = idp.identityFile(opts.dir, { providerId: PROVIDER, clientId: CLIENT_ID, groups: GROUPS });
  const shared = {
    PATH: process.env['PATH'] ?? '',
    NODE_ENV: 'test',
    AIRLOCK_MODE: 'test',
    AIRLOCK_LISTEN_HOST: '127.0.0.1',
    AIRLOCK_PUBLIC_URL: url,
    AIRLOCK_REDIS_URL: opts.redisUrl,
    AIRLOCK_GUACD: `${opts.guacd.host}:${opts.guacd.port}`,
    AIRLOCK_INSECURE_HTTP_COOKIES: 'true',
    AIRLOCK_IDENTITY_FILE: identityFile,
    AIRLOCK_SESSION_SECRET: randomBytes(32).toString('base64url'),
    AIRLOCK_VAULT_KEYS: vaultKeys,
    AIRLOCK_SIGNING_KEY_FILE: signingKey,
    AIRLOCK_RECORDING_SPOOL: spool,
    AIRLOCK_RECORDING_STORE: store,
    AIRLOCK_RECORDING_MIN_FREE_MB: '1',
    AIRLOCK_LOG_LEVEL: 'warn',
    AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: UNLIMITED,
    AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: UNLIMITED,
    AIRLOCK_RATE_LIMIT_SIGNINS_PER_MINUTE: UNLIMITED,
  };
  const instances = new Map<string, FleetInstance>();
  for (const id of opts.ids) {
    const port = await freePort();
    instances.set(id, { id, port, url: `http://127.0.0.1:${port}`, child: undefined, exited: Promise.resolve({ code: null, signal: null }) });
  }
  const instance = (id: string): FleetInstance => {
    const i = instances.get(id);
    if (i === undefined) throw new Error(`no instance ${id}`);
    return i;
  };
  const start = async (id: string): Promise<void> => {
    const i = instance(id);
    if (i.child !== undefined && i.child.exitCode === null && i.child.signalCode === null) return;
    const log = openSync(path.join(opts.dir, `portal-${id}.log`), 'a', 0o600);
    try {
      i.child = spawn(process.execPath, [path.join(import.meta.dirname, '../../server/app/main.ts')], {
        stdio: ['ignore', log, log],
        env: { ...shared, AIRLOCK_PORT: String(i.port), AIRLOCK_INSTANCE_ID: `portal-${id}`, ...opts.env },
      });
    } finally {
      closeSync(log);
    }
    const child = i.child;
    i.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await waitFor(async () => (await fetch(`${i.url}/readyz`)).status === 200, { timeoutMs: READY_TIMEOUT_MS, what: `portal ${id} to be ready` });
  };

  const started: string[] = [];
  let haproxy: Haproxy | undefined;
  try {
    await Promise.all(opts.ids.map(async (id) => {
      await start(id);
      started.push(id);
    }));
    haproxy = await startHaproxy({ dir: opts.dir, port: lbPort, backends: opts.ids.map((id) => ({ name: id, port: instance(id).port })) });
    for (const id of opts.ids) await haproxy.waitForServer(id, 'UP');
  } catch (err) {
    await haproxy?.stop();
    for (const id of started) instance(id).child?.kill('SIGKILL');
    await idp.close();
    throw err;
  }
  const lb = haproxy;

  return {
    url,
    haproxy: lb,
    instances,
    spool,
    store,
    vaultKeys,
    async signIn(username) {
      const agent = new Browserless(url);
      const callback = await submitLogin(agent, await startLogin(agent), username, PASSWORD);
      const done = await agent.get(callback, { accept: 'text/html' });
      if (done.status !== 303) throw new Error(`sign-in of ${username} failed (${done.status}): ${done.text.slice(0, 200)}`);
      return agent;
    },
    start,
    async signal(id, sig) {
      const i = instance(id);
      i.child?.kill(sig);
      return i.exited;
    },
    async stop() {
      await lb.stop();
      for (const i of instances.values()) {
        if (i.child !== undefined && i.child.exitCode === null && i.child.signalCode === null) {
          // SIGINT: stop now, no drain.
          i.child.kill('SIGINT');
          const timer = setTimeout(() => i.child?.kill('SIGKILL'), 10_000);
          await i.exited;
          clearTimeout(timer);
        }
      }
      await idp.close();
    },
  };
}
