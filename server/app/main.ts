// Composition root: read the configuration, start the portal, own the process signals.
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { createLogger } from '../log.ts';
import { startPortal } from './portal.ts';

/** How long in-flight requests get to finish on SIGTERM, after the drain, before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;
/** The drain's own bound beyond AIRLOCK_DRAIN_SECONDS: ended sessions' audit events and recordings. */
const DRAIN_WRITE_GRACE_MS = 10_000;

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`airlock: configuration error: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const log = createLogger(config.logLevel);
try {
  const portal = await startPortal(config, log);
  log.info({ url: config.publicUrl, mode: config.mode, listen: portal.url }, 'airlock portal listening');
  let stopping = false;
  // SIGTERM (systemd, a rolling restart) drains first; SIGINT (Ctrl-C) or a second signal stops now.
  const shutdown = (signal: string, drain: boolean): void => {
    if (stopping) {
      if (drain) return;
      log.info({ signal }, 'stopping now');
      portal.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
      return;
    }
    stopping = true;
    log.info({ signal }, drain ? 'shutting down after draining' : 'shutting down');
    setTimeout(() => process.exit(1), (drain ? config.drainMs + DRAIN_WRITE_GRACE_MS : 0) + SHUTDOWN_GRACE_MS).unref();
    (drain ? portal.drain() : Promise.resolve())
      .then(() => portal.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM', true));
  process.on('SIGINT', () => shutdown('SIGINT', false));
} catch (err) {
  log.fatal({ err }, 'airlock failed to start');
  process.exit(1);
}
