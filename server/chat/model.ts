// The vocabulary the approval core and the platform adapters share: a verified click, a
// platform-neutral message, where a message goes and where a posted copy lives.
import type { Router } from 'express';

export const PLATFORMS = ['slack', 'teams', 'mattermost'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** What a button asks for. Approve/deny/shorten decide; terminate and extend act on a grant; release_file/deny_file decide a file in the airlock. */
export const CHAT_ACTIONS = ['approve', 'deny', 'shorten', 'terminate', 'terminate_revoke', 'extend', 'release_file', 'deny_file'] as const;
export type ChatAction = (typeof CHAT_ACTIONS)[number];

/** A chat user on a platform: the workspace is a Slack team, an Entra tenant or a Mattermost team. */
export interface ChatIdentity {
  platform: Platform;
  workspace: string;
  userId: string;
  /** Shown in Airlock's list of linked accounts; never used to match anyone. */
  displayName?: string;
  /** What a direct message needs besides the user id (Teams: the member id and service URL). */
  address?: Record<string, string>;
}

/** A callback the adapter has verified (signature, token or context HMAC) and parsed. */
export interface ChatClick {
  actor: ChatIdentity;
  action: ChatAction;
  requestId: string;
  /** The button's nonce: only the current one for its message counts. */
  nonce: string;
  /** For terminate: the brokered session. */
  sessionId?: string;
  /** For release_file / deny_file: the file in the airlock. */
  fileId?: string;
}

/** What the clicker is told (ephemerally); the shared messages change through domain events. */
export interface ClickOutcome {
  ok: boolean;
  /** Stable code for tests and the audit log (`approved`, `not_linked`, `already_decided`, …). */
  code: string;
  text: string;
}

/** A button's payload, as each platform carries it back to us. */
export interface ButtonValue {
  requestId: string;
  nonce: string;
  sessionId?: string;
  fileId?: string;
}

export type MessageAction =
  | { kind: 'button'; action: ChatAction; label: string; style: 'primary' | 'danger' | 'default'; value: ButtonValue }
  | { kind: 'link'; label: string; url: string };

/** A platform-neutral message; each adapter renders it (Block Kit, Adaptive Card, attachment). */
export interface ChatMessage {
  /** The request the message is about: the copy keeps naming it once its buttons are gone. */
  requestId: string;
  /** One-line summary: notification text and the fallback where cards do not render. */
  text: string;
  title: string;
  fields: Array<{ label: string; value: string }>;
  /** The state line under the fields ("Approved by Mona Manager"), if any. */
  status?: string;
  actions: MessageAction[];
  /** Buttons and links carry their own expiry in Mattermost's signed context. */
  expiresAt: Date;
}

/** Where to post: a configured channel, or a direct message to a linked user. */
export type Destination =
  | { kind: 'channel'; channel: string; serviceUrl?: string }
  | { kind: 'direct'; user: ChatIdentity }
  | { kind: 'webhook'; url: string };

/** A posted copy, enough to update it later. `id` is unique per platform. */
export interface CopyRef {
  platform: Platform;
  id: string;
  /** Platform-specific coordinates (Slack channel+ts, Teams serviceUrl+conversation+activity, Mattermost post). */
  where: Record<string, string>;
  /** Webhook cards cannot be updated. */
  updatable: boolean;
}

/** The approval core as the adapters see it. */
export interface ClickHandler {
  handle(click: ChatClick): Promise<ClickOutcome>;
  /** Audits (aggregated) an authentic callback from a workspace, tenant or team that is not allowed. */
  rejected(who: ChatIdentity, reason: string): Promise<void>;
  /**
   * Audits (aggregated per source address and reason) a callback that did not prove where it came
   * from: a bad signature, token or button context. Never waits or throws: the refusal is answered at once.
   */
  forged(platform: Platform, reason: string, ip: string | undefined): void;
}

export interface ChatAdapter {
  readonly platform: Platform;
  post(to: Destination, message: ChatMessage): Promise<CopyRef>;
  update(copy: CopyRef, message: ChatMessage): Promise<void>;
  /** The user's verified email from the platform's directory (for admin-enabled email matching). */
  verifiedEmail(user: ChatIdentity): Promise<string | undefined>;
  /** The callback endpoints, mounted at the portal's root. */
  routes(core: ClickHandler): Router;
  /** Connections the adapter opens itself (Slack Socket Mode); started with the plugin. */
  start?(core: ClickHandler): void;
  stop?(): Promise<void>;
}
