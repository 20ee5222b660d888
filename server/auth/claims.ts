// Maps ID-token claims to an Airlock user through the identity configuration: the one place
// roles, sites and company are decided, and whether a sign-in showed a second factor.
import type { IdentityConfig, ProviderConfig, Role } from '../config.ts';
import { ROLES } from '../config.ts';
import { AppError } from '../errors.ts';
import type { AirlockUser } from '../user.ts';

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

/** How many `amr` entries we look at: an IdP lists a handful of methods. */
const MAX_AMR = 20;

/**
 * Whether the ID token shows a second factor, as the provider's `mfa` settings define it: an
 * `amr` method (RFC 8176: `mfa`, `otp`, `hwk`, …) or an `acr` level the provider names.
 */
export function showsMfa(provider: ProviderConfig, claims: Record<string, unknown>): boolean {
  const amr = claims['amr'];
  if (Array.isArray(amr) && amr.slice(0, MAX_AMR).some((m) => typeof m === 'string' && provider.mfa.amr.includes(m))) return true;
  const acr = stringClaim(claims, 'acr');
  return acr !== undefined && provider.mfa.acr.includes(acr);
}

export const MFA_REQUIRED = 'mfa_required';

/** A provider that requires MFA sent a sign-in without it (or a step-up came back without it). */
export const mfaRequired = (message = 'Airlock requires a second factor (a one-time code or a security key) at sign-in, and your identity provider did not confirm one. Sign in again with your second factor, or ask your administrator to set one up for your account.'): AppError =>
  new AppError(403, MFA_REQUIRED, message, { report: false });

/** An Airlock user id: stable across logins, one per subject of one provider. */
export const userIdOf = (providerId: string, subject: string): string => `${providerId}:${subject}`;

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
    id: userIdOf(provider.id, subject),
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
