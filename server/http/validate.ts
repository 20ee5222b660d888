// Input validation at the edge: every route declares zod schemas for its params, query and body;
// a mismatch is a 400 whose message names the field, and the handler only ever sees parsed input.
import type { Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { badRequest, unauthenticated } from '../errors.ts';
import { currentUser } from './current-user.ts';
import { describeIssue } from './issues.ts';
import type { AirlockUser } from '../user.ts';

export function parseInput<T>(schema: z.ZodType<T>, value: unknown, part: 'body' | 'query' | 'params'): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const code = issue?.code === 'too_big' && typeof issue.origin === 'string' && issue.origin === 'string' ? 'field_too_long' : 'invalid_input';
  throw badRequest(code, describeIssue(issue, part));
}

interface Schemas<P, Q, B> {
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
}

export interface RouteInput<P, Q, B> {
  user: AirlockUser;
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
}

/**
 * A signed-in JSON route: authenticate → validate → handler. The handler returns the response
 * body (sent as JSON with `status`), or undefined when it answered itself.
 */
export function route<P = Record<string, never>, Q = Record<string, never>, B = Record<string, never>>(
  schemas: Schemas<P, Q, B>,
  handler: (input: RouteInput<P, Q, B>) => Promise<unknown>,
  status = 200,
): RequestHandler {
  return async (req, res) => {
    const user = currentUser(req);
    if (user === undefined) throw unauthenticated();
    const input: RouteInput<P, Q, B> = {
      user,
      params: schemas.params ? parseInput(schemas.params, req.params, 'params') : ({} as P),
      query: schemas.query ? parseInput(schemas.query, req.query, 'query') : ({} as Q),
      body: schemas.body ? parseInput(schemas.body, req.body, 'body') : ({} as B),
      req,
      res,
    };
    const result = await handler(input);
    if (result === undefined) {
      if (!res.headersSent) res.status(204).end();
      return;
    }
    res.status(status).json(result);
  };
}
