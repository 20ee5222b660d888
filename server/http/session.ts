// Browser sessions: express-session records in Redis behind an HttpOnly cookie. One middleware
// instance serves the HTTP routes and the WebSocket upgrade guard alike.
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import type { RequestHandler } from 'express';
import type { Config } from '../config.ts';
import type { RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';

/** The browser session cookie's name. */
export const SESSION_COOKIE = 'airlock.sid';

/**
 * How long Redis keeps a session that has not signed in (the OIDC state, nonce and PKCE
 * verifier of a sign-in under way): IdPs' own login pages expire in about as long, and an
 * abandoned or flooded start must not hold memory for the whole sign-in lifetime.
 */
export const PRE_SIGN_IN_TTL_SECONDS = 600;

const signedIn = (sess: unknown): boolean =>
  typeof sess === 'object' && sess !== null && (sess as { passport?: { user?: unknown } }).passport?.user !== undefined;

export function createSessionMiddleware(config: Config, redis: RedisClient): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    // No touch: a sign-in lives AIRLOCK_SESSION_TTL_SECONDS from login, however active (an
    // absolute lifetime), and reads cost one Redis GET instead of a GET plus an EXPIRE.
    store: new RedisStore({
      client: redis,
      prefix: keys.sessionPrefix,
      ttl: (sess) => (signedIn(sess) ? config.session.ttlSeconds : Math.min(PRE_SIGN_IN_TTL_SECONDS, config.session.ttlSeconds)),
      disableTouch: true,
    }),
    secret: config.session.secret,
    resave: false,
    saveUninitialized: false,
    proxy: config.trustProxy,
    cookie: {
      httpOnly: true,
      secure: config.session.secureCookies,
      // Lax, not Strict: the IdP's redirect back to /auth/callback is a cross-site navigation
      // that must carry the cookie holding the PKCE verifier.
      sameSite: 'lax',
      maxAge: config.session.ttlSeconds * 1000,
      path: '/',
    },
  });
}
