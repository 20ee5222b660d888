// Errors with a stable code and an HTTP status, and the one middleware that turns anything
// thrown into the same JSON shape: {error: {code, message}}. Unknown errors never leak.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import * as redis from 'redis';
import { RedisNotDurableError, RedisUnavailableError } from './redis-errors.ts';

/**
 * What node-redis throws while the store is down or hung: offline or closed clients, a command
 * timed out before it was written, and (DisconnectsClientError) the commands the watchdog in
 * redis.ts fails when it resets a connection to a server that stopped answering; and what the
 * Sentinel client says when there is no master or no answer in time (RedisUnavailableError).
 */
const REDIS_DOWN_ERRORS = [
  redis.ClientClosedError,
  redis.ClientOfflineError,
  redis.ConnectionTimeoutError,
  redis.DisconnectsClientError,
  redis.SocketClosedUnexpectedlyError,
  redis.SocketTimeoutError,
  redis.TimeoutError,
  RedisUnavailableError,
];

/** One problem with one field of a request body, so a form can show each next to its field. */
export interface FieldIssue {
  /** The field's path in the body, dot-separated (`port`, `policy.readOnly`); '' for the body itself. */
  field: string;
  code: string;
  message: string;
}

/**
 * A failure that is no HTTP error yet, told apart by its stable `code` (a scanner's, a delivery's,
 * the vault's): its owner turns it into an AppError or a state. Subclasses name their codes.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  /** Worth an error-level log line (a server fault), as opposed to a client mistake. */
  readonly report: boolean;
  /** Every problem found with the body's fields (validation errors), the first of which is `message`. */
  readonly issues: readonly FieldIssue[] | undefined;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown; report?: boolean; issues?: readonly FieldIssue[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.report = options?.report ?? status >= 500;
    this.issues = options?.issues;
  }
}

export const badRequest = (code: string, message: string): AppError => new AppError(400, code, message);
/** A body with one or more bad fields: the first names the error, all are listed. */
export const invalidFields = (issues: readonly [FieldIssue, ...FieldIssue[]]): AppError =>
  new AppError(400, issues[0].code, issues[0].field === '' ? issues[0].message : `${issues[0].field}: ${issues[0].message}`, { issues });
export const unauthenticated = (message = 'Sign in first.'): AppError => new AppError(401, 'unauthenticated', message);
export const forbidden = (code: string, message: string): AppError => new AppError(403, code, message);
export const notFound = (code: string, message: string): AppError => new AppError(404, code, message);
export const conflict = (code: string, message: string): AppError => new AppError(409, code, message);
export const preconditionFailed = (code: string, message: string): AppError => new AppError(412, code, message);
export const unavailable = (code: string, message: string, cause?: unknown): AppError =>
  new AppError(503, code, message, { cause, report: true });

export interface ErrorBody {
  error: { code: string; message: string; issues?: readonly FieldIssue[] };
}

export function errorBody(code: string, message: string, issues?: readonly FieldIssue[]): ErrorBody {
  return { error: issues === undefined ? { code, message } : { code, message, issues } };
}

/** The message of anything thrown, for log lines and wrapped errors (a thrown non-Error is stringified). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Maps foreign errors we know (body-parser, Redis) to AppErrors; anything else is internal. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (typeof err === 'object' && err !== null) {
    const e = err as { type?: unknown; status?: unknown };
    if (e.type === 'entity.parse.failed') return badRequest('malformed_json', 'The request body is not valid JSON.');
    if (e.type === 'entity.too.large') return new AppError(413, 'payload_too_large', 'The request body is too large.');
    if (typeof e.type === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return badRequest('bad_request', 'The request could not be read.');
    }
    // A write that no replica confirmed: it may be lost in a failover, so it did not happen.
    if (err instanceof RedisNotDurableError) {
      return unavailable('store_not_durable', 'The state store could not confirm the change on a standby copy, so it may be lost; read it again and retry shortly.', err);
    }
    // node-redis errors while the server is down or hung: fail closed with a 503.
    if (REDIS_DOWN_ERRORS.some((cls) => err instanceof cls)) {
      return unavailable('store_unavailable', 'The state store is unavailable; try again shortly.', err);
    }
  }
  return new AppError(500, 'internal_error', 'Something went wrong on our side.', { cause: err, report: true });
}

export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const appError = toAppError(err);
    if (appError.report) log.error({ err: appError.cause ?? appError, code: appError.code, path: req.path }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    if (appError.status === 503) res.setHeader('Retry-After', '5');
    res.status(appError.status).json(errorBody(appError.code, appError.message, appError.issues));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(notFound('not_found', `No route for ${req.method} ${req.path}.`));
};
