// Input validation at the edge: every route declares zod schemas for its params, query and body;
// a mismatch is a 400 whose message names the field, and the handler only ever sees parsed input.
import type { Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { AppError, unauthenticated, type FieldIssue } from '../errors.ts';
import { currentUser } from './current-user.ts';
import { describeIssue, plainIssue } from './issues.ts';
import type { AirlockUser } from '../user.ts';

/** Every zod issue as the API names it: the field, a stable code and a readable message. */
export function zodIssues(error: z.ZodError, part: 'body' | 'query' | 'params'): FieldIssue[] {
  return error.issues.map((i) => fieldIssue(i, part));
}

function fieldIssue(issue: z.core.$ZodIssue, part: 'body' | 'query' | 'params'): FieldIssue {
  const message = plainIssue(issue);
  const code = issue.code === 'too_big' && issue.origin === 'string' ? 'field_too_long' : 'invalid_input';
  return { field: issue.path.length === 0 ? (part === 'body' ? '' : part) : issue.path.join('.'), code, message };
}

/**
 * Parses one part of a request. The error's message names the first problem; a body's error
 * also lists every problem with its field (`issues`), so a form can show them all at once.
 */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, part: 'body' | 'query' | 'params'): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issues = zodIssues(result.error, part);
  const first = issues[0] ?? { field: '', code: 'invalid_input', message: 'invalid' };
  throw new AppError(400, first.code, describeIssue(result.error.issues[0], part), part === 'body' ? { issues } : undefined);
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
