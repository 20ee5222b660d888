// The periodic second opinion on every connection this instance holds: pub/sub is only the
// fast path, so every AIRLOCK_GRANT_RECHECK_MS each owner's grant and each browser session
// (sign-out, expiry) is read again, and whatever no longer holds is ended. While the state
// store cannot be read, nothing can be revoked: after a grace, every session ends (fail closed).
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { errorMessage } from '../server/errors.ts';
import type { RequestService } from '../server/requests/service.ts';
import { GUAC_STATUS } from './tunnel/transport.ts';
import type { LocalSessions } from './local.ts';

export interface RevalidationDeps {
  log: Logger;
  redis: RedisClient;
  requests: RequestService;
  local: LocalSessions;
  intervalMs: number;
  outageGraceMs: number;
}

/** Why a grant that no longer holds ended, by the request's state. */
const ENDED_BY_STATE: Record<string, { reason: string; message: string; status: number }> = {
  revoked: { reason: 'revoked', message: 'Access to this machine was revoked.', status: GUAC_STATUS.SESSION_CLOSED },
  cancelled: { reason: 'revoked', message: 'Access to this machine was revoked.', status: GUAC_STATUS.SESSION_CLOSED },
  ended: { reason: 'window_ended', message: 'The access window has ended.', status: GUAC_STATUS.SESSION_TIMEOUT },
};
const NO_LONGER_GRANTED = { reason: 'grant_invalid', message: 'Access to this machine is no longer granted.', status: GUAC_STATUS.CLIENT_FORBIDDEN };
/** A re-check the state store has not answered by then counts as failed (a hung Redis must not stall the grace). */
const ROUND_TIMEOUT_MS = 2_000;

export class Revalidation {
  private readonly deps: RevalidationDeps;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Since when reads of the state store fail (undefined: it answers). */
  private outageSince: number | undefined;

  constructor(deps: RevalidationDeps) {
    this.deps = deps;
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass over the local connections (skipped while the previous one still runs). */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS);
      });
      await Promise.race([this.check(), timeout]).finally(() => clearTimeout(timer));
      this.outageSince = undefined;
    } catch (err) {
      this.outageSince ??= Date.now();
      const down = Date.now() - this.outageSince;
      this.deps.log.warn({ err: { message: errorMessage(err) }, downMs: down }, 'cannot re-check live sessions: state store unreachable');
      if (down >= this.deps.outageGraceMs) {
        for (const c of this.deps.local.all()) {
          c.end('Airlock lost contact with its state store and cannot keep checking this access; the session was ended. Try again in a few minutes.', GUAC_STATUS.SERVER_ERROR, 'store_unreachable');
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async check(): Promise<void> {
    const connections = this.deps.local.all();
    if (connections.length === 0) return;
    const owners = connections.filter((c) => c.kind === 'session');
    const sessionKeys = [...new Set(connections.map((c) => c.browserSessionId))];
    const multi = this.deps.redis.multi();
    for (const id of sessionKeys) multi.exists(`${keys.sessionPrefix}${id}`);
    const [exists, grants] = await Promise.all([
      multi.execAsPipeline() as unknown as Promise<number[]>,
      this.deps.requests.grantStates(owners.map((c) => c.requestId)),
    ]);
    const signedIn = new Set(sessionKeys.filter((_, i) => exists[i] === 1));
    for (const c of connections) {
      if (!signedIn.has(c.browserSessionId)) {
        c.end('You signed out (or your sign-in expired); the session was ended.', GUAC_STATUS.SESSION_CLOSED, 'signed_out');
        continue;
      }
      const grant = c.kind === 'session' ? grants.get(c.requestId) : undefined;
      if (grant === undefined || grant.holds) continue;
      const ended = ENDED_BY_STATE[grant.state ?? ''] ?? NO_LONGER_GRANTED;
      c.end(ended.message, ended.status, ended.reason);
    }
  }
}
