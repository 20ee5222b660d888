// OpenID Connect Back-Channel Logout 1.0: the IdP posts a signed logout token when a user's IdP
// session ends, and every Airlock sign-in of that IdP session (or subject) ends at once.
// Verification follows §2.6 of the specification; the endpoint is called server to server.
// Refused tokens are audited, aggregated per source and reason.
import express, { Router, type Request, type Response } from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ProviderConfig } from '../config.ts';
import { AppError, badRequest, errorBody, toAppError } from '../errors.ts';
import type { IdentityFreshness } from './freshness.ts';
import type { IdentityStore } from './identity-store.ts';
import type { OidcLogin } from './oidc.ts';
import type { AggregatedAudit } from '../audit/aggregated.ts';
import { sourceKey } from '../http/rate-limit.ts';

export const BACKCHANNEL_LOGOUT_PATH = '/auth/backchannel-logout';
/** Where one provider's IdP posts its logout tokens (register it as `backchannel_logout_uri`). */
export const backchannelLogoutUrl = (publicUrl: string, providerId: string): string => `${publicUrl}${BACKCHANNEL_LOGOUT_PATH}/${providerId}`;

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Signature algorithms we accept: asymmetric only (a shared-secret token proves nothing of the IdP). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** A logout token is used at once; one older than this is refused (oidc-provider issues 2 min tokens). */
const MAX_TOKEN_AGE_S = 300;
/** Clock difference tolerated between the IdP and us. */
const CLOCK_TOLERANCE_S = 30;
/** A jti is remembered as long as its token could still pass the age check, so a replay never does. */
const JTI_TTL_MS = (MAX_TOKEN_AGE_S + 2 * CLOCK_TOLERANCE_S) * 1000;
/** A logout token is a few hundred bytes; the form body is capped well above that. */
const BODY_LIMIT = '16kb';
/** Bounds the claims we read, like claims.ts does. */
const MAX_CLAIM_LENGTH = 256;

export interface LogoutTarget {
  /** The token's jti, for replay protection. */
  jti: string;
  subject: string | undefined;
  sid: string | undefined;
}

const claimText = z.string().min(1).max(MAX_CLAIM_LENGTH);

const logoutClaims = z.looseObject({
  jti: claimText,
  sub: claimText.optional(),
  sid: claimText.optional(),
  events: z.record(z.string(), z.unknown()),
  nonce: z.unknown().optional(),
  azp: z.string().optional(),
});

/** Why a logout token was refused, as the audit event names it (a bounded set). */
export type LogoutTokenProblem = 'no_token' | 'unverifiable' | 'wrong_type' | 'malformed_claims' | 'no_logout_event' | 'nonce' | 'no_subject' | 'other_client' | 'replay';

/** Why a logout token was refused: the 400's code is `invalid_logout_token`, this says why (logs, audit). */
export class LogoutTokenError extends Error {
  readonly problem: LogoutTokenProblem;
  constructor(problem: LogoutTokenProblem, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LogoutTokenError';
    this.problem = problem;
  }
}

/**
 * Validates a logout token (§2.6): signature against the provider's keys, iss, aud, iat (and exp
 * when present), the back-channel `events` member, a sub and/or sid, no nonce, a jti, and azp
 * naming us when present. Replay (jti) is the caller's: it needs the store.
 */
export async function verifyLogoutToken(token: string, expected: { issuer: string; clientId: string; keys: JWTVerifyGetKey }): Promise<LogoutTarget> {
  let payload: Record<string, unknown>;
  let typ: string | undefined;
  try {
    const verified = await jwtVerify(token, expected.keys, {
      issuer: expected.issuer,
      audience: expected.clientId,
      algorithms: ALGORITHMS,
      maxTokenAge: MAX_TOKEN_AGE_S,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['iat', 'jti'],
    });
    payload = verified.payload as Record<string, unknown>;
    typ = verified.protectedHeader.typ;
  } catch (err) {
    const what = err instanceof joseErrors.JOSEError ? err.code : 'unreadable';
    throw new LogoutTokenError('unverifiable', `the logout token does not verify (${what})`, err);
  }
  // §2.3 types it `logout+jwt`; older IdPs send JWT or nothing. Anything else is another kind of token.
  if (typ !== undefined && !/^(application\/)?(logout\+jwt|jwt)$/i.test(typ)) throw new LogoutTokenError('wrong_type', `unexpected token type ${typ}`);
  const claims = logoutClaims.safeParse(payload);
  if (!claims.success) throw new LogoutTokenError('malformed_claims', 'the logout token lacks jti or events, or has malformed claims');
  const { jti, sub, sid, events, nonce, azp } = claims.data;
  const event = events[BACKCHANNEL_EVENT];
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new LogoutTokenError('no_logout_event', 'the events claim has no back-channel logout event');
  // An ID token carries a nonce; a logout token must not, so an ID token cannot pass for one.
  if (nonce !== undefined) throw new LogoutTokenError('nonce', 'a logout token must not carry a nonce');
  if (sub === undefined && sid === undefined) throw new LogoutTokenError('no_subject', 'the logout token names neither sub nor sid');
  if (azp !== undefined && azp !== expected.clientId) throw new LogoutTokenError('other_client', 'the logout token was issued to another client');
  return { jti, subject: sub, sid };
}

const logoutBody = z.strictObject({ logout_token: z.string().min(1).max(8192) });

export interface BackchannelDeps {
  login: OidcLogin;
  identity: IdentityFreshness;
  store: IdentityStore;
  log: Logger;
  /** Where refused logout tokens are audited, aggregated: anyone can post here. */
  refused: AggregatedAudit;
}

/** The audit action of a refused back-channel logout (outcome `refused`). */
export const BACKCHANNEL_REFUSED_ACTION = 'auth.backchannel_logout';

/**
 * POST /auth/backchannel-logout/:provider (form-encoded `logout_token`). Mounted before the
 * session and same-origin middleware: the IdP calls it without cookie or Origin. Answers 200 when
 * the token is valid (whether or not a sign-in matched), 400 `invalid_logout_token` otherwise.
 */
export function backchannelLogoutRoutes(deps: BackchannelDeps): Router {
  const router = Router();
  const keySets = new Map<string, JWTVerifyGetKey>();

  async function keysOf(provider: ProviderConfig): Promise<{ issuer: string; keys: JWTVerifyGetKey }> {
    const metadata = (await deps.login.configFor(provider)).serverMetadata();
    if (metadata.jwks_uri === undefined) throw new AppError(503, 'idp_unavailable', 'The identity provider publishes no keys.');
    let keys = keySets.get(provider.id);
    if (keys === undefined) {
      keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
      keySets.set(provider.id, keys);
    }
    return { issuer: metadata.issuer, keys };
  }

  router.post(`${BACKCHANNEL_LOGOUT_PATH}/:provider`, express.urlencoded({ extended: false, limit: BODY_LIMIT }), async (req: Request, res: Response) => {
    res.setHeader('Cache-Control', 'no-store');
    const providerId = String(req.params['provider']);
    const provider = deps.login.providers().find((p) => p.id === providerId);
    try {
      if (provider === undefined) throw badRequest('unknown_provider', 'No such identity provider.');
      const body = logoutBody.safeParse(req.body);
      if (!body.success) throw new LogoutTokenError('no_token', 'no logout_token in a form-encoded body');
      const { issuer, keys } = await keysOf(provider);
      const target = await verifyLogoutToken(body.data.logout_token, { issuer, clientId: provider.clientId, keys });
      if (!(await deps.store.firstUseOfLogoutToken(provider.id, target.jti, JTI_TTL_MS))) throw new LogoutTokenError('replay', 'the logout token was used before (jti replay)');
      const ended = await deps.identity.backchannelLogout(provider, target);
      deps.log.info({ provider: provider.id, ended, bySid: target.sid !== undefined }, 'back-channel logout');
      res.status(200).end();
    } catch (err) {
      const appError = err instanceof LogoutTokenError ? badRequest('invalid_logout_token', 'The logout token is not valid.') : toAppError(err);
      deps.log.warn({ provider: providerId, code: appError.code, reason: err instanceof Error ? err.message : undefined }, 'back-channel logout refused');
      // Audited aggregated (anyone can post here, and must not be able to fill the log); an
      // outage of ours (5xx) is not a refused token.
      if (appError.status < 500) {
        deps.refused.recordQuietly({
          source: sourceKey(req),
          action: BACKCHANNEL_REFUSED_ACTION,
          reason: appError.code,
          actor: null,
          target: null,
          details: {
            // Only a configured provider is named: the path segment is the caller's to choose.
            provider: provider?.id ?? null,
            ...(err instanceof LogoutTokenError ? { problem: err.problem } : {}),
            ip: req.ip ?? null,
          },
        });
      }
      res.status(appError.status).json(errorBody(appError.code, appError.message));
    }
  });
  return router;
}
