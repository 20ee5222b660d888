// Rate limits counted in Redis so that every instance shares them: per user for the API, per
// source address for what anyone can reach unauthenticated (sign-in, chat callbacks). A
// request over the limit gets 429 rate_limited with Retry-After (and is reported to `onLimited`,
// which audits it aggregated); if Redis is down the limiter fails closed (503).
import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { AppError } from '../errors.ts';
import { currentUser } from './current-user.ts';

/** The limiter's window: per-minute budgets are what people reason about. */
const WINDOW_MS = 60_000;
/**
 * Source addresses are counted per IPv6 /56 (what one site or household is usually given),
 * so one client cannot dodge the limit by hopping across its own prefix. IPv4: per address.
 */
const IPV6_SUBNET = 56;

/** An address as a per-source limit (or an aggregated audit) counts it: `ip:<address or IPv6 /56>`. */
export const addressKey = (ip: string | undefined): string => `ip:${ipKeyGenerator(ip ?? 'unknown', IPV6_SUBNET)}`;

/** The client's address as express sees it (behind a proxy: with AIRLOCK_TRUST_PROXY). */
export const sourceKey = (req: Request): string => addressKey(req.ip);

export interface RateLimitOptions {
  /**
   * Told of each request the limit refuses, with the key it was counted under (`ip:<address>`
   * or the user id): e.g. to audit the refusals aggregated. Must not throw or wait: the 429
   * is answered at once whatever it does.
   */
  onLimited?: (req: Request, key: string) => void;
}

function limiter(redis: RedisClient, name: string, perMinute: number, keyGenerator: (req: Request) => string, opts: RateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator,
    // Our key generators handle IPv6 themselves (sourceKey); the library's check does not apply.
    validate: { keyGeneratorIpFallback: false },
    passOnStoreError: false,
    store: new RedisStore({
      prefix: keys.rateLimitPrefix(name),
      sendCommand: (...args: string[]) => redis.sendCommand(args) as Promise<RedisReply>,
    }),
    handler: (req, res, next) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = reset === undefined ? 60 : Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000));
      res.setHeader('Retry-After', String(seconds));
      opts.onLimited?.(req, keyGenerator(req));
      next(new AppError(429, 'rate_limited', `Too many requests; try again in ${seconds} s.`, { report: false }));
    },
  });
}

/** Signed-in users are limited per account (shared NAT at a plant must not starve others). */
export function userRateLimit(redis: RedisClient, name: string, perMinute: number, opts: RateLimitOptions = {}): RequestHandler {
  return limiter(redis, name, perMinute, (req) => currentUser(req)?.id ?? sourceKey(req), opts);
}

/**
 * Per source address, for routes anyone may call before signing in. Mount it before the
 * session middleware, so a refused request costs one counter and never a session record.
 */
export function sourceRateLimit(redis: RedisClient, name: string, perMinute: number, opts: RateLimitOptions = {}): RequestHandler {
  return limiter(redis, name, perMinute, sourceKey, opts);
}
