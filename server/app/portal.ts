// Assembles a running portal from a validated Config: Redis, identity (with the embedded dev
// IdP in demo and test modes), the express app and the HTTP server. main.ts and the tests use it.
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, IdentityConfig } from '../config.ts';
import { validateIdentity } from '../config.ts';
import { connectRedis, redisAlive, type RedisClient } from '../redis.ts';
import { Metrics, type MetricSources } from '../metrics.ts';
import { metricsHandler, metricsRoute, startMetricsServer } from '../http/metrics.ts';
import { keys } from '../keys.ts';
import { OidcLogin } from '../auth/oidc.ts';
import { IdentityStore } from '../auth/identity-store.ts';
import { IdentityFreshness } from '../auth/freshness.ts';
import { TokenSeal } from '../auth/token-seal.ts';
import { backchannelLogoutUrl } from '../auth/backchannel.ts';
import type { PortalPlugin } from '../plugins/contract.ts';
import type { AirlockUser } from '../user.ts';
import { createApp } from './express.ts';
import type { PortalServices } from './services.ts';
import { createDevIdp, DEMO_GROUPS, DEV_ACR_MFA, DEV_CLIENT_ID, DEV_IDP_MOUNT, type DevIdp } from '../auth/dev-idp.ts';
import { AuditLog } from '../audit/store.ts';
import { AggregatedAudit } from '../audit/aggregated.ts';
import { InventoryStore, loadInventoryFile } from '../inventory/store.ts';
import { Vault } from '../vault/vault.ts';
import { parseKeyring } from '../keyring.ts';
import { EventBus } from '../events/bus.ts';
import { RequestStore } from '../requests/store.ts';
import { RequestService } from '../requests/service.ts';
import { startPlugins } from './plugins.ts';
import { createSessionMiddleware } from '../http/session.ts';
import { SessionBroker } from '../../sessions/broker.ts';
import { attachTunnel } from '../../sessions/tunnel/guard.ts';
import { Finaliser } from '../../recordings/finaliser.ts';
import { RecordingCatalog } from '../../recordings/catalog.ts';
import { ManifestSigner } from '../../recordings/signing.ts';
import { RecordingService } from '../../recordings/service.ts';
import { RetentionPolicy } from '../../recordings/retention.ts';
import { recordingStore } from './recording-store.ts';
import { errorMessage } from '../errors.ts';

export interface Portal {
  readonly url: string;
  readonly server: http.Server;
  readonly redis: RedisClient;
  readonly services: PortalServices;
  /** The embedded development IdP (demo and test modes), with its directory admin surface. */
  readonly devIdp: DevIdp | undefined;
  /** This instance's Prometheus registry and, with AIRLOCK_METRICS_LISTEN, where it is served. */
  readonly metrics: Metrics;
  readonly metricsUrl: string | undefined;
  /**
   * SIGTERM's first step (main.ts): readiness answers 503 `draining` so load balancers move
   * away, new sessions are refused here, live ones are warned and ended after at most
   * AIRLOCK_DRAIN_SECONDS. close() follows.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A draining instance keeps answering HTTP at least this long (unless the drain is shorter), so
 * a load balancer polling /readyz every second or so has seen the 503 before the port closes.
 */
const LOAD_BALANCER_NOTICE_MS = 3_000;
/** close(): in-flight requests get this long before the remaining connections (SSE streams) are cut. */
const CLOSE_GRACE_MS = 2_000;

/** The dev IdP and the identity config that trusts it, both on the portal's own origin. */
function devIdentity(config: Config): { devIdp: DevIdp; identity: IdentityConfig } {
  const issuer = `${config.publicUrl}${DEV_IDP_MOUNT}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const devIdp = createDevIdp({
    issuer,
    clientSecret,
    password: config.devIdp.password,
    redirectUris: [`${config.publicUrl}/auth/callback/dev`],
    backchannelLogoutUri: backchannelLogoutUrl(config.publicUrl, 'dev'),
    sessionTtlSeconds: config.session.ttlSeconds,
  });
  const identity = validateIdentity(
    {
      defaultProvider: 'dev',
      providers: [
        {
          id: 'dev',
          label: 'Airlock demo sign-in',
          issuer,
          clientId: DEV_CLIENT_ID,
          clientSecret,
          scopes: ['openid', 'profile', 'email', 'groups'],
          allowInsecureRequests: issuer.startsWith('http:'),
          // The demo's staff accounts carry Entra-style object ids, as an Entra ID sign-in would.
          entraObjectIdClaim: 'oid',
          // Its one-time codes show as amr `otp` and acr DEV_ACR_MFA; step-up asks for that level.
          mfa: { acr: [DEV_ACR_MFA], acrValues: DEV_ACR_MFA },
        },
      ],
      groups: DEMO_GROUPS,
    },
    'dev identity',
  );
  return { devIdp, identity };
}

/** What the scrape reads from this instance: its sessions, the guacds' handshakes, a Redis PING. */
function metricSources(broker: SessionBroker, redis: RedisClient): MetricSources {
  return {
    liveSessions: () => broker.localConnections().flatMap((c) => (c.kind === 'session' && c.record !== undefined ? [{ siteId: c.record.machine.siteId, protocol: c.record.machine.protocol }] : [])),
    settingUp: () => broker.localConnections().filter((c) => c.kind === 'session' && c.record === undefined).length,
    guacds: () => broker.guacdHealth.all(),
    redisPing: async () => {
      const started = performance.now();
      return (await redisAlive(redis, 1_000)) ? (performance.now() - started) / 1000 : undefined;
    },
  };
}

export async function startPortal(config: Config, log: Logger): Promise<Portal> {
  const redis = await connectRedis(config.redis, log, 'airlock', config.redisCommandTimeoutMs, config.redisDurability);
  const metrics = new Metrics();
  let devIdp: DevIdp | undefined;
  let identity = config.identity;
  if (config.devIdp.enabled && identity === undefined) ({ devIdp, identity } = devIdentity(config));
  if (identity === undefined) throw new Error('no identity configuration'); // config.ts guarantees one
  const signIns = new IdentityStore(redis);
  const login = new OidcLogin(identity, config.publicUrl, signIns);
  // Validate the inventory and the keyring before touching Redis: a bad file is a start-up error.
  const inventoryFile = config.inventoryFile === undefined ? undefined : loadInventoryFile(config.inventoryFile);
  const keyring = parseKeyring(config.vaultKeys);

  const audit = new AuditLog(redis);
  const inventory = new InventoryStore(redis);
  if (inventoryFile !== undefined && (await inventory.seed(inventoryFile))) log.info({ file: config.inventoryFile }, 'inventory imported');
  const vault = new Vault(redis, keyring);
  const events = await EventBus.start(redis, log);
  // The plugins hear of every validation and sign-out; they start after identity (chat needs it).
  let plugins: PortalPlugin[] = [];
  const eachPlugin = async (what: string, call: (plugin: PortalPlugin) => Promise<void> | undefined): Promise<void> => {
    for (const plugin of plugins) {
      try {
        await call(plugin);
      } catch (err) {
        log.warn({ err: { message: (err as Error).message }, plugin: plugin.name }, `plugin ${what} hook failed`);
      }
    }
  };
  const freshness = new IdentityFreshness({
    login,
    store: signIns,
    seal: new TokenSeal(keyring),
    audit,
    events,
    log,
    maxAgeMs: config.identityMaxAgeMs,
    sweepIntervalMs: config.sweepIntervalMs,
    hooks: {
      validated: (user, validatedAt) => eachPlugin('identity', (p) => p.onIdentityValidated?.(user, validatedAt)),
      signedOut: (userId, reason) => eachPlugin('sign-out', (p) => p.onSignedOut?.(userId, reason)),
    },
  });
  freshness.start();
  const requests = new RequestService({ store: new RequestStore(redis), inventory, audit, events, metrics });
  const signer = new ManifestSigner(config.recording.signingKeyPem);
  const catalog = new RecordingCatalog(redis, signer.searchIndexKey());
  // Entries indexed before words were hashed lose their plaintext words here (issue 11).
  const upgraded = await catalog.upgradeIndex();
  if (upgraded.rehashed > 0) log.info({ recordings: upgraded.rehashed }, 'search index: plaintext words replaced by keyed hashes');
  if (upgraded.otherKey > 0) log.warn({ recordings: upgraded.otherKey }, 'search index: recordings indexed under another signing key cannot be found by words');
  const store = recordingStore(config.recording);
  const retention = new RetentionPolicy({ redis, inventory, defaultDays: config.recording.retentionDays });
  const finaliser = new Finaliser({ spool: config.recording.spool, store, retention, log, redis, audit, events, catalog, signer, requests });
  const broker = new SessionBroker({ config, log, redis, audit, events, inventory, vault, requests, finaliser, metrics });
  await broker.start();
  metrics.watch(metricSources(broker, redis));
  plugins = await startPlugins({ config, log, redis, audit, inventory, events, requests, sessions: broker, files: broker.files, identity: freshness, metrics });
  const recordingService = new RecordingService({ store, redis, catalog, audit, signer, retention, log });
  // The renderer (Chromium) is loaded only where it runs: most portals leave it to `airlock worker`.
  const worker =
    config.recording.renderWorker === 'inprocess'
      ? new (await import('../../recordings/worker.ts')).RenderWorker({ redis, store: config.recording.store, catalog, audit, signer, log, chromiumPath: config.recording.chromiumPath, keyframeEveryBytes: config.recording.keyframeEveryBytes })
      : undefined;
  worker?.start();
  const services: PortalServices = { audit, inventory, vault, events, requests, plugins, broker, identity: freshness, recordings: { catalog, finaliser, signer, service: recordingService, worker } };
  // Retention: one instance at a time purges (a short lock), every purge interval.
  const purger = setInterval(() => {
    redis
      .set(keys.recordings.purgeLock, config.instanceId, { NX: true, PX: Math.max(1_000, config.recording.purgeIntervalMs - 1_000) })
      .then((got) => (got === null ? undefined : recordingService.purge()))
      .catch((err: unknown) => log.warn({ err: { message: errorMessage(err) } }, 'retention purge failed'));
  }, config.recording.purgeIntervalMs);
  purger.unref();

  // Every instance sweeps; the Lua transitions make concurrent sweeps harmless.
  const sweeper = setInterval(() => {
    requests.sweep().catch((err: unknown) => log.warn({ err: { message: errorMessage(err) } }, 'sweep failed'));
  }, config.sweepIntervalMs);
  sweeper.unref();

  const sessionMiddleware = createSessionMiddleware(config, redis);
  // Each plugin hears of every sign-in; one failing does not keep the others from it.
  const onSignIn = async (user: AirlockUser): Promise<void> => {
    for (const plugin of plugins) {
      try {
        await plugin.onSignIn?.(user);
      } catch (err) {
        log.warn({ err: { message: errorMessage(err) }, plugin: plugin.name }, 'plugin sign-in hook failed');
      }
    }
  };
  // /metrics: on a listener of its own when one is configured, else on this one with the token.
  const scrape = metricsHandler(metrics, config.metrics.token, log);
  const metricsServer = config.metrics.listen === undefined ? undefined : await startMetricsServer(config.metrics.listen, scrape);
  // Refused sign-ins, back-channel logouts and the sign-in limit's 429s: audited, aggregated.
  const refused = new AggregatedAudit({ audit, log, windowMs: config.broker.refusalAuditWindowMs });
  const app = createApp({
    config,
    log,
    redis,
    login,
    devIdp,
    services,
    sessionMiddleware,
    onSignIn,
    signIns,
    refused,
    ...(metricsServer === undefined && config.metrics.token !== undefined ? { metricsRoutes: metricsRoute(scrape) } : {}),
  });
  const server = http.createServer(app);
  const tunnel = attachTunnel(server, {
    publicUrl: config.publicUrl,
    log,
    sessionMiddleware,
    tickets: broker.tickets,
    authorizer: broker.authorizer,
    refusals: broker.refusals,
    freshUser: (browserSessionId) => freshness.freshSessionUser(browserSessionId),
    draining: () => broker.draining,
    open: (ws, auth, display) => broker.open(ws, auth, display),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.listen.port;
  let closing: Promise<void> | undefined;
  let draining: Promise<void> | undefined;
  return {
    url: `http://${config.listen.host}:${port}`,
    server,
    redis,
    services,
    devIdp,
    metrics,
    metricsUrl: metricsServer?.url,
    drain() {
      draining ??= (async () => {
        log.info({ drainMs: config.drainMs, sessions: broker.localSessionIds().length }, 'draining: no new sessions; live ones are warned, then ended');
        await Promise.all([broker.drain(config.drainMs), delay(Math.min(config.drainMs, LOAD_BALANCER_NOTICE_MS), undefined, { ref: false })]);
      })();
      return draining;
    },
    close() {
      closing ??= (async () => {
        await metricsServer?.close();
        clearInterval(sweeper);
        freshness.stop();
        clearInterval(purger);
        for (const plugin of plugins) await plugin.stop();
        await broker.stop();
        await worker?.stop();
        tunnel.close();
        await refused.stop();
        await events.close();
        store.destroy?.();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Event streams never finish by themselves; browsers reopen them (elsewhere).
          setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
        });
        redis.destroy();
      })();
      return closing;
    },
  };
}
