// CSRF defence for the cookie-authenticated API: state changes must come from our own origin.
import type { RequestHandler } from 'express';
import { forbidden } from '../errors.ts';

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * CSRF defence for cookie-authenticated state changes: the request must come from our own
 * origin (Origin header, or Sec-Fetch-Site for browsers that omit Origin). Fails closed.
 */
export function sameOriginOnly(publicUrl: string): RequestHandler {
  return (req, _res, next) => {
    if (!UNSAFE_METHODS.has(req.method)) return next();
    const origin = req.get('origin');
    const fetchSite = req.get('sec-fetch-site');
    if (origin === publicUrl || (origin === undefined && fetchSite === 'same-origin')) return next();
    next(forbidden('bad_origin', 'This request did not come from the Airlock page.'));
  };
}
