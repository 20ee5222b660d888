// Who may do what: every authorization rule of the access workflow in one place, as plain
// functions over the user and the subject. Routes and services call these; no inline role ifs.
import type { AirlockUser } from './user.ts';
import type { Role } from './config.ts';
import { forbidden } from './errors.ts';

export const hasRole = (user: AirlockUser, role: Role): boolean => user.roles.includes(role);

export const isSiteApprover = (user: AirlockUser, siteId: string): boolean => hasRole(user, 'approver') && user.sites.includes(siteId);

/** Auditors and admins see everything; approvers their sites; vendors their own requests. */
export function canSeeRequest(user: AirlockUser, request: { siteId: string; requesterId: string }): boolean {
  return (
    hasRole(user, 'auditor') ||
    hasRole(user, 'admin') ||
    isSiteApprover(user, request.siteId) ||
    request.requesterId === user.id
  );
}

/** Throws the precise refusal when the user may not decide (approve or deny) the request. */
export function assertMayDecide(user: AirlockUser, request: { siteId: string; requesterId: string }): void {
  if (request.requesterId === user.id) throw forbidden('own_request', 'Nobody may decide their own request.');
  if (!isSiteApprover(user, request.siteId)) throw forbidden('not_site_approver', "Only a plant manager of the machine's site may decide this request.");
}

export function assertMayRevoke(user: AirlockUser, request: { siteId: string }): void {
  if (!hasRole(user, 'admin') && !isSiteApprover(user, request.siteId)) {
    throw forbidden('not_site_approver', "Only a plant manager of the machine's site or an admin may revoke this grant.");
  }
}

export function assertRole(user: AirlockUser, ...roles: Role[]): void {
  if (!roles.some((r) => hasRole(user, r))) throw forbidden('forbidden', `This needs the ${roles.join(' or ')} role.`);
}

/** Watch, terminate or revoke a live session: the plant managers of its machine's site, and admins. */
export const mayOverseeSession = (user: AirlockUser, session: { machine: { siteId: string } }): boolean =>
  hasRole(user, 'admin') || isSiteApprover(user, session.machine.siteId);

/** Which live sessions a user sees listed: auditors all, overseers theirs, a vendor their own. */
export const maySeeLiveSession = (user: AirlockUser, session: { machine: { siteId: string }; user: { id: string } }): boolean =>
  hasRole(user, 'auditor') || mayOverseeSession(user, session) || session.user.id === user.id;
