// The signed-in user of a request (passport puts it on req.user from the Redis session).
import type { Request, RequestHandler } from 'express';
import { unauthenticated } from '../errors.ts';
import { isAirlockUser, type AirlockUser } from '../user.ts';

/** The signed-in user, or undefined. */
export function currentUser(req: Request): AirlockUser | undefined {
  return isAirlockUser(req.user) ? req.user : undefined;
}

export const requireUser: RequestHandler = (req, _res, next) => {
  next(currentUser(req) === undefined ? unauthenticated() : undefined);
};
