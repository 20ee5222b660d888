// The instance's heartbeat and what it sweeps: registry entries of instances that died (audited
// as lost), live views those instances held, and spool sessions nobody holds any more (finalised as orphans).
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import { errorMessage } from '../server/errors.ts';
import type { Finaliser, SessionContext } from '../recordings/finaliser.ts';
import { HEARTBEAT_INTERVAL_MS, type SessionRegistry } from './registry.ts';
import type { LocalSessions } from './local.ts';
import type { SessionWatchers } from './watchers.ts';
import type { SessionLifecycle } from './lifecycle.ts';

export interface HousekeepingDeps {
  log: Logger;
  redis: RedisClient;
  instanceId: string;
  registry: SessionRegistry;
  watchers: SessionWatchers;
  local: LocalSessions;
  lifecycle: SessionLifecycle;
  finaliser: Finaliser;
}

export class Housekeeping {
  private readonly deps: HousekeepingDeps;
  private timer: NodeJS.Timeout | undefined;

  constructor(deps: HousekeepingDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    await this.round();
    this.timer = setInterval(() => {
      this.round().catch((err: unknown) => this.deps.log.warn({ err: { message: errorMessage(err) } }, 'session registry heartbeat failed'));
    }, HEARTBEAT_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async round(): Promise<void> {
    await this.deps.registry.heartbeat();
    for (const lost of await this.deps.registry.heal()) await this.deps.lifecycle.lost(lost);
    // Views held by an instance that died never said goodbye: the vendor must not see them as watching.
    await this.deps.watchers.heal(await this.deps.registry.all());
    await this.deps.lifecycle.retryUnfinished();
    await this.finaliseOrphans();
  }

  /** Sessions in the spool whose instance died, or that this instance no longer holds. */
  private async finaliseOrphans(): Promise<void> {
    const { instanceId, local, redis, lifecycle } = this.deps;
    await this.deps.finaliser.pickUpOrphans(async (context: SessionContext) =>
      context.instance === instanceId
        ? !local.has(context.sessionId) && !lifecycle.isUnfinished(context.sessionId)
        : (await redis.exists(keys.sessions.instance(context.instance))) === 0,
    );
  }
}
