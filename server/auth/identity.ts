// Who a signed-in user is inside Airlock: roles, sites and company mapped from ID-token
// claims by the identity configuration. Nothing else decides roles.
import type { IdentityConfig, ProviderConfig, Role } from '../config.ts';
import { ROLES } from '../config.ts';
import { AppError } from '../errors.ts';

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

/** Claims we read are untrusted input even after signature checks: bound their sizes. */
const MAX_CLAIM_LENGTH = 256;
const MAX_GROUPS = 200;

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_CLAIM_LENGTH ? v : undefined;
}

function groupsClaim(claims: Record<string, unknown>, name: string): string[] {
  const v = claims[name];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) return [];
  return v.filter((g): g is string => typeof g === 'string' && g.length <= MAX_CLAIM_LENGTH).slice(0, MAX_GROUPS);
}

export function mapClaimsToUser(provider: ProviderConfig, identity: IdentityConfig, claims: Record<string, unknown>): AirlockUser {
  const subject = stringClaim(claims, 'sub');
  if (subject === undefined) throw new AppError(400, 'login_no_subject', 'The identity provider returned no usable subject.');
  const roles = new Set<Role>(provider.defaultRoles);
  const sites = new Set<string>();
  for (const group of groupsClaim(claims, provider.groupsClaim)) {
    const mapping = identity.groups[group];
    if (mapping === undefined) continue;
    for (const r of mapping.roles) roles.add(r);
    for (const s of mapping.sites) sites.add(s);
  }
  if (roles.size === 0) {
    throw new AppError(403, 'login_no_role', 'Your account has no Airlock role. Ask your administrator to add you to an Airlock group.');
  }
  const company = roles.has('vendor') ? stringClaim(claims, provider.companyClaim) : undefined;
  if (roles.has('vendor') && company === undefined) {
    throw new AppError(403, 'login_no_company', 'Vendor accounts must name their company; the identity provider sent none.');
  }
  return Object.freeze({
    id: `${provider.id}:${subject}`,
    provider: provider.id,
    subject,
    name: stringClaim(claims, 'name') ?? stringClaim(claims, 'email') ?? subject,
    email: stringClaim(claims, 'email'),
    roles: ROLES.filter((r) => roles.has(r)),
    sites: [...sites].sort(),
    company,
    entraObjectId: provider.entraObjectIdClaim === undefined ? undefined : stringClaim(claims, provider.entraObjectIdClaim),
  });
}

/** The user as the browser sees it (GET /api/me). */
export function presentUser(user: AirlockUser): Record<string, unknown> {
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
