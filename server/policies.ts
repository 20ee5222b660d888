// Who may do what: every authorization rule of Airlock in one place, as plain functions over the
// user and the subject. Routes and services call these; nobody else looks at a role.
import type { AirlockUser } from './user.ts';
import type { Role } from './config.ts';
import { forbidden } from './errors.ts';

/** A request as far as the rules care: whose it is and on which site's machine. */
export interface RequestSubject {
  siteId: string;
  requesterId: string;
}

/** A live session as far as the rules care: the machine's site and the vendor holding it. */
export interface LiveSessionSubject {
  machine: { siteId: string };
  user: { id: string };
}

// ---- building blocks (for this module; the broker still reads them until it uses the rules below) ----

const hasRole = (user: AirlockUser, role: Role): boolean => user.roles.includes(role);

const hasAnyRole = (user: AirlockUser, roles: readonly Role[]): boolean => roles.some((r) => hasRole(user, r));

/** A plant manager of this site. */
const isSiteApprover = (user: AirlockUser, siteId: string): boolean => hasRole(user, 'approver') && user.sites.includes(siteId);

/** Plant staff who may observe a site's sessions (required observer): its plant managers and its observers. */
const isSiteObserver = (user: AirlockUser, siteId: string): boolean => hasAnyRole(user, ['approver', 'observer']) && user.sites.includes(siteId);

/** Auditors and admins look across every site. */
const seesEverySite = (user: AirlockUser): boolean => hasAnyRole(user, ['auditor', 'admin']);

/**
 * The sites whose requests and recordings the user oversees: undefined for every site
 * (auditors, admins), a plant manager's own sites, none for anyone else.
 */
function overseenSites(user: AirlockUser): readonly string[] | undefined {
  if (seesEverySite(user)) return undefined;
  return hasRole(user, 'approver') ? user.sites : [];
}

// ---- access requests ----

/** Only vendors file access requests (extensions included). */
export function assertMayRequest(user: AirlockUser): void {
  if (!hasRole(user, 'vendor')) throw forbidden('forbidden', 'This needs the vendor role.');
}

/** Auditors and admins see everything; approvers their sites; vendors their own requests. */
export function canSeeRequest(user: AirlockUser, request: RequestSubject): boolean {
  return seesEverySite(user) || isSiteApprover(user, request.siteId) || request.requesterId === user.id;
}

/** The `all` listing (as opposed to one's own) is for approvers, auditors and admins. */
export function assertMayListAllRequests(user: AirlockUser): void {
  if (!hasAnyRole(user, ['auditor', 'admin', 'approver'])) {
    throw forbidden('forbidden', 'Listing all requests needs the approver, auditor or admin role.');
  }
}

/** The sites whose requests the `all` listing shows: undefined for every site. */
export const requestListSites = (user: AirlockUser): readonly string[] | undefined => overseenSites(user);

/** Whether the user may approve or deny the request: a plant manager of its site, never its requester. */
export function mayDecide(user: AirlockUser, request: RequestSubject): boolean {
  return request.requesterId !== user.id && isSiteApprover(user, request.siteId);
}

/** The sites whose requests the user decides (a plant manager's own); none for anyone else. */
export const decisionSites = (user: AirlockUser): readonly string[] => (hasRole(user, 'approver') ? user.sites : []);

/** Throws the precise refusal when the user may not decide (approve or deny) the request. */
export function assertMayDecide(user: AirlockUser, request: RequestSubject): void {
  if (request.requesterId === user.id) throw forbidden('own_request', 'Nobody may decide their own request.');
  if (!isSiteApprover(user, request.siteId)) throw forbidden('not_site_approver', "Only a plant manager of the machine's site may decide this request.");
}

/** Whether the user may act as the holder of the request: cancel it, or ask to extend its grant. */
export const isRequester = (user: AirlockUser, request: Pick<RequestSubject, 'requesterId'>): boolean => request.requesterId === user.id;

export function assertMayCancel(user: AirlockUser, request: Pick<RequestSubject, 'requesterId'>): void {
  if (!isRequester(user, request)) throw forbidden('not_requester', 'Only the requester may cancel a request.');
}

/** Plant managers and observers of the site, and admins, oversee its grants and live sessions. */
const overseesSite = (user: AirlockUser, siteId: string): boolean => hasRole(user, 'admin') || isSiteObserver(user, siteId);

export function assertMayRevoke(user: AirlockUser, request: Pick<RequestSubject, 'siteId'>): void {
  if (!overseesSite(user, request.siteId)) {
    throw forbidden('not_site_approver', "Only a plant manager or observer of the machine's site, or an admin, may revoke this grant.");
  }
}

// ---- live sessions ----

/** Watch or terminate a live session: a plant manager or observer of the machine's site, or an admin. */
export const mayOverseeSession = (user: AirlockUser, session: Pick<LiveSessionSubject, 'machine'>): boolean => overseesSite(user, session.machine.siteId);

export function assertMayTerminateSession(user: AirlockUser, session: Pick<LiveSessionSubject, 'machine'>): void {
  if (!mayOverseeSession(user, session)) {
    throw forbidden('not_site_approver', "Only a plant manager or observer of the machine's site, or an admin, may terminate this session.");
  }
}

/**
 * Be the plant observer a session waits for (a machine with `observer: required`): watch with
 * the vendor's input released, pause and resume it, take the controls. Plant managers and
 * observers of the machine's site only; admins and auditors may watch but do not count.
 */
export const mayObserve = (user: AirlockUser, session: LiveSessionSubject): boolean => session.user.id !== user.id && isSiteObserver(user, session.machine.siteId);

export function assertMayObserve(user: AirlockUser, session: LiveSessionSubject): void {
  if (!mayObserve(user, session)) {
    throw forbidden('not_site_observer', "Only a plant manager or an observer of the machine's site may observe this session.");
  }
}

/** Which live sessions the user sees listed: auditors all, overseers theirs, a vendor their own. */
export function maySeeLiveSession(user: AirlockUser, session: LiveSessionSubject): boolean {
  return hasRole(user, 'auditor') || mayOverseeSession(user, session) || session.user.id === user.id;
}

// ---- the file airlock (sessions/files) ----

/** A file through the airlock as far as the rules care: the session's vendor and the machine's site. */
export interface FileSubject {
  user: { id: string };
  machine: { siteId: string };
}

/** Only the vendor holding the session puts files into it. */
export function assertMayTransferFiles(user: AirlockUser, session: LiveSessionSubject): void {
  if (session.user.id !== user.id) throw forbidden('not_session_vendor', 'Only the vendor of the session sends files into it.');
}

/** The session's vendor, the plant overseeing it, and auditors see its files. */
export const maySeeSessionFiles = (user: AirlockUser, subject: FileSubject): boolean =>
  subject.user.id === user.id || maySeeSiteFiles(user, subject.machine.siteId);

/** Every file of a site's sessions (the plant's file screen): the plant overseeing it, and auditors. */
export const maySeeSiteFiles = (user: AirlockUser, siteId: string): boolean => hasRole(user, 'auditor') || overseesSite(user, siteId);

/**
 * Who hears, live, that a site's files changed (the `session.file` events on /api/events): those
 * who decide them, the plant managers of the site (and admins). The vendor's own screen reads its files.
 */
export const mayDecideSiteFiles = (user: AirlockUser, siteId: string): boolean => hasRole(user, 'admin') || isSiteApprover(user, siteId);

/** A plant manager of the machine's site (or an admin) releases or denies a file; never the vendor who sent it. */
export function assertMayDecideFile(user: AirlockUser, subject: FileSubject): void {
  if (subject.user.id === user.id) throw forbidden('own_file', 'Nobody may release their own file.');
  // A plant manager's decision, like a request's: an observer watches, and decides no file.
  if (!mayDecideSiteFiles(user, subject.machine.siteId)) throw forbidden('not_site_approver', "Only a plant manager of the machine's site may release or deny this file.");
}

// ---- recordings ----

/** Recordings are for auditors, admins and plant managers; vendors are refused outright. */
export function assertMayReadRecordings(user: AirlockUser): void {
  if (!seesEverySite(user) && !hasRole(user, 'approver')) {
    throw forbidden('forbidden', 'Recordings are for auditors, administrators and the plant managers of the site.');
  }
}

/** The sites whose recordings the user may search, replay and bundle: undefined for every site. */
export function recordingSites(user: AirlockUser): readonly string[] | undefined {
  assertMayReadRecordings(user);
  return overseenSites(user);
}

/** Read, replay, download or bundle one recording. */
export function mayReadRecording(user: AirlockUser, recording: { siteId: string }): boolean {
  return seesEverySite(user) || isSiteApprover(user, recording.siteId);
}

/** Legal holds are placed and released by auditors and admins. */
export function assertMayHoldRecordings(user: AirlockUser, change: 'place' | 'release'): void {
  if (!seesEverySite(user)) throw forbidden('forbidden', `Legal holds are ${change === 'place' ? 'placed' : 'released'} by auditors and administrators.`);
}

// ---- audit log, inventory, administration ----

/** Query, verify and export the audit log. */
export function assertMayReadAudit(user: AirlockUser): void {
  if (!seesEverySite(user)) throw forbidden('forbidden', 'Only auditors and administrators may read the audit log.');
}

/** Approvers, auditors and admins see every site and machine; vendors only their company's. */
export const seesAllInventory = (user: AirlockUser): boolean => hasAnyRole(user, ['approver', 'auditor', 'admin']);

/** Editing sites, companies, machines and credentials. */
export function assertMayAdminister(user: AirlockUser): void {
  if (!hasRole(user, 'admin')) throw forbidden('forbidden', 'This needs the admin role.');
}
