// OpenID Connect login through openid-client's passport strategy: authorization code with
// PKCE, plus state and nonce, issuer checked at discovery and on the response (RFC 9207),
// exact redirect URI. Providers are discovered lazily, so a down IdP fails login (503), not start-up.
// It also runs the refresh-token grant that identity freshness re-validates users with.
import type { IncomingMessage } from 'node:http';
import passport from 'passport';
import * as oidc from 'openid-client';
import { Strategy, type AuthenticateOptions } from 'openid-client/passport';
import type { Request } from 'express';
import type { IdentityConfig, ProviderConfig } from '../config.ts';
import { AppError, unavailable } from '../errors.ts';
import { isAirlockUser, type AirlockUser } from '../user.ts';
import { mapClaimsToUser, mfaRequired, showsMfa } from './claims.ts';
import type { IdentityStore } from './identity-store.ts';

/** What a sign-in's token response leaves for identity freshness, besides the user. */
export interface SignInTokens {
  readonly refreshToken: string | undefined;
  /** The verified ID token's claims (`sid`, `auth_time`, …). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Whether the ID token shows a second factor (claims.ts `showsMfa`). */
  readonly mfa: boolean;
}

/** What a refresh-token grant returned: the claims to re-map, and the next refresh token. */
export interface RefreshedTokens {
  /** The refreshed ID token's claims, or the userinfo response when the IdP sent no ID token. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly fromIdToken: boolean;
  /** Present when the IdP rotated the refresh token. */
  readonly refreshToken: string | undefined;
}

/**
 * Authenticate options of the login route: `maxAge` sends `max_age` (re-authentication),
 * `acrValues` sends `acr_values` (asks the IdP for a second factor: step-up).
 */
export interface LoginOptions extends AuthenticateOptions {
  maxAge?: number;
  acrValues?: string;
}

/** The token response of the callback in flight, kept beside the request (never in the session). */
const signInTokens = new WeakMap<object, SignInTokens>();

/** The tokens of the sign-in this callback request completed (see OidcLogin's verify function). */
export function signInTokensOf(req: Request): SignInTokens | undefined {
  return signInTokens.get(req);
}

/**
 * The library strategy sends `state` and `nonce` only when the IdP lacks PKCE. We send both
 * always (defence in depth: a broken PKCE implementation at the IdP does not open us up);
 * the library stores and checks whatever the authorization request carried.
 */
class AirlockOidcStrategy extends Strategy {
  override authorizationRequestParams<T extends AuthenticateOptions>(req: Request, options: T): URLSearchParams {
    const base = super.authorizationRequestParams(req, options);
    const params = new URLSearchParams(base instanceof URLSearchParams ? base : (base ?? {}));
    params.set('state', oidc.randomState());
    params.set('nonce', oidc.randomNonce());
    // The library stores a max_age it finds here and checks the ID token's auth_time against it.
    const { maxAge, acrValues } = options as LoginOptions;
    if (maxAge !== undefined) params.set('max_age', String(maxAge));
    // A request, not a guarantee (IdPs may ignore it): the ID token's amr/acr is what is checked.
    if (acrValues !== undefined) params.set('acr_values', acrValues);
    return params;
  }
}

/** A discovery that fails is retried on the next login, not cached. */
const DISCOVERY_TIMEOUT_S = 5;

export class OidcLogin {
  readonly passport: passport.PassportStatic;
  readonly identity: IdentityConfig;
  private readonly publicUrl: string;
  private readonly ready = new Map<string, Promise<string>>();
  private readonly configs = new Map<string, Promise<oidc.Configuration>>();

  /** `signIns` holds each sign-in's identity record: the user a session cookie stands for. */
  constructor(identity: IdentityConfig, publicUrl: string, signIns: IdentityStore) {
    this.identity = identity;
    this.publicUrl = publicUrl;
    // Our own instance, not passport's global singleton: two portals can share a process (tests).
    this.passport = new passport.Passport() as passport.PassportStatic;
    this.passport.serializeUser((user, done) => done(null, user));
    this.passport.deserializeUser((req: IncomingMessage, stored: unknown, done: (err: unknown, user?: AirlockUser | false) => void) => {
      // The session stands for whoever its identity record says, as last validated with the IdP:
      // a sign-in ended elsewhere (sign-out, back-channel logout, refused refresh, expiry) has no
      // record, and a re-validation that changed roles applies to every request at once. A session
      // whose user no longer has the expected shape is treated as signed out.
      const sessionId = (req as IncomingMessage & { session?: { id?: string } }).session?.id;
      if (!isAirlockUser(stored) || sessionId === undefined) {
        done(null, false);
        return;
      }
      signIns.get(sessionId).then(
        (record) => done(null, record !== undefined && record.user.id === stored.id ? record.user : false),
        (err: unknown) => done(err),
      );
    });
  }

  providers(): readonly ProviderConfig[] {
    return this.identity.providers;
  }

  provider(id: string | undefined): ProviderConfig | undefined {
    const wanted = id ?? this.identity.defaultProvider ?? this.identity.providers[0]?.id;
    return this.identity.providers.find((p) => p.id === wanted);
  }

  callbackUrl(provider: ProviderConfig): string {
    return `${this.publicUrl}/auth/callback/${provider.id}`;
  }

  /** Discovers the provider once and registers its strategy; resolves to the strategy name. */
  strategyFor(provider: ProviderConfig): Promise<string> {
    return onceUnlessFailed(this.ready, provider.id, () => this.register(provider));
  }

  /** The provider's discovered configuration (once; a failed discovery is retried next time). */
  configFor(provider: ProviderConfig): Promise<oidc.Configuration> {
    return onceUnlessFailed(this.configs, provider.id, () => this.discover(provider));
  }

  private async discover(provider: ProviderConfig): Promise<oidc.Configuration> {
    try {
      return await oidc.discovery(
        new URL(provider.issuer),
        provider.clientId,
        provider.clientSecret,
        undefined,
        { execute: provider.allowInsecureRequests ? [oidc.allowInsecureRequests] : [], timeout: DISCOVERY_TIMEOUT_S },
      );
    } catch (err) {
      throw unavailable('idp_unavailable', `The identity provider "${provider.label}" cannot be reached; try again shortly.`, err);
    }
  }

  private async register(provider: ProviderConfig): Promise<string> {
    const config = await this.configFor(provider);
    const name = `oidc-${provider.id}`;
    const strategy = new AirlockOidcStrategy(
      { config, name, scope: provider.scopes.join(' '), callbackURL: this.callbackUrl(provider), sessionKey: `oidc:${provider.id}`, passReqToCallback: true },
      (req, tokens, verified) => {
        try {
          const claims = { ...tokens.claims() };
          assertAuthorizedParty(provider, claims);
          const mfa = showsMfa(provider, claims);
          if (provider.requireMfa && !mfa) throw mfaRequired();
          const user = mapClaimsToUser(provider, this.identity, claims);
          signInTokens.set(req, { refreshToken: tokens.refresh_token, claims, mfa });
          verified(null, user);
        } catch (err) {
          verified(err);
        }
      },
    );
    this.passport.use(name, strategy);
    return name;
  }

  /**
   * The refresh-token grant (openid-client validates a refreshed ID token: signature, iss, aud,
   * exp, iat). Without an ID token in the response, the claims come from userinfo, bound to
   * `subject`. Throws what openid-client throws; freshness.ts tells refusals from outages.
   */
  async refresh(provider: ProviderConfig, refreshToken: string, subject: string): Promise<RefreshedTokens> {
    const config = await this.configFor(provider);
    const tokens = await oidc.refreshTokenGrant(config, refreshToken);
    const idClaims = tokens.claims();
    if (idClaims !== undefined) return { claims: { ...idClaims }, fromIdToken: true, refreshToken: tokens.refresh_token };
    const info = await oidc.fetchUserInfo(config, tokens.access_token, subject);
    return { claims: { ...info }, fromIdToken: false, refreshToken: tokens.refresh_token };
  }
}

/**
 * OIDC Core 3.1.3.7: an ID token whose `azp` names another client was issued to that client,
 * whatever its `aud` says. openid-client checks `azp` only when `aud` lists several audiences,
 * so a single-audience token minted for another client (token exchange, cross-client grants)
 * would pass; we refuse any `azp` that is not our client id.
 */
function assertAuthorizedParty(provider: ProviderConfig, claims: Record<string, unknown>): void {
  const azp = claims['azp'];
  if (azp !== undefined && azp !== provider.clientId) throw audienceMismatch();
}

const audienceMismatch = (cause?: unknown): AppError =>
  new AppError(400, 'login_audience_mismatch', 'The sign-in response was issued to another application.', cause === undefined ? {} : { cause });

/** The IdP's own error answer on the callback (`error=access_denied`, …), its code kept for the audit event. */
export class IdpRefusedError extends AppError {
  /** The IdP's OAuth error code, or `unknown` when it is not a plain code. */
  readonly idpError: string;
  constructor(idpError: string, cause: unknown) {
    const code = /^[A-Za-z0-9_.-]{1,64}$/.test(idpError) ? idpError : 'unknown';
    super(403, 'idp_refused', `Your identity provider did not sign you in (${code}). Start the sign-in again.`, { cause, report: false });
    this.idpError = code;
  }
}

/** Turns what openid-client throws on a bad callback into a stable code without leaking internals. */
export function loginError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // openid-client wraps the failed check ("invalid response encountered") around oauth4webapi's
  // error, whose message names it: read the messages down the cause chain.
  const messages: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) messages.push(e.message);
  const message = messages.join(' | ');
  if (err instanceof TypeError && /fetch failed|network|ECONNREFUSED/i.test(message)) {
    return unavailable('idp_unavailable', 'The identity provider cannot be reached; try again shortly.', err);
  }
  // The IdP's own "no" (the person cancelled, the IdP refused them): openid-client checked the
  // state first, so this answer belongs to this browser's sign-in. Only the error code is kept.
  let idpAnswer: unknown = err;
  for (let depth = 0; idpAnswer instanceof Error && !(idpAnswer instanceof oidc.AuthorizationResponseError) && depth < 4; depth++) idpAnswer = idpAnswer.cause;
  if (idpAnswer instanceof oidc.AuthorizationResponseError) {
    return new IdpRefusedError(idpAnswer.error, err);
  }
  if (/"state"/.test(message)) return new AppError(400, 'login_state_mismatch', 'The sign-in response does not belong to this browser session. Start the sign-in again.', { cause: err });
  if (/"aud"|"azp"/.test(message)) return audienceMismatch(err);
  if (/"iss"|issuer/.test(message)) return new AppError(400, 'login_issuer_mismatch', 'The sign-in response came from an unexpected identity provider.', { cause: err });
  return new AppError(400, 'login_failed', 'The sign-in response could not be verified. Start the sign-in again.', { cause: err, report: false });
}

export type { AirlockUser };

/** The promise `pending` holds for `key`, started by `start` on first use; one that fails is forgotten, so the next call tries again. */
function onceUnlessFailed<T>(pending: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let p = pending.get(key);
  if (p === undefined) {
    p = start();
    pending.set(key, p);
    p.catch(() => pending.delete(key));
  }
  return p;
}
