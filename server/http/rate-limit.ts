// Per-user rate limits, counted in Redis so that every instance shares them. A request over the
// limit gets 429 rate_limited with Retry-After; if Redis is down the limiter fails closed (503).
import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { AppError } from '../errors.ts';
import { currentUser } from './current-user.ts';

/** The limiter's window: per-minute budgets are what people reason about. */
const WINDOW_MS = 60_000;

export function userRateLimit(redis: RedisClient, name: string, perMinute: number): RequestHandler {
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // Signed-in users are limited per account (shared NAT at a plant must not starve others).
    keyGenerator: (req: Request) => currentUser(req)?.id ?? `ip:${req.ip ?? 'unknown'}`,
    // Our key generator handles IPv6 by prefixing; the library's IPv6 subnet check does not apply.
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
      next(new AppError(429, 'rate_limited', `Too many requests; try again in ${seconds} s.`, { report: false }));
    },
  });
}
