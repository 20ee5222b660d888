// Identity freshness: roles, sites and company are re-validated with the IdP (the sign-in's
// sealed refresh token) before a privileged action when the last validation is older than the
// max age; a refused refresh, a sign-out, a back-channel logout and a session's end sign the
// user out everywhere at once and tell every instance (`user.signed_out`).
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import * as oidc from 'openid-client';
import type { ProviderConfig } from '../config.ts';
import { AppError, unauthenticated, unavailable } from '../errors.ts';
import type { AuditLog } from '../audit/store.ts';
import type { EventBus, SignOutReason } from '../events/bus.ts';
import { currentUser } from '../http/current-user.ts';
import { SESSION_COOKIE } from '../http/session.ts';
import type { AirlockUser } from '../user.ts';
import { mapClaimsToUser, userIdOf } from './claims.ts';
import type { IdentityRecord, IdentityStore } from './identity-store.ts';
import type { OidcLogin, SignInTokens } from './oidc.ts';
import { TokenSealError, type TokenSeal } from './token-seal.ts';

/** The stable code telling the client to sign in again with `max_age` (GET /auth/login?reauth=true). */
export const REAUTHENTICATION_REQUIRED = 'reauthentication_required';
/** The stable code of a request whose sign-in has just ended (refused refresh, revoked identity). */
export const SIGNED_OUT = 'signed_out';

export const reauthenticationRequired = (): AppError =>
  new AppError(401, REAUTHENTICATION_REQUIRED, 'For this action Airlock must confirm your identity again: sign in again.', { report: false });
export const signedOut = (): AppError =>
  new AppError(401, SIGNED_OUT, 'Your identity provider no longer accepts this sign-in, so you have been signed out. Sign in again.', { report: false });

/**
 * How long one re-validation may hold a sign-in's lock: above the IdP calls it makes (token
 * endpoint, maybe userinfo, each bounded by openid-client's 5 s timeout), so it never lapses mid-call.
 */
const REFRESH_LOCK_TTL_MS = 15_000;
/** How long a request waits for another instance's re-validation of the same sign-in. */
const REFRESH_WAIT_MS = 12_000;
/** Poll interval while waiting: short against the IdP's round trip, long enough not to spin. */
const REFRESH_POLL_MS = 50;

export interface IdentityHooks {
  /** After a sign-in and after every accepted re-validation (chat refreshes its profile). */
  validated(user: AirlockUser, validatedAt: Date): Promise<void>;
  /** After sign-ins of a user ended (chat forgets its profile). */
  signedOut(userId: string, reason: SignOutReason): Promise<void>;
}

export interface IdentityFreshnessDeps {
  login: OidcLogin;
  store: IdentityStore;
  seal: TokenSeal;
  audit: AuditLog;
  events: EventBus;
  log: Logger;
  /** AIRLOCK_IDENTITY_MAX_AGE_SECONDS, in ms. */
  maxAgeMs: number;
  /** How often ended browser sessions are looked for (AIRLOCK_SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
  hooks: IdentityHooks;
}

/** What a fresh sign-in says of its user. */
export interface FreshIdentity {
  readonly user: AirlockUser;
  readonly validatedAt: Date;
}

/** A refusal of the IdP (or of our mapping) that ends the sign-in, as opposed to an outage. */
class Refused extends Error {
  readonly reason: 'refresh_refused' | 'identity_revoked';
  constructor(reason: Refused['reason'], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.reason = reason;
  }
}

const sameIdentity = (a: AirlockUser, b: AirlockUser): boolean =>
  a.company === b.company && a.roles.join() === b.roles.join() && a.sites.join() === b.sites.join() && a.name === b.name && a.email === b.email && a.entraObjectId === b.entraObjectId;

export class IdentityFreshness {
  readonly maxAgeMs: number;
  readonly #deps: IdentityFreshnessDeps;
  /** Re-validations in flight on this instance, by browser session: one IdP call each. */
  readonly #inFlight = new Map<string, Promise<IdentityRecord>>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: IdentityFreshnessDeps) {
    this.#deps = deps;
    this.maxAgeMs = deps.maxAgeMs;
  }

  start(): void {
    this.#sweeper = setInterval(() => {
      this.sweepEnded().catch((err: unknown) => this.#deps.log.warn({ err: { message: (err as Error).message } }, 'sign-in expiry sweep failed'));
    }, this.#deps.sweepIntervalMs);
    this.#sweeper.unref();
  }

  stop(): void {
    clearInterval(this.#sweeper);
  }

  private isFresh(record: IdentityRecord, now = Date.now()): boolean {
    return now - record.validatedAt <= this.maxAgeMs;
  }

  /**
   * Records a completed sign-in for its (new, regenerated) browser session. `previousSessionId`
   * is the session the sign-in started in: someone else's sign-in there ends (`replaced`).
   */
  async signedIn(input: { browserSessionId: string; previousSessionId: string | undefined; user: AirlockUser; provider: ProviderConfig; tokens: SignInTokens | undefined; expiresAt: number }): Promise<void> {
    const { browserSessionId, user, tokens } = input;
    const now = Date.now();
    const claims = tokens?.claims ?? {};
    const authTimeClaim = claims['auth_time'];
    const authTime = typeof authTimeClaim === 'number' && Number.isSafeInteger(authTimeClaim) ? authTimeClaim * 1000 : null;
    const sid = claims['sid'];
    const record: IdentityRecord = {
      v: 1,
      browserSessionId,
      user,
      provider: input.provider.id,
      validatedAt: now,
      authTime,
      // Without auth_time the age of the second factor is unknown: step-up asks again (fail closed).
      mfaAt: tokens?.mfa === true ? authTime : null,
      idpSid: typeof sid === 'string' && sid.length > 0 && sid.length <= 256 ? sid : null,
      refresh: tokens?.refreshToken === undefined ? null : this.#deps.seal.seal(tokens.refreshToken, browserSessionId),
      expiresAt: input.expiresAt,
    };
    const previous = input.previousSessionId;
    if (previous !== undefined && previous !== browserSessionId) {
      const earlier = await this.#deps.store.get(previous);
      // The same person signing in again (e.g. to re-authenticate) keeps their live sessions.
      if (earlier?.user.id === user.id) await this.#deps.store.remove(previous);
      else if (earlier !== undefined) await this.endSignIns([earlier], 'replaced', null);
    }
    await this.#deps.store.create(record);
    await this.runHook('validated', () => this.#deps.hooks.validated(user, new Date(now)));
  }

  /**
   * Express middleware for every privileged route (decide, revoke, terminate, watch, open a
   * session, admin writes): `req.user` becomes the user as the IdP says now. Answers 401
   * `reauthentication_required` (stale, no refresh token), 401 `signed_out` (the IdP refused:
   * the browser session is gone), 503 `idp_unavailable`.
   */
  readonly requireFresh: RequestHandler = async (req, res, next) => {
    const sessionId = req.session?.id;
    if (currentUser(req) === undefined || sessionId === undefined) throw unauthenticated();
    try {
      req.user = await this.freshSessionUser(sessionId);
    } catch (err) {
      if (err instanceof AppError && err.code === SIGNED_OUT) {
        // Already gone from Redis; this keeps express-session from saving it back.
        await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
        res.clearCookie(SESSION_COOKIE, { path: '/' });
      }
      throw err;
    }
    next();
  };

  /**
   * The user of a browser session, re-validated with the IdP when older than the max age: for
   * the WebSocket upgrade guard and anything else that holds a browser session id. Throws the
   * AppErrors of `requireFresh` (401 unauthenticated when the session has no sign-in).
   */
  async freshSessionUser(browserSessionId: string): Promise<AirlockUser> {
    const record = await this.#deps.store.get(browserSessionId);
    if (record === undefined) throw unauthenticated();
    if (this.isFresh(record)) return record.user;
    if (record.refresh === null) throw reauthenticationRequired();
    return (await this.revalidate(record)).user;
  }

  /**
   * A user validated with the IdP within the max age, through any of their live sign-ins
   * (refreshing the most recent one that can be): for chat, which has no browser session.
   * Undefined when no sign-in can vouch for them; throws 503 when the IdP cannot be reached.
   */
  async freshUser(userId: string): Promise<FreshIdentity | undefined> {
    const records = (await this.#deps.store.ofUser(userId)).sort((a, b) => b.validatedAt - a.validatedAt);
    const fresh = records.find((r) => this.isFresh(r));
    if (fresh !== undefined) return { user: fresh.user, validatedAt: new Date(fresh.validatedAt) };
    for (const record of records) {
      if (record.refresh === null) continue;
      try {
        const next = await this.revalidate(record);
        return { user: next.user, validatedAt: new Date(next.validatedAt) };
      } catch (err) {
        if (err instanceof AppError && (err.code === SIGNED_OUT || err.code === 'unauthenticated')) continue;
        throw err;
      }
    }
    return undefined;
  }

  /** What the browser session's sign-in says now, without asking the IdP (chat's "seen" profile). */
  async sessionIdentity(browserSessionId: string): Promise<FreshIdentity | undefined> {
    const record = await this.#deps.store.get(browserSessionId);
    return record === undefined ? undefined : { user: record.user, validatedAt: new Date(record.validatedAt) };
  }

  /** Ends one browser session's sign-in (POST /auth/logout): audited, published, chat forgets. */
  async signOut(browserSessionId: string, actor: AirlockUser | null): Promise<void> {
    const record = await this.#deps.store.get(browserSessionId);
    if (record !== undefined) await this.endSignIns([record], 'logout', actor);
    else await this.#deps.store.remove(browserSessionId);
  }

  /**
   * Back-channel logout (the token verified by backchannel.ts): ends every sign-in of that IdP
   * session (`sid`), or of that subject when the token names no sid. Returns how many ended.
   */
  async backchannelLogout(provider: ProviderConfig, target: { subject: string | undefined; sid: string | undefined }): Promise<number> {
    const { store } = this.#deps;
    let records: IdentityRecord[];
    if (target.sid !== undefined) {
      records = (await store.ofIdpSession(provider.id, target.sid)).filter((r) => target.subject === undefined || r.user.subject === target.subject);
    } else if (target.subject !== undefined) {
      records = await store.ofUser(userIdOf(provider.id, target.subject));
    } else {
      records = [];
    }
    return this.endSignIns(records.filter((r) => r.provider === provider.id), 'backchannel_logout', null);
  }

  /** Reports the sign-ins whose browser session reached its end (every instance sweeps; each is reported once). */
  async sweepEnded(): Promise<void> {
    const ended = await this.#deps.store.claimEnded(Date.now());
    const byUser = new Map<string, string[]>();
    for (const { browserSessionId, userId } of ended) byUser.set(userId, [...(byUser.get(userId) ?? []), browserSessionId]);
    for (const [userId, ids] of byUser) await this.announce(userId, ids, 'session_expired', null, undefined);
  }

  /** Re-validates one sign-in: once per instance at a time, once across instances (a Redis lock). */
  private revalidate(record: IdentityRecord): Promise<IdentityRecord> {
    const id = record.browserSessionId;
    let pending = this.#inFlight.get(id);
    if (pending === undefined) {
      pending = this.revalidateLocked(id).finally(() => this.#inFlight.delete(id));
      this.#inFlight.set(id, pending);
    }
    return pending;
  }

  private async revalidateLocked(id: string): Promise<IdentityRecord> {
    const { store } = this.#deps;
    const holder = randomUUID();
    const deadline = Date.now() + REFRESH_WAIT_MS;
    while (!(await store.lock(id, holder, REFRESH_LOCK_TTL_MS))) {
      // Another instance is re-validating this sign-in (a rotated refresh token must be used
      // once): take its result rather than racing it.
      await delay(REFRESH_POLL_MS);
      const current = await store.get(id);
      if (current === undefined) throw signedOut();
      if (this.isFresh(current)) return current;
      if (Date.now() > deadline) throw unavailable('idp_unavailable', 'Airlock could not confirm your identity with your identity provider in time; try again shortly.');
    }
    try {
      const current = await store.get(id);
      if (current === undefined) throw signedOut();
      if (this.isFresh(current)) return current;
      return await this.refreshWithIdp(current);
    } finally {
      await store.unlock(id, holder).catch(() => undefined);
    }
  }

  private async refreshWithIdp(record: IdentityRecord): Promise<IdentityRecord> {
    const { login, seal, store, log } = this.#deps;
    const provider = login.provider(record.provider);
    let user: AirlockUser;
    let nextRefresh: string | undefined;
    try {
      if (provider === undefined || provider.id !== record.provider) throw new Refused('identity_revoked', 'the provider is no longer configured');
      if (record.refresh === null) throw new Refused('refresh_refused', 'no refresh token');
      let refreshToken: string;
      try {
        refreshToken = seal.open(record.refresh, record.browserSessionId);
      } catch (err) {
        throw new Refused('refresh_refused', 'the sealed refresh token does not open', err);
      }
      const tokens = await login.refresh(provider, refreshToken, record.user.subject).catch((err: unknown) => {
        throw refusalOrOutage(err);
      });
      const azp = tokens.claims['azp'];
      if (azp !== undefined && azp !== provider.clientId) throw new Refused('identity_revoked', 'the refreshed ID token was issued to another client');
      try {
        user = mapClaimsToUser(provider, login.identity, tokens.claims);
      } catch (err) {
        // No mapped role or no company any more: the account has lost its Airlock access.
        if (err instanceof AppError && err.status < 500) throw new Refused('identity_revoked', err.code, err);
        throw err;
      }
      if (user.id !== record.user.id) throw new Refused('identity_revoked', 'the IdP answered for another subject');
      nextRefresh = tokens.refreshToken;
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      log.warn({ userId: record.user.id, provider: record.provider, reason: err.reason, detail: err.message }, 'identity re-validation refused: signing out');
      // A refused refresh token ends its own sign-in (another IdP session may still be good); an
      // account that no longer makes an Airlock user ends all of them.
      const ending = err.reason === 'identity_revoked' ? [record, ...(await store.ofUser(record.user.id))] : [record];
      await this.endSignIns(ending, err.reason, null);
      throw signedOut();
    }

    const now = Date.now();
    const next: IdentityRecord = {
      ...record,
      user,
      validatedAt: now,
      refresh: nextRefresh === undefined ? record.refresh : seal.seal(nextRefresh, record.browserSessionId),
    };
    if (!(await store.update(next))) throw signedOut();
    if (!sameIdentity(record.user, user)) await this.identityChanged(record, user);
    await this.runHook('validated', () => this.#deps.hooks.validated(user, new Date(now)));
    return next;
  }

  /** The IdP changed who the user is: audited, applied to the user's other sign-ins, published. */
  private async identityChanged(record: IdentityRecord, user: AirlockUser): Promise<void> {
    const { store, audit, events } = this.#deps;
    const siblings = (await store.ofUser(user.id)).filter((r) => r.browserSessionId !== record.browserSessionId);
    // The others keep their own validation time and refresh token; what the IdP says of the
    // account holds for all of them from now on.
    for (const sibling of siblings) await store.update({ ...sibling, user });
    const before = record.user;
    await audit.append({
      actor: null,
      action: 'auth.identity_changed',
      target: { type: 'user', id: user.id },
      outcome: 'ok',
      reason: 'refreshed',
      details: {
        provider: record.provider,
        rolesBefore: before.roles.join(','),
        roles: user.roles.join(','),
        sitesBefore: before.sites.join(','),
        sites: user.sites.join(','),
        companyBefore: before.company ?? null,
        company: user.company ?? null,
      },
      site: null,
    });
    await events.publishIdentity({
      type: 'user.identity_changed',
      userId: user.id,
      browserSessionIds: [record.browserSessionId, ...siblings.map((s) => s.browserSessionId)],
      reason: 'refreshed',
      remainingSignIns: siblings.length + 1,
      at: new Date().toISOString(),
    });
  }

  /** Ends sign-ins (each reported once, whoever else ends it at the same time); returns how many. */
  private async endSignIns(records: readonly IdentityRecord[], reason: SignOutReason, actor: AirlockUser | null): Promise<number> {
    const byUser = new Map<string, { provider: string; ids: string[] }>();
    for (const record of records) {
      const removed = await this.#deps.store.remove(record.browserSessionId);
      if (removed === undefined) continue;
      const entry = byUser.get(removed.user.id) ?? { provider: removed.provider, ids: [] };
      entry.ids.push(removed.browserSessionId);
      byUser.set(removed.user.id, entry);
    }
    let ended = 0;
    for (const [userId, { provider, ids }] of byUser) {
      ended += ids.length;
      await this.announce(userId, ids, reason, actor, provider);
    }
    return ended;
  }

  private async announce(userId: string, browserSessionIds: string[], reason: SignOutReason, actor: AirlockUser | null, provider: string | undefined): Promise<void> {
    const { store, audit, events } = this.#deps;
    const remaining = (await store.ofUser(userId)).length;
    await audit.append({
      actor: actor === null ? null : { id: actor.id, name: actor.name },
      action: 'auth.signed_out',
      target: { type: 'user', id: userId },
      outcome: 'ok',
      reason,
      details: { signIns: browserSessionIds.length, remainingSignIns: remaining, ...(provider === undefined ? {} : { provider }) },
      site: null,
    });
    await events.publishIdentity({ type: 'user.signed_out', userId, browserSessionIds, reason, remainingSignIns: remaining, at: new Date().toISOString() });
    await this.runHook('signedOut', () => this.#deps.hooks.signedOut(userId, reason));
  }

  private async runHook(name: string, hook: () => Promise<void>): Promise<void> {
    try {
      await hook();
    } catch (err) {
      this.#deps.log.warn({ err: { message: (err as Error).message }, hook: name }, 'identity hook failed');
    }
  }
}

/**
 * What a failed refresh-token grant means: the IdP's own "no" (an OAuth error answer, such as
 * invalid_grant for a disabled account or an ended IdP session) ends the sign-in; an outage, a
 * response we cannot verify, or our own client being refused (invalid_client: a configuration
 * fault, not the user's) is a 503 that keeps the user signed in but lets nothing privileged through.
 */
function refusalOrOutage(err: unknown): Error {
  if (err instanceof oidc.ResponseBodyError && err.error !== 'invalid_client' && err.status >= 400 && err.status < 500) {
    return new Refused('refresh_refused', err.error, err);
  }
  if (err instanceof TokenSealError) return new Refused('refresh_refused', err.message, err);
  if (err instanceof AppError) return err;
  return unavailable('idp_unavailable', 'Airlock could not confirm your identity with your identity provider; try again shortly.', err);
}
