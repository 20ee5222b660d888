// Sign-in, sign-out and "who am I". Browser navigations (login, callback) answer errors with a
// small HTML page; API calls get the JSON error shape. Each sign-in is recorded with identity
// freshness (freshness.ts); `reauth=true` makes the IdP re-authenticate (max_age).
import { Router, type Request, type Response, type NextFunction } from 'express';
import { z } from 'zod';
import { AppError, badRequest, toAppError, unauthenticated, errorMessage, errorBody } from '../errors.ts';
import { isAirlockUser, presentUser, type AirlockUser } from '../user.ts';
import { currentUser, requireUser } from '../http/current-user.ts';
import { SESSION_COOKIE } from '../http/session.ts';
import { loginError, signInTokensOf, type LoginOptions, type OidcLogin } from './oidc.ts';
import type { IdentityFreshness } from './freshness.ts';

declare module 'express-session' {
  interface SessionData {
    returnTo?: string;
  }
}

const loginQuery = z.object({
  provider: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
  // Only same-site relative paths, so a login link cannot bounce the user elsewhere.
  returnTo: z.string().max(512).regex(/^\/(?![/\\])[^\s]*$/).optional(),
  // After 401 reauthentication_required: the IdP must have authenticated the person within the max age.
  reauth: z.enum(['true']).optional(),
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
}

/** A sign-in choice as the login page shows it: never the provider's issuer, client or secret. */
export interface ProviderView {
  id: string;
  label: string;
}

const presentProvider = (p: { id: string; label: string }): ProviderView => ({ id: p.id, label: p.label });

export function authRoutes(login: OidcLogin, identity: IdentityFreshness, log: { warn: (o: object, m: string) => void }, opts: AuthRouteOptions = {}): Router {
  const router = Router();

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
      const options: LoginOptions = query.data.reauth === undefined ? {} : { maxAge: Math.floor(identity.maxAgeMs / 1000) };
      login.passport.authenticate(strategy, options)(req, res, next);
    } catch (err) {
      sendLoginError(res, loginError(err));
    }
  });

  router.get('/auth/callback/:provider', async (req: Request, res: Response) => {
    const provider = login.provider(String(req.params['provider']));
    if (provider === undefined) {
      sendLoginError(res, badRequest('unknown_provider', 'No such identity provider.'));
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
    // The session the sign-in started in; passport replaces it with a fresh one (no fixation).
    const previousSessionId = req.session.id;
    login.passport.authenticate(strategy, (err: unknown, user: unknown, info: { message?: string } | undefined) => {
      if (err !== null && err !== undefined) {
        const appError = loginError(err);
        // The library's message names the failed check; its cause (which holds the parameters) is not logged.
        log.warn({ code: appError.code, provider: provider.id, reason: err instanceof Error ? [err.message, err.cause instanceof Error ? err.cause.message : ''].join(' ').trim() : undefined }, 'sign-in refused');
        sendLoginError(res, appError);
        return;
      }
      if (!isAirlockUser(user)) {
        log.warn({ code: 'login_failed', provider: provider.id, reason: info?.message }, 'sign-in refused');
        sendLoginError(res, badRequest('login_failed', 'The sign-in could not be completed. Start the sign-in again.'));
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

