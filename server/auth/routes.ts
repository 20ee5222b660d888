// Sign-in, sign-out and "who am I". Browser navigations (login, callback) answer errors with a
// small HTML page; API calls get the JSON error shape. Each sign-in is recorded with identity
// freshness (freshness.ts); `reauth=true` makes the IdP re-authenticate (max_age), `stepUp=true`
// also asks for a second factor (acr_values) and refuses a sign-in that shows none. Every refused
// callback is audited, aggregated per source and reason (server/audit/aggregated.ts).
import { Router, type Request, type Response, type NextFunction } from 'express';
import { z } from 'zod';
import { AppError, badRequest, toAppError, unauthenticated, errorMessage, errorBody } from '../errors.ts';
import { isAirlockUser, presentUser, type AirlockUser } from '../user.ts';
import { currentUser, requireUser } from '../http/current-user.ts';
import { SESSION_COOKIE } from '../http/session.ts';
import { sourceKey } from '../http/rate-limit.ts';
import type { AggregatedAudit } from '../audit/aggregated.ts';
import { IdpRefusedError, loginError, signInTokensOf, type LoginOptions, type OidcLogin } from './oidc.ts';
import type { IdentityFreshness } from './freshness.ts';
import { mfaRequired } from './claims.ts';
import { STEP_UP_MAX_AGE_SECONDS } from './step-up.ts';

declare module 'express-session' {
  interface SessionData {
    returnTo?: string;
    /** The sign-in under way is a step-up: it must show a second factor. */
    stepUp?: boolean;
  }
}

/** The audit action of a refused sign-in (outcome `refused`, reason the error code). */
export const SIGN_IN_REFUSED_ACTION = 'auth.sign_in';

const loginQuery = z.object({
  provider: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
  // Only same-site relative paths, so a login link cannot bounce the user elsewhere.
  returnTo: z.string().max(512).regex(/^\/(?![/\\])[^\s]*$/).optional(),
  // After 401 reauthentication_required: the IdP must have authenticated the person within the max age.
  reauth: z.enum(['true']).optional(),
  // After 401 step_up_required: a fresh authentication (max_age) with a second factor (acr_values).
  stepUp: z.enum(['true']).optional(),
});

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function sendLoginError(res: Response, err: AppError): void {
  res.status(err.status);
  if (err.status === 503) res.setHeader('Retry-After', '5');
  res.format({
    html: () => {
      res.send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed — Airlock</title></head>
<body><main><h1>Sign-in failed</h1><p id="error-message">${escapeHtml(err.message)}</p>
<p>Error code: <code id="error-code">${escapeHtml(err.code)}</code></p><p><a href="/">Back to Airlock</a></p></main></body></html>`);
    },
    default: () => {
      res.json(errorBody(err.code, err.message));
    },
  });
}

export interface AuthRouteOptions {
  /**
   * Called after each successful sign-in, before the redirect (integrations refresh what they
   * know of the user). A failure is logged and does not fail the sign-in.
   */
  onSignIn?: (user: AirlockUser) => Promise<void>;
  /** Where refused sign-ins are audited (aggregated: anyone can call the callback). */
  refused: AggregatedAudit;
}

/** A sign-in choice as the login page shows it: never the provider's issuer, client or secret. */
export interface ProviderView {
  id: string;
  label: string;
}

const presentProvider = (p: { id: string; label: string }): ProviderView => ({ id: p.id, label: p.label });

export function authRoutes(login: OidcLogin, identity: IdentityFreshness, log: { warn: (o: object, m: string) => void }, opts: AuthRouteOptions): Router {
  const router = Router();

  /**
   * Answers a refused sign-in and audits it, counted against the source address (or the person,
   * when the IdP vouched for them and only our own check refused).
   */
  const refuse = (req: Request, res: Response, err: AppError, details: Record<string, unknown>, who?: AirlockUser): void => {
    opts.refused.recordQuietly({
      source: who === undefined ? sourceKey(req) : `user:${who.id}`,
      action: SIGN_IN_REFUSED_ACTION,
      reason: err.code,
      actor: who === undefined ? null : { id: who.id, name: who.name },
      target: null,
      details: { ...details, ip: req.ip ?? null },
    });
    sendLoginError(res, err);
  };

  router.get('/auth/providers', (_req, res) => {
    res.json({ providers: login.providers().map(presentProvider) });
  });

  router.get('/auth/login', async (req: Request, res: Response, next: NextFunction) => {
    const query = loginQuery.safeParse(req.query);
    if (!query.success) {
      sendLoginError(res, badRequest('invalid_login_request', 'Unknown provider or return path.'));
      return;
    }
    const provider = login.provider(query.data.provider);
    if (provider === undefined) {
      sendLoginError(res, badRequest('unknown_provider', 'No such identity provider.'));
      return;
    }
    try {
      const strategy = await login.strategyFor(provider);
      req.session.returnTo = query.data.returnTo ?? '/';
      const stepUp = query.data.stepUp !== undefined;
      // Set or cleared on every start: an abandoned step-up does not bind a later plain sign-in.
      if (stepUp) req.session.stepUp = true;
      else delete req.session.stepUp;
      const reauthAge = Math.floor(identity.maxAgeMs / 1000);
      const options: LoginOptions = stepUp
        ? { maxAge: query.data.reauth === undefined ? STEP_UP_MAX_AGE_SECONDS : Math.min(STEP_UP_MAX_AGE_SECONDS, reauthAge), ...(provider.mfa.acrValues === undefined ? {} : { acrValues: provider.mfa.acrValues }) }
        : query.data.reauth === undefined
          ? {}
          : { maxAge: reauthAge };
      login.passport.authenticate(strategy, options)(req, res, next);
    } catch (err) {
      sendLoginError(res, loginError(err));
    }
  });

  router.get('/auth/callback/:provider', async (req: Request, res: Response) => {
    const provider = login.provider(String(req.params['provider']));
    if (provider === undefined) {
      refuse(req, res, badRequest('unknown_provider', 'No such identity provider.'), {});
      return;
    }
    let strategy: string;
    try {
      strategy = await login.strategyFor(provider);
    } catch (err) {
      sendLoginError(res, loginError(err));
      return;
    }
    const returnTo = req.session.returnTo ?? '/';
    const stepUp = req.session.stepUp === true;
    // The session the sign-in started in; passport replaces it with a fresh one (no fixation).
    const previousSessionId = req.session.id;
    login.passport.authenticate(strategy, (err: unknown, user: unknown, info: { message?: string; error?: unknown } | undefined) => {
      if (err !== null && err !== undefined) {
        const appError = loginError(err);
        // The library's message names the failed check; its cause (which holds the parameters) is not logged.
        log.warn({ code: appError.code, provider: provider.id, reason: err instanceof Error ? [err.message, err.cause instanceof Error ? err.cause.message : ''].join(' ').trim() : undefined }, 'sign-in refused');
        // An outage is not a refused attempt: only the IdP's and our checks' answers are audited.
        if (appError.status < 500) refuse(req, res, appError, { provider: provider.id, ...(appError instanceof IdpRefusedError ? { idpError: appError.idpError } : {}) });
        else sendLoginError(res, appError);
        return;
      }
      if (!isAirlockUser(user)) {
        // openid-client's strategy turns the IdP's access_denied (after checking the state) into
        // a failure whose info carries the callback's parameters; anything else is a lost state.
        const refusal = typeof info?.error === 'string' ? new IdpRefusedError(info.error, undefined) : badRequest('login_failed', 'The sign-in could not be completed. Start the sign-in again.');
        log.warn({ code: refusal.code, provider: provider.id, reason: info?.message }, 'sign-in refused');
        refuse(req, res, refusal, { provider: provider.id, ...(refusal instanceof IdpRefusedError ? { idpError: refusal.idpError } : {}) });
        return;
      }
      if (stepUp && signInTokensOf(req)?.mfa !== true) {
        // The IdP answered the step-up without a second factor: the earlier sign-in stays as it was.
        log.warn({ code: 'mfa_required', provider: provider.id, stepUp: true }, 'sign-in refused');
        delete req.session.stepUp;
        refuse(
          req,
          res,
          mfaRequired('This machine needs a sign-in with your second factor, and your identity provider did not confirm one. You are still signed in as before: open the session again and use your second factor when asked.'),
          { provider: provider.id, stepUp: true },
          user,
        );
        return;
      }
      // passport regenerates the session id here (no fixation); nothing of the old session is kept.
      req.logIn(user, (loginErr: unknown) => {
        if (loginErr !== null && loginErr !== undefined) {
          sendLoginError(res, toAppError(loginErr));
          return;
        }
        const expiresAt = req.session.cookie.expires?.getTime() ?? Date.now() + (req.session.cookie.originalMaxAge ?? 0);
        identity
          .signedIn({ browserSessionId: req.session.id, previousSessionId, user, provider, tokens: signInTokensOf(req), expiresAt })
          .then(
            () => {
              const signedIn = opts.onSignIn?.(user) ?? Promise.resolve();
              signedIn
                .catch((hookErr: unknown) => log.warn({ err: { message: errorMessage(hookErr) }, provider: provider.id }, 'sign-in hook failed'))
                .finally(() => res.redirect(303, returnTo));
            },
            (recordErr: unknown) => {
              // Without its identity record the session stands for nobody: the sign-in failed.
              req.session.destroy(() => sendLoginError(res, toAppError(recordErr)));
            },
          );
      });
    })(req, res, (e?: unknown) => sendLoginError(res, loginError(e)));
  });

  router.post('/auth/logout', async (req: Request, res: Response, next: NextFunction) => {
    // The sign-in ends first (every instance, the live sessions, chat): if destroying the cookie's
    // session then fails, that session already stands for nobody.
    await identity.signOut(req.session.id, currentUser(req) ?? null);
    req.logout((err: unknown) => {
      if (err !== null && err !== undefined) {
        next(err);
        return;
      }
      // logout regenerated the session; destroy the fresh one too so nothing is left in Redis.
      req.session.destroy((destroyErr: unknown) => {
        if (destroyErr !== null && destroyErr !== undefined) {
          next(destroyErr);
          return;
        }
        res.clearCookie(SESSION_COOKIE, { path: '/' });
        res.status(204).end();
      });
    });
  });

  router.get('/api/me', requireUser, (req: Request, res: Response) => {
    const user = currentUser(req);
    if (user === undefined) throw unauthenticated();
    res.json({ user: presentUser(user) });
  });

  return router;
}

