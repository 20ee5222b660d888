// The access workflow's rules: who may request which machine for which window, who decides,
// what a decision grants, and the broker's one question: may this user open this machine now?
import { randomUUID } from 'node:crypto';
import type { AirlockUser } from '../user.ts';
import { AppError, badRequest, conflict, notFound } from '../errors.ts';
import type { InventoryStore } from '../inventory/store.ts';
import type { InvalidatedAccess, InventoryChange, Machine, Policy, Site } from '../inventory/schema.ts';
import { DEFAULT_TIME_ZONE } from '../plant-time.ts';
import { encodeAuditEvent, type AuditLog } from '../audit/store.ts';
import type { DomainEventType, EventBus } from '../events/bus.ts';
import { assertMayCancel, assertMayDecide, assertMayRequest, assertMayRevoke, canSeeRequest, decisionSites, isRequester, mayDecide, requestListSites } from '../policies.ts';
import type { AccessRequest, CreateRequestInput, PersonRef, RequestPage, RequestState } from './schema.ts';
import { keys } from '../keys.ts';
import { loosenedFlags, restrictPolicy } from './policy.ts';
import { approvalWindow, ON_APPROVAL_DECIDE_MS } from './timing.ts';
import type { RequestStore, StoredRequest, TransitionAction, TransitionArgs } from './store.ts';
import type { z } from 'zod';
import type { approveSchema, listQuerySchema } from './schema.ts';
import type { Metrics } from '../metrics.ts';

/** How far ahead a window may start: requests are for planned work, not standing access. */
export const MAX_LEAD_DAYS = 90;
/** How many of a user's newest requests the grant look-up scans. */
const GRANT_SCAN_LIMIT = 200;
/** Upper bound on pending requests scanned for one approver's inbox. */
const INBOX_SCAN_LIMIT = 1000;

const CONFLICT_MESSAGES: Record<string, string> = {
  already_decided: 'This request was already decided (or has expired).',
  already_approved: 'You have already approved this request.',
  not_cancellable: 'Only pending requests and grants that have not started can be cancelled.',
  not_revocable: 'Only approved or active grants can be revoked.',
  not_active: 'This grant is not active.',
  not_pending: 'This request is not pending.',
  window_passed: 'The window, as another approver shortened it, has already ended; nothing is left to approve.',
};

const EVENT_FOR_STATE: Partial<Record<RequestState, DomainEventType>> = {
  approved: 'request.decided',
  denied: 'request.decided',
  cancelled: 'request.cancelled',
  expired: 'request.expired',
  revoked: 'grant.revoked',
  active: 'request.activated',
  ended: 'request.ended',
};

export interface Grant {
  requestId: string;
  machineId: string;
  policy: Policy;
  start: Date;
  end: Date;
}

export type ListQuery = z.infer<typeof listQuerySchema>;

interface Names {
  sites: ReadonlyMap<string, Site>;
  companies: ReadonlyMap<string, string>;
}
export type ApproveInput = z.infer<typeof approveSchema>;

const person = (user: AirlockUser): PersonRef => ({ id: user.id, name: user.name });

/** Which live requests an inventory change takes away. */
function invalidatedBy(change: InventoryChange): (s: StoredRequest) => boolean {
  switch (change.kind) {
    case 'machine_deleted':
      return (s) => s.machineId === change.machineId;
    case 'machine_moved':
      return (s) => s.machineId === change.machineId && s.siteId !== change.toSite;
    case 'company_deleted':
      return (s) => s.request.requester.company === change.companyId;
    case 'company_sites_removed':
      return (s) => s.request.requester.company === change.companyId && change.sites.includes(s.siteId);
    case 'site_deleted':
      return (s) => s.siteId === change.siteId;
  }
}

function describeChange(change: InventoryChange): string {
  switch (change.kind) {
    case 'machine_deleted':
      return `machine ${change.machineId} was deleted`;
    case 'machine_moved':
      return `machine ${change.machineId} moved from site ${change.fromSite} to ${change.toSite}`;
    case 'company_deleted':
      return `company ${change.companyId} was deleted`;
    case 'company_sites_removed':
      return `company ${change.companyId} may no longer request site ${change.sites.join(', ')}`;
    case 'site_deleted':
      return `site ${change.siteId} was deleted`;
  }
}

export class RequestService {
  private readonly store: RequestStore;
  private readonly inventory: InventoryStore;
  private readonly audit: AuditLog;
  private readonly events: EventBus;
  private readonly now: () => Date;
  private readonly metrics: Metrics | undefined;

  constructor(deps: { store: RequestStore; inventory: InventoryStore; audit: AuditLog; events: EventBus; now?: () => Date; metrics?: Metrics | undefined }) {
    this.metrics = deps.metrics;
    this.store = deps.store;
    this.inventory = deps.inventory;
    this.audit = deps.audit;
    this.events = deps.events;
    this.now = deps.now ?? (() => new Date());
  }

  /** A machine the vendor may request, or undefined (unknown and not-requestable look alike). */
  async requestableMachine(user: AirlockUser, machineId: string): Promise<Machine | undefined> {
    const machine = await this.inventory.machine(machineId);
    if (machine === undefined) return undefined;
    const sites = await this.inventory.requestableSites(user.company);
    return sites.has(machine.siteId) ? machine : undefined;
  }

  async create(user: AirlockUser, input: CreateRequestInput): Promise<AccessRequest> {
    assertMayRequest(user);
    const now = this.now();
    const machine = await this.requestableMachine(user, input.machineId);
    if (machine === undefined) {
      throw badRequest('unknown_machine', `No machine "${input.machineId}" that you may request.`);
    }
    const { start, end, expiresAt } = windowOf(input, now);
    const minutes = (end.getTime() - start.getTime()) / 60_000;
    if (minutes > machine.maxWindowMinutes) {
      throw badRequest('window_too_long', `${machine.name} allows windows of at most ${machine.maxWindowMinutes} minutes.`);
    }
    const requestedPolicy = this.requestedPolicy(machine, input.policy);
    if (input.extendsRequestId !== undefined) {
      if (input.start !== 'at') throw badRequest('invalid_extension', 'An extension starts when the grant it extends ends: give that as its start.');
      await this.checkExtension(user, machine, input.extendsRequestId, start);
    }

    const site = await this.inventory.site(machine.siteId);
    const id = randomUUID();
    const createdAt = now.toISOString();
    const doc = {
      machine: { id: machine.id, name: machine.name, siteId: machine.siteId, siteName: site?.name ?? machine.siteId, protocol: machine.protocol },
      requester: { id: user.id, name: user.name, company: user.company ?? null },
      reason: input.reason,
      workOrder: input.workOrder ?? null,
      extendsRequestId: input.extendsRequestId ?? null,
      createdAt,
    };
    const auditEvent = encodeAuditEvent({
      at: createdAt,
      actor: person(user),
      action: 'request.created',
      target: { type: 'request', id },
      outcome: 'ok',
      reason: null,
      details: { machine: machine.id, start: input.start, windowStart: start.toISOString(), windowEnd: end.toISOString(), extends: input.extendsRequestId ?? null },
      site: machine.siteId,
    });
    await this.store.create(
      {
        id,
        doc,
        windowStart: start.toISOString(),
        windowEnd: end.toISOString(),
        windowStartMs: start.getTime(),
        windowEndMs: end.getTime(),
        requiredApprovals: machine.requiredApprovals,
        requestedPolicy,
        createdAtMs: now.getTime(),
        startMode: input.start,
        durationMs: end.getTime() - start.getTime(),
        expiresAtMs: expiresAt.getTime(),
      },
      auditEvent,
    );
    await this.publish('request.created', id, 'pending', machine.siteId, user.id, user.id, createdAt);
    return this.present(await this.mustGet(id), await this.names());
  }

  /** The machine's policy is the ceiling; a request may ask for less, never more. */
  private requestedPolicy(machine: Machine, asked: Partial<Policy> | undefined): Policy {
    const [loosened] = loosenedFlags(machine.policy, asked);
    if (loosened === 'readOnly') throw badRequest('policy_not_allowed', `${machine.name} allows read-only sessions only.`);
    if (loosened !== undefined) throw badRequest('policy_not_allowed', `${machine.name} does not allow ${loosened}.`);
    return restrictPolicy(machine.policy, asked);
  }

  private async checkExtension(user: AirlockUser, machine: Machine, extendsId: string, start: Date): Promise<void> {
    const original = await this.store.get(extendsId);
    const ok =
      original !== undefined &&
      isRequester(user, original) &&
      original.machineId === machine.id &&
      (original.request.state === 'approved' || original.request.state === 'active') &&
      original.grantEndMs === start.getTime();
    if (!ok) {
      throw badRequest('invalid_extension', 'An extension must be for one of your approved grants on the same machine and start when that grant ends.');
    }
  }

  /** For internal modules (the finaliser, the chat integration): a request by id, without a user's visibility rules. */
  async lookup(id: string): Promise<AccessRequest | undefined> {
    const stored = await this.store.get(id);
    return stored === undefined ? undefined : this.present(stored, await this.names());
  }

  async get(user: AirlockUser, id: string): Promise<AccessRequest> {
    const stored = await this.store.get(id);
    // Requests the user may not see are reported as missing: their existence is not revealed.
    if (stored === undefined || !canSeeRequest(user, stored)) throw notFound('unknown_request', 'No such request.');
    return this.present(stored, await this.names());
  }

  async list(user: AirlockUser, query: ListQuery): Promise<RequestPage> {
    const offset = Number(query.cursor ?? 0);
    let stored: StoredRequest[];
    if (query.scope === 'waiting') {
      stored = await this.waitingFor(user);
      stored = stored.slice(offset, offset + query.limit + 1);
    } else {
      const index = this.indexFor(user, query.scope);
      if (index === undefined) return { requests: [], nextCursor: null };
      if (query.state === undefined) {
        stored = await this.store.getMany(await this.store.idsFrom(index, offset, query.limit + 1));
      } else {
        // Filtering by state walks the index in pages; bounded so one call stays cheap.
        stored = await this.filtered(index, offset, query.limit + 1, (s) => this.presentState(s) === query.state);
      }
    }
    const page = stored.slice(0, query.limit).filter((s) => canSeeRequest(user, s));
    const more = stored.length > query.limit;
    const names = await this.names();
    const requests = page.map((s) => this.present(s, names));
    // The vendor's own list and the approver's inbox flag overlapping windows; the wide lists skip the scans.
    const overlaps = query.scope === 'all' ? undefined : await this.overlaps(user, requests);
    return { requests, nextCursor: more ? String(offset + query.limit) : null, ...(overlaps === undefined ? {} : { overlaps }) };
  }

  private indexFor(user: AirlockUser, scope: 'mine' | 'all'): string | undefined {
    if (scope === 'mine') return keys.requests.byUser(user.id);
    const sites = requestListSites(user);
    if (sites === undefined) return keys.requests.all;
    // Approvers of one site read that site's index; of several, the global one filtered.
    const site = sites[0];
    if (sites.length === 1 && site !== undefined) return keys.requests.bySite(site);
    if (sites.length > 1) return keys.requests.all;
    return undefined;
  }

  private async filtered(index: string, offset: number, want: number, keep: (s: StoredRequest) => boolean): Promise<StoredRequest[]> {
    const PAGE = 200;
    const MAX_SCANNED = 5000;
    const out: StoredRequest[] = [];
    let skipped = 0;
    for (let at = 0; at < MAX_SCANNED && out.length < want; at += PAGE) {
      const ids = await this.store.idsFrom(index, at, PAGE);
      for (const s of await this.store.getMany(ids)) {
        if (!keep(s)) continue;
        if (skipped < offset) skipped++;
        else out.push(s);
      }
      if (ids.length < PAGE) break;
    }
    return out;
  }

  /**
   * For each live request given: the other live requests (pending, approved, active) of the same
   * vendor for the same machine whose windows overlap its own, as far as `user` may see them.
   * Each grant opens in its own window, so overlaps are allowed; they are flagged to the vendor
   * and the approver because two windows at once are usually a mistake. One scan of the
   * requester's newest requests per requester.
   */
  async overlaps(user: AirlockUser, requests: readonly AccessRequest[]): Promise<Record<string, string[]>> {
    const live = (r: AccessRequest): boolean => r.state === 'pending' || r.state === 'approved' || r.state === 'active';
    const window = (r: AccessRequest): [number, number] => [Date.parse(r.grant?.start ?? r.windowStart), Date.parse(r.grant?.end ?? r.windowEnd)];
    const out: Record<string, string[]> = {};
    const byRequester = new Map<string, AccessRequest[]>();
    for (const r of requests.filter(live)) byRequester.set(r.requester.id, [...(byRequester.get(r.requester.id) ?? []), r]);
    const names = byRequester.size === 0 ? undefined : await this.names();
    for (const [requesterId, targets] of byRequester) {
      const ids = await this.store.idsFrom(keys.requests.byUser(requesterId), 0, GRANT_SCAN_LIMIT);
      const others = (await this.store.getMany(ids)).filter((o) => canSeeRequest(user, o)).map((o) => this.present(o, names as Names)).filter(live);
      for (const r of targets) {
        const [start, end] = window(r);
        const found = others.filter((o) => o.id !== r.id && o.machine.id === r.machine.id && window(o)[0] < end && start < window(o)[1]).map((o) => o.id);
        if (found.length > 0) out[r.id] = found;
      }
    }
    return out;
  }

  /** Pending requests of the approver's sites that they may still approve, oldest window first. */
  private async waitingFor(user: AirlockUser): Promise<StoredRequest[]> {
    if (decisionSites(user).length === 0) return [];
    const ids = await this.store.dueIds(keys.requests.pending, Number.MAX_SAFE_INTEGER, INBOX_SCAN_LIMIT);
    const now = this.now().getTime();
    return (await this.store.getMany(ids)).filter(
      (s) =>
        s.request.state === 'pending' &&
        s.expiresAtMs > now &&
        mayDecide(user, s) &&
        !s.request.approvals.some((a) => a.by.id === user.id),
    );
  }

  /** A pending request whose window has ended (or decision deadline passed) is expired, even before the sweep records it. */
  private presentState(s: StoredRequest): RequestState {
    return s.request.state === 'pending' && s.expiresAtMs <= this.now().getTime() ? 'expired' : s.request.state;
  }

  /** The names and zones requests are shown with, as the inventory has them now (two reads per call, not per request). */
  private async names(): Promise<Names> {
    const [sites, companies] = await Promise.all([this.inventory.sites(), this.inventory.companies()]);
    return { sites: new Map(sites.map((x) => [x.id, x])), companies: new Map(companies.map((c) => [c.id, c.name])) };
  }

  private present(s: StoredRequest, names: Names): AccessRequest {
    const site = names.sites.get(s.siteId);
    const company = s.request.requester.company;
    const request: AccessRequest = {
      ...s.request,
      machine: { ...s.request.machine, siteName: site?.name ?? s.request.machine.siteName, siteTimeZone: site?.timeZone ?? DEFAULT_TIME_ZONE },
      // The company's name as the plant knows it (the id when the company is gone).
      requester: { ...s.request.requester, companyName: company === null ? null : (names.companies.get(company) ?? company) },
    };
    const state = this.presentState(s);
    if (state === s.request.state) return request;
    // Due but not swept yet: the reason the sweep will record.
    return { ...request, state, expiredReason: s.request.timing.start === 'on_approval' ? 'not_decided_in_time' : 'window_ended' };
  }

  private async mustGet(id: string): Promise<StoredRequest> {
    const stored = await this.store.get(id);
    if (stored === undefined) throw notFound('unknown_request', 'No such request.');
    return stored;
  }

  /** Audits a refusal that happened before any state was touched (who, what, why). */
  private async refuse(user: AirlockUser, action: string, stored: StoredRequest, err: AppError): Promise<never> {
    this.metrics?.refusals.inc({ action, reason: err.code });
    await this.audit.append({
      actor: person(user),
      action,
      target: { type: 'request', id: stored.request.id },
      outcome: 'refused',
      reason: err.code,
      details: {},
      site: stored.siteId,
    });
    throw err;
  }

  /**
   * Loads a request for an action. One the user may not see is reported as missing (its
   * existence is not revealed) but the attempt is still audited.
   */
  private async forAction(user: AirlockUser, id: string, action: string): Promise<StoredRequest> {
    const stored = await this.mustGet(id);
    if (!canSeeRequest(user, stored)) await this.refuse(user, action, stored, notFound('unknown_request', 'No such request.'));
    return stored;
  }

  /** Runs an authorization check, auditing and rethrowing its refusal. */
  private async authorized(user: AirlockUser, action: string, stored: StoredRequest, check: () => void): Promise<void> {
    try {
      check();
    } catch (err) {
      if (err instanceof AppError) await this.refuse(user, action, stored, err);
      throw err;
    }
  }

  async approve(user: AirlockUser, id: string, input: ApproveInput): Promise<AccessRequest> {
    const stored = await this.forAction(user, id, 'request.approve');
    await this.authorized(user, 'request.approve', stored, () => assertMayDecide(user, stored));
    const now = this.now();
    const args: TransitionArgs = { comment: input.comment };
    // What this approval grants if it is the last: a late one starts now, "start when approved" starts now for its length.
    const window = approvalWindow(stored.request, now.getTime());
    if (stored.request.timing.start === 'on_approval') {
      args.approvalEnd = new Date(window.endMs).toISOString();
      args.approvalEndMs = window.endMs;
    }
    if (input.windowEnd !== undefined) {
      const end = new Date(input.windowEnd);
      if (end.getTime() <= window.startMs || end.getTime() > window.endMs) {
        throw badRequest('invalid_window_end', 'A shortened window must end after it starts and no later than requested.');
      }
      args.windowEnd = end.toISOString();
      args.windowEndMs = end.getTime();
    }
    // An approval may only restrict: a flag set looser than requested is refused by name (the
    // approver should know it did not apply), and the machine's current policy caps the rest,
    // in case an admin tightened it since the request. The Lua merges approvals the same way.
    const [loosened] = loosenedFlags(stored.request.requestedPolicy, input.policy);
    if (loosened !== undefined) throw badRequest('policy_not_allowed', `An approval may tighten the policy, not loosen it (${loosened}).`);
    const machine = await this.inventory.machine(stored.machineId);
    // An inventory change since the request was filed (machine gone or moved, the vendor's
    // company no longer admitted to the site) cancels it; until then it must not be approved.
    const admitted = await this.inventory.requestableSites(stored.request.requester.company ?? undefined);
    if (machine === undefined || machine.siteId !== stored.siteId || !admitted.has(stored.siteId)) {
      throw conflict('request_invalidated', "The machine or the vendor's access changed since this request was filed; it can no longer be approved.");
    }
    args.policy = restrictPolicy(machine.policy, stored.request.requestedPolicy, input.policy);
    return this.transition(user, stored, 'approve', args, now);
  }

  async deny(user: AirlockUser, id: string, comment: string | undefined): Promise<AccessRequest> {
    const stored = await this.forAction(user, id, 'request.deny');
    await this.authorized(user, 'request.deny', stored, () => assertMayDecide(user, stored));
    return this.transition(user, stored, 'deny', { comment });
  }

  async cancel(user: AirlockUser, id: string): Promise<AccessRequest> {
    const stored = await this.forAction(user, id, 'request.cancel');
    await this.authorized(user, 'request.cancel', stored, () => assertMayCancel(user, stored));
    return this.transition(user, stored, 'cancel', {});
  }

  async revoke(user: AirlockUser, id: string, reason: string | undefined): Promise<AccessRequest> {
    const stored = await this.forAction(user, id, 'grant.revoke');
    await this.authorized(user, 'grant.revoke', stored, () => assertMayRevoke(user, stored));
    return this.transition(user, stored, 'revoke', { reason });
  }

  private async transition(user: AirlockUser, stored: StoredRequest, action: TransitionAction, args: TransitionArgs, now: Date = this.now()): Promise<AccessRequest> {
    const result = await this.store.transition(stored.request.id, action, person(user), args, now);
    if (!result.ok) {
      if (result.state === 'expired' && stored.request.state === 'pending') {
        await this.publish('request.expired', stored.request.id, 'expired', stored.siteId, stored.requesterId, null, now.toISOString());
      }
      throw conflict(result.code, CONFLICT_MESSAGES[result.code] ?? 'The request is not in a state that allows this.');
    }
    this.metrics?.requestTransitions.inc({ action, state: result.state });
    const type: DomainEventType = result.state === 'pending' ? 'request.approval_added' : (EVENT_FOR_STATE[result.state] ?? 'request.decided');
    await this.publish(type, stored.request.id, result.state, stored.siteId, stored.requesterId, user.id, now.toISOString());
    return this.present(await this.mustGet(stored.request.id), await this.names());
  }

  /**
   * Ends the access an admin's inventory change invalidates, through the state machine with
   * the admin as actor: approved and active grants are revoked (grant.revoked, so live
   * sessions end on every instance), pending requests cancelled. Cancelled rather than denied
   * or expired: nobody judged the request and its window did not pass; it lost its subject,
   * and the audit's reason says which change took it. Only live requests are read (the
   * pending and grant indexes), so the cost follows what is live, not the history.
   */
  async endInvalidatedAccess(admin: AirlockUser, change: InventoryChange): Promise<InvalidatedAccess> {
    const invalidated = invalidatedBy(change);
    const reason = `Inventory change: ${describeChange(change)}.`;
    const ids = new Set([...(await this.store.members(keys.requests.pending)), ...(await this.store.members(keys.requests.grants))]);
    const out: InvalidatedAccess = { revoked: [], cancelled: [] };
    for (const stored of await this.store.getMany([...ids])) {
      if (!invalidated(stored)) continue;
      const state = stored.request.state;
      const action = state === 'pending' ? 'cancel' : state === 'approved' || state === 'active' ? 'revoke' : undefined;
      if (action === undefined) continue;
      try {
        await this.transition(admin, stored, action, { reason });
        (action === 'revoke' ? out.revoked : out.cancelled).push(stored.request.id);
      } catch (err) {
        // Decided, expired or ended meanwhile: nothing left to take away.
        if (!(err instanceof AppError && err.status === 409)) throw err;
      }
    }
    return out;
  }

  /** The broker's: a session opened on this grant (approved → active, once). */
  async markActive(requestId: string, actor: PersonRef): Promise<void> {
    const stored = await this.mustGet(requestId);
    if (stored.request.state === 'active') return;
    const now = this.now();
    const result = await this.store.transition(requestId, 'activate', actor, {}, now);
    // Revoked, cancelled or ended while the session was setting up: the session may not go on.
    if (!result.ok) throw conflict(result.code, CONFLICT_MESSAGES[result.code] ?? 'The grant no longer holds.');
    await this.publish('request.activated', requestId, result.state, stored.siteId, stored.requesterId, actor.id, now.toISOString());
  }

  /** System transitions: expire pending requests whose window started, end grants whose window ended. */
  async sweep(): Promise<number> {
    const now = this.now();
    let changed = 0;
    for (const [index, action] of [
      [keys.requests.pending, 'expire'],
      [keys.requests.grants, 'end'],
    ] as const) {
      for (const id of await this.store.dueIds(index, now.getTime(), 100)) {
        const result = await this.store.transition(id, action, null, { reason: action === 'end' ? 'window_ended' : undefined }, now).catch(() => undefined);
        if (result?.ok !== true) continue;
        const stored = await this.store.get(id);
        if (stored === undefined) continue;
        changed++;
        await this.publish(action === 'expire' ? 'request.expired' : 'request.ended', id, result.state, stored.siteId, stored.requesterId, null, now.toISOString());
      }
    }
    return changed;
  }

  /** The broker's question: may this user open this machine now, and under which policy? */
  async grantFor(userId: string, machineId: string, at: Date = this.now()): Promise<Grant | undefined> {
    const machine = await this.inventory.machine(machineId);
    if (machine === undefined) return undefined;
    const ids = await this.store.idsFrom(keys.requests.byUser(userId), 0, GRANT_SCAN_LIMIT);
    for (const s of await this.store.getMany(ids)) {
      const grant = holdingGrant(s, userId, machine, at);
      if (grant !== undefined) return grant;
    }
    return undefined;
  }

  /** The grant of this very request, if it holds now for this user and machine (each grant opens in its own window). */
  async grantOf(requestId: string, userId: string, machineId: string, at: Date = this.now()): Promise<Grant | undefined> {
    const [stored, machine] = await Promise.all([this.store.get(requestId), this.inventory.machine(machineId)]);
    return stored === undefined || machine === undefined ? undefined : holdingGrant(stored, userId, machine, at);
  }

  /**
   * For the broker's periodic re-check of its live sessions, in one pipelined read: each request's
   * state, and whether its grant holds now (for the requester, on the request's machine).
   */
  async grantStates(requestIds: readonly string[], at: Date = this.now()): Promise<Map<string, { state: RequestState | undefined; holds: boolean }>> {
    const found = new Map((await this.store.getMany([...new Set(requestIds)])).map((s) => [s.request.id, s]));
    const machineIds = [...new Set([...found.values()].map((s) => s.machineId))];
    const fetched = await Promise.all(machineIds.map((id) => this.inventory.machine(id)));
    const machines = new Map(machineIds.map((id, i) => [id, fetched[i]]));
    return new Map(
      requestIds.map((id) => {
        const s = found.get(id);
        const machine = s === undefined ? undefined : machines.get(s.machineId);
        return [id, { state: s?.request.state, holds: s !== undefined && machine !== undefined && holdingGrant(s, s.requesterId, machine, at) !== undefined }];
      }),
    );
  }

  private async publish(type: DomainEventType, requestId: string, state: string, siteId: string, requesterId: string, actorId: string | null, at: string): Promise<void> {
    await this.events.publish({ type, requestId, state, siteId, requesterId, actorId, at });
  }
}

/**
 * The window a new request asks for, and until when it may wait for a decision, from its start
 * mode. Refusals name the problem in plain words; nothing is stored.
 */
function windowOf(input: CreateRequestInput, now: Date): { start: Date; end: Date; expiresAt: Date } {
  const duration = input.durationMinutes === undefined ? undefined : input.durationMinutes * 60_000;
  if (input.start === 'on_approval') {
    if (duration === undefined) throw badRequest('duration_required', 'Say how long the window lasts (durationMinutes): it starts when the request is approved.');
    if (input.windowStart !== undefined || input.windowEnd !== undefined) {
      throw badRequest('window_not_allowed', 'A window that starts when approved has a length only, no start or end.');
    }
    // Nominal until approved (as if approved now); the approval moves it to its own moment.
    return { start: now, end: new Date(now.getTime() + duration), expiresAt: new Date(now.getTime() + ON_APPROVAL_DECIDE_MS) };
  }
  if (input.start === 'now' && input.windowStart !== undefined) throw badRequest('window_not_allowed', 'A window that starts now has no start time: give its end or its length.');
  const start = input.start === 'now' ? now : input.windowStart === undefined ? undefined : new Date(input.windowStart);
  if (start === undefined) throw badRequest('window_required', 'Give the window a start time.');
  if (input.windowEnd !== undefined && duration !== undefined) throw badRequest('window_not_allowed', 'Give the window an end or a length, not both.');
  const end = input.windowEnd !== undefined ? new Date(input.windowEnd) : duration !== undefined ? new Date(start.getTime() + duration) : undefined;
  if (end === undefined) throw badRequest('window_required', 'Give the window an end time or a length.');
  if (end.getTime() <= start.getTime()) throw badRequest('window_end_before_start', 'The window must end after it starts.');
  if (input.start === 'at') {
    if (start.getTime() < now.getTime()) throw badRequest('window_in_past', 'The window must start in the future.');
    if (start.getTime() > now.getTime() + MAX_LEAD_DAYS * 86_400_000) {
      throw badRequest('window_too_far', `The window may start at most ${MAX_LEAD_DAYS} days ahead.`);
    }
  }
  // Pending until the window ends: an approval after its start grants what is left of it.
  return { start, end, expiresAt: end };
}

/**
 * The grant a stored request gives this user on this machine (as the inventory has it now) at
 * `at`, if any: a grant approved for the machine's former site is not one for where it is now,
 * and the machine's current policy caps one approved before an admin tightened it.
 */
function holdingGrant(s: StoredRequest, userId: string, machine: Machine, at: Date): Grant | undefined {
  if (s.requesterId !== userId || s.machineId !== machine.id || s.siteId !== machine.siteId || s.request.grant === null) return undefined;
  if (s.request.state !== 'approved' && s.request.state !== 'active') return undefined;
  const start = new Date(s.request.grant.start);
  const end = new Date(s.request.grant.end);
  if (start.getTime() > at.getTime() || at.getTime() >= end.getTime()) return undefined;
  return { requestId: s.request.id, machineId: machine.id, policy: restrictPolicy(machine.policy, s.request.grant.policy), start, end };
}
