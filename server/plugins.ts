// Integrations (chat approvals, SIEM forwarding, …) plug into the portal here: each one is
// switched on by its own configuration, reacts to domain events, and may add routes. The portal
// starts them after its core services and stops them before closing Redis.
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { RedisClient } from './redis.ts';
import type { AuditLog } from './audit/store.ts';
import type { InventoryStore } from './inventory/store.ts';
import type { EventBus } from './events/bus.ts';
import type { RequestService } from './requests/service.ts';
import { chatPluginFactory } from './chat/plugin.ts';
import { siemPluginFactory } from './siem/plugin.ts';
import type { SessionBroker } from '../sessions/broker.ts';
import type { AirlockUser } from './auth/identity.ts';

export interface PluginContext {
  config: Config;
  log: Logger;
  redis: RedisClient;
  audit: AuditLog;
  inventory: InventoryStore;
  events: EventBus;
  requests: RequestService;
  /** Live sessions: list, watch tickets, terminate (chat's Watch and Terminate buttons). */
  broker: SessionBroker;
}

export interface PortalPlugin {
  readonly name: string;
  /** Routes mounted on the portal (after the session middleware: `currentUser` works). */
  routes?(): Router;
  /** After every successful sign-in, with the user as the ID token made them (before the redirect). */
  onSignIn?(user: AirlockUser): Promise<void>;
  stop(): Promise<void>;
}

export type PluginFactory = (ctx: PluginContext) => Promise<PortalPlugin | undefined>;

/** Every known integration; each returns undefined when its configuration is absent. */
export const PLUGINS: PluginFactory[] = [chatPluginFactory(), siemPluginFactory()];

export async function startPlugins(ctx: PluginContext): Promise<PortalPlugin[]> {
  const started: PortalPlugin[] = [];
  for (const factory of PLUGINS) {
    const plugin = await factory(ctx);
    if (plugin !== undefined) {
      ctx.log.info({ plugin: plugin.name }, 'integration started');
      started.push(plugin);
    }
  }
  return started;
}
