// Who a signed-in user is inside Airlock (a shared domain type): roles, sites and company, as
// auth/claims.ts mapped them from the ID token. Nothing else decides roles.
import type { Role } from './config.ts';
import { ROLES } from './config.ts';

export interface AirlockUser {
  /** Stable across logins: `<provider id>:<sub>`. */
  readonly id: string;
  readonly provider: string;
  readonly subject: string;
  readonly name: string;
  readonly email: string | undefined;
  readonly roles: readonly Role[];
  /** Sites this user manages (approvers); empty for everyone else. */
  readonly sites: readonly string[];
  /** The vendor's company, from the company claim; only vendors carry one. */
  readonly company: string | undefined;
  /**
   * The Microsoft Entra object id (`oid`, or the provider's entraObjectIdClaim) when the token
   * carried one: Teams names users by it, so chat can link them. Sessions from before it existed lack it.
   */
  readonly entraObjectId: string | undefined;
}

/** The user as the browser sees it (GET /api/me). */
export interface UserView {
  id: string;
  name: string;
  email: string | null;
  roles: readonly Role[];
  sites: readonly string[];
  company: string | null;
  provider: string;
}

export function presentUser(user: AirlockUser): UserView {
  return {
    id: user.id,
    name: user.name,
    email: user.email ?? null,
    roles: user.roles,
    sites: user.sites,
    company: user.company ?? null,
    provider: user.provider,
  };
}

/** Sessions hold users as plain JSON; this re-validates their shape when they come back. */
export function isAirlockUser(v: unknown): v is AirlockUser {
  if (typeof v !== 'object' || v === null) return false;
  const u = v as Record<string, unknown>;
  return (
    typeof u['id'] === 'string' &&
    typeof u['provider'] === 'string' &&
    typeof u['subject'] === 'string' &&
    typeof u['name'] === 'string' &&
    Array.isArray(u['roles']) &&
    (u['roles'] as unknown[]).every((r) => typeof r === 'string' && (ROLES as readonly string[]).includes(r)) &&
    Array.isArray(u['sites']) &&
    (u['entraObjectId'] === undefined || typeof u['entraObjectId'] === 'string')
  );
}
