// The plugin contract: integrations (chat approvals, SIEM forwarding, …) are switched on by
// their own configuration, react to domain events, and may add routes. The list of plugins and
// their start-up live in the composition root (server/app/plugins.ts), so that this contract
// depends on no integration and no integration on the list.
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { RedisClient } from '../redis.ts';
import type { AuditLog } from '../audit/store.ts';
import type { InventoryStore } from '../inventory/store.ts';
import type { EventBus } from '../events/bus.ts';
import type { RequestService } from '../requests/service.ts';
import type { AirlockUser } from '../user.ts';
import type { SignOutReason } from '../events/bus.ts';
import type { IdentityFreshness } from '../auth/freshness.ts';
import type { Metrics } from '../metrics.ts';

/** What integrations may do to live sessions; sessions/ provides it through the composition root. */
export interface SessionControl {
  /** Ends a live session on whichever instance holds it (audited as `session.terminated`); `revoke` also revokes its grant. */
  terminate(user: AirlockUser, sessionId: string, reason: string | undefined, opts?: { revoke?: boolean }): Promise<void>;
}

/** A file through the airlock as integrations show it (sessions/files presents it: PlantFileView). */
export interface AirlockFile {
  id: string;
  sessionId: string;
  direction: 'in' | 'out';
  name: string;
  bytes: number;
  sha256: string;
  state: string;
  scan: { result: 'clean' | 'infected' | 'error'; signature: string | null; error: string | null } | null;
  decision: { by: { id: string; name: string } | null; outcome: 'released' | 'denied' } | null;
  by: { id: string; name: string };
  machine: { id: string; siteId: string };
  machineName: string;
  vendorCompany: string | null;
}

/** What integrations may do with the file airlock (chat's Release / Deny); sessions/ provides it. */
export interface FileControl {
  file(fileId: string): Promise<AirlockFile | undefined>;
  /** Releases or denies a file waiting for a plant manager, with the web's rules (policies.ts assertMayDecideFile), audited. */
  decide(user: AirlockUser, fileId: string, outcome: 'released' | 'denied', reason: string | undefined): Promise<unknown>;
}

export interface PluginContext {
  config: Config;
  log: Logger;
  redis: RedisClient;
  audit: AuditLog;
  inventory: InventoryStore;
  events: EventBus;
  requests: RequestService;
  /** Live sessions (chat's Terminate button). */
  sessions: SessionControl;
  /** The file airlock (chat's Release / Deny buttons and its file messages). */
  files: FileControl;
  /** Identity freshness: who a user is as the IdP said within the max age (chat decisions). */
  identity: Pick<IdentityFreshness, 'maxAgeMs' | 'freshUser' | 'sessionIdentity'>;
  /** Counters an integration adds to (chat delivery failures). */
  metrics?: Metrics | undefined;
}

export interface PortalPlugin {
  readonly name: string;
  /** Routes mounted on the portal (after the session middleware: `currentUser` works). */
  routes?(): Router;
  /** After every successful sign-in, with the user as the ID token made them (before the redirect). */
  onSignIn?(user: AirlockUser): Promise<void>;
  /**
   * After every validation of a user with the IdP: each sign-in (before its redirect) and each
   * accepted re-validation (identity freshness), with the user as the IdP says now.
   */
  onIdentityValidated?(user: AirlockUser, validatedAt: Date): Promise<void>;
  /** After sign-ins of the user ended (sign-out, back-channel logout, refused refresh, expiry). */
  onSignedOut?(userId: string, reason: SignOutReason): Promise<void>;
  stop(): Promise<void>;
}

export type PluginFactory = (ctx: PluginContext) => Promise<PortalPlugin | undefined>;
