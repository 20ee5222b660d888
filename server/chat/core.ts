// The approval core: one for every platform. It turns a verified click into the same service
// call the web UI makes, with the same rules (RequestService and policies.ts decide), after the
// checks that belong to chat: who the chat user is in Airlock, and whether the button is current.
// Every refused click is audited (callbacks that are forged or from elsewhere aggregated, so that
// a flood writes a handful of events); decisions are audited by RequestService itself.
import type { Logger } from 'pino';
import type { AirlockUser } from '../user.ts';
import type { AuditLog } from '../audit/store.ts';
import type { AggregatedAudit } from '../audit/aggregated.ts';
import { addressKey } from '../http/rate-limit.ts';
import { AppError } from '../errors.ts';
import type { InventoryStore } from '../inventory/store.ts';
import { assertMayTerminateSession, isRequester } from '../policies.ts';
import type { AccessRequest } from '../requests/schema.ts';
import type { RequestService } from '../requests/service.ts';
import { approvalWindow } from '../requests/timing.ts';
import { formatClock } from '../plant-time.ts';
import type { ChatConfig } from './config.ts';
import { EXTEND_MINUTES, SHORTEN_MINUTES } from './messages.ts';
import type { ChatAction, ChatAdapter, ChatClick, ChatIdentity, ClickHandler, ClickOutcome, Platform } from './model.ts';
import { constantTimeEqual } from './signing.ts';
import { formatCode, type ChatStore } from './store.ts';
import type { FreshIdentity } from '../auth/freshness.ts';
import type { FileControl } from '../plugins/contract.ts';

/** Ends a brokered session; provided by the broker when it runs in this portal. */
export type TerminateSession = (user: AirlockUser, sessionId: string, opts: { revoke: boolean }) => Promise<void>;

const PLATFORM_NAMES: Record<Platform, string> = { slack: 'Slack', teams: 'Microsoft Teams', mattermost: 'Mattermost' };

/** The message scope whose nonce a button of this action must carry. */
export function nonceScope(action: ChatAction, requestId: string, sessionId?: string, fileId?: string): string {
  if (action === 'terminate' || action === 'terminate_revoke') return `session:${sessionId ?? ''}`;
  // The file's request too: a click naming another request than its file's is stale.
  if (action === 'release_file' || action === 'deny_file') return `file:${requestId}:${fileId ?? ''}`;
  if (action === 'extend') return `extend:${requestId}`;
  return `decide:${requestId}`;
}

export interface ApprovalCoreDeps {
  chat: ChatConfig;
  store: ChatStore;
  requests: RequestService;
  inventory: InventoryStore;
  audit: AuditLog;
  /** Refused callbacks (forged, or from a workspace we do not serve), audited aggregated. */
  refused: AggregatedAudit;
  log: Logger;
  adapters: ReadonlyMap<Platform, ChatAdapter>;
  terminateSession: TerminateSession | undefined;
  /** The file airlock, for Release / Deny on a file's message (undefined: those buttons are refused). */
  files?: FileControl | undefined;
  /**
   * Identity freshness: a click acts only for a user the IdP vouched for within `maxAgeMs`;
   * `freshUser` re-validates through the user's live sign-ins when the profile is older.
   */
  identity: { readonly maxAgeMs: number; freshUser(userId: string): Promise<FreshIdentity | undefined> };
}

/** The audit action of a callback that did not prove where it came from (outcome `refused`). */
export const CALLBACK_REFUSED_ACTION = 'chat.callback_refused';

const refusal = (code: string, text: string): ClickOutcome => ({ ok: false, code, text: `${text} Nothing was changed.` });

export class ApprovalCore implements ClickHandler {
  readonly #deps: ApprovalCoreDeps;

  constructor(deps: ApprovalCoreDeps) {
    this.#deps = deps;
  }

  async handle(click: ChatClick): Promise<ClickOutcome> {
    const request = await this.read(click.requestId);
    const linked = await this.airlockUser(click.actor);
    let outcome: ClickOutcome;
    if (request === undefined) outcome = refusal('unknown_request', 'Airlock has no such request.');
    else if ('refused' in linked) outcome = linked.refused;
    else if (!(await this.currentNonce(click))) {
      outcome = refusal('stale_button', 'This button is out of date: the request was decided, cancelled or has expired, or the session is over.');
    } else outcome = await this.act(click, linked.user, request);

    if (outcome.ok) {
      await this.auditClick(click, 'user' in linked ? linked.user : undefined, request, 'chat.action', 'ok', outcome.code);
    } else {
      await this.auditClick(click, 'user' in linked ? linked.user : undefined, request, 'chat.click_refused', 'refused', outcome.code);
    }
    return outcome;
  }

  /** A callback that was authentic but came from a workspace, tenant or team we do not serve. */
  async rejected(who: ChatIdentity, reason: string): Promise<void> {
    // Counted per workspace: one foreign workspace's flood is a handful of events and a count.
    await this.#deps.refused.record({
      source: `chat:${who.platform}:${who.workspace.slice(0, 128)}`,
      action: 'chat.click_refused',
      reason,
      actor: null,
      target: null,
      details: { platform: who.platform, workspace: who.workspace, chatUser: who.userId },
    });
  }

  forged(platform: Platform, reason: string, ip: string | undefined): void {
    this.#deps.refused.recordQuietly({
      source: addressKey(ip),
      action: CALLBACK_REFUSED_ACTION,
      reason,
      actor: null,
      target: null,
      details: { platform, ip: ip ?? null },
    });
  }

  /** The clicked request, read as the integration (no user's view): the clicker is checked by each action. */
  private read(id: string): Promise<AccessRequest | undefined> {
    return this.#deps.requests.lookup(id);
  }

  /** The Airlock user behind a chat user, or the explanation why there is none usable. */
  private async airlockUser(who: ChatIdentity): Promise<{ user: AirlockUser } | { refused: ClickOutcome }> {
    const { store, chat } = this.#deps;
    let link = await store.linkOf(who);
    if (link === undefined && who.platform === 'teams') link = await this.linkByEntraObjectId(who);
    if (link === undefined && chat.linking.matchByEmail) link = await this.linkByEmail(who);
    if (link === undefined) {
      const code = await store.issueCode(who, chat.linking.codeTtlSeconds);
      const minutes = Math.round(chat.linking.codeTtlSeconds / 60);
      return {
        refused: refusal(
          'not_linked',
          `Your ${PLATFORM_NAMES[who.platform]} account is not linked to Airlock. To link it, sign in to Airlock, open “Chat accounts” and enter the code ${formatCode(code)} within ${minutes} minutes. Never give this code to anyone else.`,
        ),
      };
    }
    const profile = await store.profile(link.userId);
    if (profile !== undefined && Date.now() - profile.validatedAt <= this.#deps.identity.maxAgeMs) return { user: profile.user };
    // The snapshot is too old to act on: ask the IdP again through the user's live sign-ins (a
    // re-validation saves a new profile). Without one, nobody can vouch for the clicker now.
    const fresh = await this.#deps.identity.freshUser(link.userId);
    if (fresh === undefined) {
      const minutes = Math.max(1, Math.round(this.#deps.identity.maxAgeMs / 60_000));
      return {
        refused: refusal(
          'profile_stale',
          `Airlock cannot confirm your role with your identity provider: you have not been signed in to Airlock in the last ${minutes} minute${minutes === 1 ? '' : 's'}. Sign in to Airlock, then try again.`,
        ),
      };
    }
    return { user: fresh.user };
  }

  /**
   * Teams names the clicker by their Entra object id (verified token, allowed tenant); a user who
   * signed in to Airlock through Entra carried the same id in their ID token. No code needed.
   */
  private async linkByEntraObjectId(who: ChatIdentity) {
    const userId = await this.#deps.store.userIdByEntraObjectId(who.userId);
    return userId === undefined ? undefined : this.autoLink(who, userId, 'entra');
  }

  private async linkByEmail(who: ChatIdentity) {
    const { store, adapters } = this.#deps;
    const email = await adapters.get(who.platform)?.verifiedEmail(who);
    const userId = email === undefined ? undefined : await store.userIdByEmail(email);
    return userId === undefined ? undefined : this.autoLink(who, userId, 'email');
  }

  private async autoLink(who: ChatIdentity, userId: string, method: 'email' | 'entra') {
    const { store, audit } = this.#deps;
    const link = await store.link(who, userId, method);
    await audit.append({
      actor: { id: userId, name: (await store.profile(userId))?.user.name ?? userId },
      action: 'chat.linked',
      target: null,
      outcome: 'ok',
      reason: null,
      details: { platform: who.platform, workspace: who.workspace, chatUser: who.userId, method },
      site: null,
    });
    return link;
  }

  private async currentNonce(click: ChatClick): Promise<boolean> {
    const current = await this.#deps.store.currentNonce(nonceScope(click.action, click.requestId, click.sessionId, click.fileId));
    return current !== undefined && constantTimeEqual(current, click.nonce);
  }

  private async act(click: ChatClick, user: AirlockUser, request: AccessRequest): Promise<ClickOutcome> {
    try {
      switch (click.action) {
        case 'approve':
        case 'shorten':
        case 'deny':
          return await this.decide(click.action, user, request);
        case 'terminate':
        case 'terminate_revoke':
          return await this.terminate(user, request, click.sessionId ?? '', click.action === 'terminate_revoke');
        case 'extend':
          return await this.extend(user, request);
        case 'release_file':
        case 'deny_file':
          return await this.decideFile(user, request, click.fileId ?? '', click.action === 'release_file' ? 'released' : 'denied');
      }
    } catch (err) {
      // The service's refusals (own_request, not_site_approver, already_decided, …) are the answer.
      if (err instanceof AppError && err.status < 500) return refusal(err.code, err.message);
      throw err;
    }
  }

  private async decide(action: 'approve' | 'shorten' | 'deny', user: AirlockUser, request: AccessRequest): Promise<ClickOutcome> {
    const machine = await this.#deps.inventory.machine(request.machine.id);
    if (machine?.chatDecision !== 'allowed') {
      return refusal('web_only', `${request.machine.name} is safety-critical: its requests are decided in Airlock only.`);
    }
    const { requests } = this.#deps;
    if (action === 'deny') {
      await requests.deny(user, request.id, undefined);
      return { ok: true, code: 'denied', text: `You denied ${request.requester.name}'s request for ${request.machine.name}.` };
    }
    // From when the approval grants (now, for a late approval or a "start when approved" window).
    const window = approvalWindow(request, Date.now());
    const shortenedEnd = Math.min(window.startMs + SHORTEN_MINUTES * 60_000, window.endMs);
    const input = action === 'shorten' ? { windowEnd: new Date(shortenedEnd).toISOString() } : {};
    const after = await requests.approve(user, request.id, input);
    if (after.state === 'pending') return { ok: true, code: 'approval_added', text: 'Your approval is recorded; this machine needs one more.' };
    const until = after.grant === null ? '' : ` until ${formatClock(after.grant.end, after.machine.siteTimeZone)}`;
    return { ok: true, code: 'approved', text: `You approved ${request.requester.name}'s access to ${request.machine.name}${until}.` };
  }

  /** Terminate ends the session (the vendor may reopen while the grant holds); with `revoke` the grant ends too. */
  private async terminate(user: AirlockUser, request: AccessRequest, sessionId: string, revoke: boolean): Promise<ClickOutcome> {
    assertMayTerminateSession(user, { machine: { siteId: request.machine.siteId } });
    const terminate = this.#deps.terminateSession;
    if (terminate === undefined) return refusal('terminate_unavailable', 'Terminating sessions from chat is not available here; use Airlock.');
    await terminate(user, sessionId, { revoke });
    if (revoke) return { ok: true, code: 'terminated_and_revoked', text: `You terminated ${request.requester.name}'s session on ${request.machine.name} and revoked the access: it cannot be reopened.` };
    return { ok: true, code: 'terminated', text: `You terminated ${request.requester.name}'s session on ${request.machine.name}; the grant still holds, so it can be reopened.` };
  }

  /**
   * Release / Deny on a file's message: the web's decision (FileAirlock.decide: a plant manager of
   * the machine's site, never the vendor who sent it, only while it waits), audited there too.
   */
  private async decideFile(user: AirlockUser, request: AccessRequest, fileId: string, outcome: 'released' | 'denied'): Promise<ClickOutcome> {
    const files = this.#deps.files;
    if (files === undefined) return refusal('files_unavailable', 'Deciding files from chat is not available here; use Airlock.');
    const file = await files.file(fileId);
    if (file === undefined) return refusal('unknown_file', 'Airlock has no such file.');
    await files.decide(user, fileId, outcome, 'decided from chat');
    await this.#deps.store.dropNonce(nonceScope('release_file', request.id, undefined, fileId));
    if (outcome === 'released') {
      return { ok: true, code: 'file_released', text: `You released ${file.name} (${file.direction === 'in' ? `it is delivered to ${file.machineName}` : `${file.by.name} may download it`}).` };
    }
    return { ok: true, code: 'file_denied', text: `You denied ${file.name}: it ${file.direction === 'in' ? 'does not enter' : 'does not leave'} the plant.` };
  }

  /** Files the extension as the vendor: only the vendor's own click may ask for more time. */
  private async extend(user: AirlockUser, request: AccessRequest): Promise<ClickOutcome> {
    if (!isRequester(user, { requesterId: request.requester.id })) {
      return refusal('not_requester', `Only ${request.requester.name}, who holds this access, can ask for an extension (from their own linked chat account or in Airlock).`);
    }
    const start = request.grant?.end ?? request.windowEnd;
    const machine = await this.#deps.inventory.machine(request.machine.id);
    const minutes = Math.min(EXTEND_MINUTES, machine?.maxWindowMinutes ?? EXTEND_MINUTES);
    const extension = await this.#deps.requests.create(user, {
      machineId: request.machine.id,
      start: 'at',
      windowStart: start,
      windowEnd: new Date(Date.parse(start) + minutes * 60_000).toISOString(),
      reason: `Extension of the current window (asked from chat). Original reason: ${request.reason}`.slice(0, 2000),
      extendsRequestId: request.id,
      ...(request.workOrder === null ? {} : { workOrder: request.workOrder }),
    });
    await this.#deps.store.dropNonce(nonceScope('extend', request.id));
    return { ok: true, code: 'extension_requested', text: `Extension until ${formatClock(extension.windowEnd, extension.machine.siteTimeZone)} requested; a plant manager must approve it.` };
  }

  private async auditClick(click: ChatClick, user: AirlockUser | undefined, request: AccessRequest | undefined, action: string, outcome: 'ok' | 'refused', code: string): Promise<void> {
    await this.#deps.audit.append({
      actor: user === undefined ? null : { id: user.id, name: user.name },
      action,
      target: request === undefined ? null : { type: 'request', id: request.id },
      outcome,
      reason: outcome === 'refused' ? code : null,
      details: {
        platform: click.actor.platform,
        workspace: click.actor.workspace,
        chatUser: click.actor.userId,
        button: click.action,
        result: code,
        ...(click.sessionId === undefined ? {} : { session: click.sessionId }),
        ...(click.fileId === undefined ? {} : { file: click.fileId }),
      },
      site: request?.machine.siteId ?? null,
    });
  }
}
