// The browser's only way to talk to the portal: same-origin JSON calls, errors in one shape,
// and one typed function per endpoint of docs/api.md.

// The portal's answers, typed by the server's own schemas and presenters (type-only imports
// erase at build time, so no server code reaches the browser bundle).
import type { Role as ServerRole } from '../../server/config.ts';
import type { UserView } from '../../server/user.ts';
import type { ProviderView } from '../../server/auth/routes.ts';
import type { Policy as ServerPolicy, Protocol as ServerProtocol, RDP_SECURITY as SERVER_RDP_SECURITY } from '../../server/inventory/schema.ts';
import type { CompanyNameView, CompanyView, MachineAdminView as ServerMachineAdminView, MachineView as ServerMachineView, SiteView } from '../../server/inventory/presenter.ts';
import type {
  AccessRequest as ServerAccessRequest,
  CreateRequestBody,
  PersonRef as ServerPersonRef,
  RequestPage as ServerRequestPage,
  RequestState as ServerRequestState,
  StartMode as ServerStartMode,
  ExpiredReason as ServerExpiredReason,
} from '../../server/requests/schema.ts';
import type { ApproveInput as ServerApproveInput } from '../../server/requests/service.ts';
import type { LiveEventView } from '../../server/requests/presenter.ts';
import type { AuditEvent as ServerAuditEvent } from '../../server/audit/schema.ts';
import type { AuditPage as ServerAuditPage, VerifyResult } from '../../server/audit/store.ts';
import type { LiveSessionView, OpenedSessionView, TunnelTicketView } from '../../sessions/routes.ts';
import type { ChatLinksView, ChatLinkView } from '../../server/chat/routes.ts';
import type { Platform } from '../../server/chat/model.ts';
import type { RecordingVerification as ServerRecordingVerification } from '../../recordings/manifest.ts';
import type { FileKind } from '../../recordings/layout.ts';
import type { RecordingDetailsView, RecordingPage as ServerRecordingPage, RecordingView } from '../../recordings/presenter.ts';
import type { TimelineEntry as ServerTimelineEntry } from '../../recordings/service.ts';

export type Role = ServerRole;
export type Me = UserView;
export type Provider = ProviderView;
export type Site = SiteView;

export type Protocol = ServerProtocol;
export const PROTOCOLS: readonly Protocol[] = ['rdp', 'vnc', 'ssh', 'telnet'];

export type RdpSecurity = (typeof SERVER_RDP_SECURITY)[number];
export const RDP_SECURITY: readonly RdpSecurity[] = ['any', 'nla', 'tls', 'rdp'];

export type ChatDecision = ServerMachineAdminView['chatDecision'];
export const CHAT_DECISIONS: readonly ChatDecision[] = ['allowed', 'web-only'];

/** What a session may do; on a machine, the most it allows. */
export type Policy = ServerPolicy;

/** The permissions a vendor asks for; `readOnly` is a restriction, not a permission. */
export type Permission = 'clipboardCopy' | 'clipboardPaste' | 'fileTransfer';
export const PERMISSIONS: readonly { key: Permission; label: string }[] = [
  { key: 'clipboardCopy', label: 'Clipboard copy' },
  { key: 'clipboardPaste', label: 'Clipboard paste' },
  { key: 'fileTransfer', label: 'File transfer' },
];

export type RequiredApprovals = ServerMachineView['requiredApprovals'];

export type MachineView = ServerMachineView;
export type MachineAdminView = ServerMachineAdminView;

/** The body of PUT /api/admin/machines/:id: what the admin view shows, less what the portal works out; rdpSecurity absent (or null) for guacd's default. */
export type MachineInput = Omit<MachineAdminView, 'siteName' | 'siteTimeZone' | 'hasCredential' | 'rdpSecurity'> & { rdpSecurity?: RdpSecurity | null };

export interface CredentialInput {
  username: string;
  password?: string;
  privateKey?: string;
}

export type Company = CompanyView;
export type CompanyName = CompanyNameView;

export type RequestState = ServerRequestState;
/** The order the screens list states in. */
export const REQUEST_STATES: readonly RequestState[] = ['pending', 'approved', 'active', 'denied', 'expired', 'cancelled', 'ended', 'revoked'];

/** How a window starts: at a set time, now, or when approved. */
export type StartMode = ServerStartMode;
export type ExpiredReason = ServerExpiredReason;

export type PersonRef = ServerPersonRef;
export type Decision = ServerAccessRequest['approvals'][number];
export type AccessRequest = ServerAccessRequest;
export type NewRequest = CreateRequestBody;

export type RequestScope = 'mine' | 'waiting' | 'all';
export type RequestPage = ServerRequestPage;
export type ApproveInput = ServerApproveInput;

/** The live events the screens refresh on (the stream carries these for requests one may see). */
export type LiveEventType = Extract<
  LiveEventView['type'],
  'request.created' | 'request.approval_added' | 'request.decided' | 'request.cancelled' | 'request.expired' | 'grant.revoked' | 'session.started' | 'session.ended' | 'session.watchers_changed'
>;
export const LIVE_EVENT_TYPES: readonly LiveEventType[] = [
  'request.created',
  'request.approval_added',
  'request.decided',
  'request.cancelled',
  'request.expired',
  'grant.revoked',
  'session.started',
  'session.ended',
  // Someone started or stopped watching a session: the vendor's screen and the live list show who.
  'session.watchers_changed',
];
export type LiveEvent = LiveEventView;

export type AuditEvent = ServerAuditEvent;

/** The query string of GET /api/audit, as the screens fill it in. */
export interface AuditQuery {
  actor?: string;
  action?: string;
  site?: string;
  target?: string;
  from?: string;
  to?: string;
  limit?: number;
  before?: string;
}

export type AuditPage = ServerAuditPage;
export type ChainVerification = VerifyResult;

/** A brokered remote session that is running now (docs/api.md "Brokered sessions"). */
export type LiveSession = LiveSessionView;
/** Where and how to connect: a single-use ticket (valid ~30 s) for the WebSocket tunnel. */
export type TunnelTicket = TunnelTicketView;
/** The answer to POST /api/sessions: a session opened for the caller's grant. */
export type OpenedSession = OpenedSessionView;

/** One field's problem in a refusal (`error.fields`, when the server lists them). */
export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Every field problem the server named; today's server names one, in the message ("reason: …"). */
  readonly fields: FieldError[];
  constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

/** `error.fields` if the server sent a list, else the field named by a "field: message" text. */
function fieldErrors(err: { code?: string; message?: string; fields?: unknown } | undefined): FieldError[] {
  if (Array.isArray(err?.fields)) {
    return err.fields.flatMap((f: unknown) => {
      const o = f as { field?: unknown; path?: unknown; message?: unknown } | null;
      const field = typeof o?.field === 'string' ? o.field : typeof o?.path === 'string' ? o.path : null;
      return field !== null && typeof o?.message === 'string' ? [{ field, message: o.message }] : [];
    });
  }
  const m = /^([A-Za-z][\w.]*): (.+)$/.exec(err?.message ?? '');
  return (err?.code === 'invalid_input' || err?.code === 'field_too_long') && m !== null ? [{ field: m[1] ?? '', message: m[2] ?? '' }] : [];
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: init.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (res.status === 204) return undefined as T;
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string; fields?: unknown } } | null)?.error;
    // A privileged action on a sign-in the IdP has not confirmed within the max age (a provider
    // without refresh tokens): sign in again with max_age and come back here; the user repeats the action.
    if (res.status === 401 && err?.code === 'reauthentication_required') {
      window.location.assign(`/auth/login?reauth=true&returnTo=${encodeURIComponent(window.location.pathname + window.location.search + window.location.hash)}`);
    }
    throw new ApiError(res.status, err?.code ?? 'http_error', err?.message ?? `Request failed (${res.status}).`, fieldErrors(err));
  }
  return body as T;
}

/** The message to show for a failed call: the server's own words, or a plain fallback. */
export function errorMessage(err: unknown, fallback = 'Something went wrong. Try again.'): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return 'Airlock is unreachable. Check your connection and try again.';
  return fallback;
}

const seg = encodeURIComponent;

/** `?a=1&b=2` from the defined, non-empty values of `params`, or '' when there are none. */
function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

// Identity
export const getMe = () => api<{ user: Me }>('/api/me').then((r) => r.user);
export const getProviders = () => api<{ providers: Provider[] }>('/auth/providers').then((r) => r.providers);
export const logout = () => api<void>('/auth/logout', { method: 'POST' });

// Inventory as the caller may see it
export const listSites = () => api<{ sites: Site[] }>('/api/sites').then((r) => r.sites);
export const listCompanies = () => api<{ companies: CompanyName[] }>('/api/companies').then((r) => r.companies);
export const listMachines = () => api<{ machines: MachineView[] }>('/api/machines').then((r) => r.machines);

// Inventory administration
export const adminListMachines = () => api<{ machines: MachineAdminView[] }>('/api/admin/machines').then((r) => r.machines);
export const adminPutMachine = (m: MachineInput) =>
  api<{ machine: MachineAdminView }>(`/api/admin/machines/${seg(m.id)}`, { method: 'PUT', body: m }).then((r) => r.machine);
export const adminDeleteMachine = (id: string) => api<void>(`/api/admin/machines/${seg(id)}`, { method: 'DELETE' });
export const adminPutCredential = (machineId: string, c: CredentialInput) =>
  api<void>(`/api/admin/machines/${seg(machineId)}/credential`, { method: 'PUT', body: c });
export const adminListSites = () => api<{ sites: Site[] }>('/api/admin/sites').then((r) => r.sites);
/** The site's time zone is kept as it is (set with adminPutSiteTimeZone). */
export const adminPutSite = (s: Pick<Site, 'id' | 'name'>) => api<unknown>(`/api/admin/sites/${seg(s.id)}`, { method: 'PUT', body: { name: s.name } });
export const adminPutSiteTimeZone = (id: string, timeZone: string) =>
  api<{ site: Site }>(`/api/admin/sites/${seg(id)}/time-zone`, { method: 'PUT', body: { timeZone } }).then((r) => r.site);
export const adminDeleteSite = (id: string) => api<void>(`/api/admin/sites/${seg(id)}`, { method: 'DELETE' });
export const adminListCompanies = () => api<{ companies: Company[] }>('/api/admin/companies').then((r) => r.companies);
export const adminPutCompany = (c: Company) =>
  api<unknown>(`/api/admin/companies/${seg(c.id)}`, { method: 'PUT', body: { name: c.name, sites: c.sites } });
export const adminDeleteCompany = (id: string) => api<void>(`/api/admin/companies/${seg(id)}`, { method: 'DELETE' });

// Access requests
export const listRequests = (q: { scope: RequestScope; state?: RequestState | undefined; limit?: number; cursor?: string | undefined }) =>
  api<RequestPage>(`/api/requests${query(q)}`);
export const getRequest = (id: string) => api<{ request: AccessRequest }>(`/api/requests/${seg(id)}`).then((r) => r.request);
export const createRequest = (body: NewRequest) =>
  api<{ request: AccessRequest }>('/api/requests', { method: 'POST', body }).then((r) => r.request);
export const cancelRequest = (id: string) =>
  api<{ request: AccessRequest }>(`/api/requests/${seg(id)}/cancel`, { method: 'POST', body: {} }).then((r) => r.request);
export const approveRequest = (id: string, body: ApproveInput) =>
  api<{ request: AccessRequest }>(`/api/requests/${seg(id)}/approve`, { method: 'POST', body }).then((r) => r.request);
export const denyRequest = (id: string, body: { comment?: string }) =>
  api<{ request: AccessRequest }>(`/api/requests/${seg(id)}/deny`, { method: 'POST', body }).then((r) => r.request);
export const revokeRequest = (id: string, body: { reason?: string }) =>
  api<{ request: AccessRequest }>(`/api/requests/${seg(id)}/revoke`, { method: 'POST', body }).then((r) => r.request);

// Live updates
export const EVENTS_URL = '/api/events';

// Audit
export const listAudit = (q: AuditQuery) => api<AuditPage>(`/api/audit${query({ ...q })}`);
export const verifyAudit = () => api<ChainVerification>('/api/audit/verify');
export const AUDIT_EXPORT_URL = '/api/audit/export';

// Brokered sessions
export const openSession = (requestId: string) =>
  api<{ session: OpenedSession }>('/api/sessions', { method: 'POST', body: { requestId } }).then((r) => r.session);
export const listSessions = () => api<{ sessions: LiveSession[] }>('/api/sessions').then((r) => r.sessions);
export const watchSession = (id: string) => api<TunnelTicket>(`/api/sessions/${seg(id)}/watch`, { method: 'POST', body: {} });
export const terminateSession = (id: string, body: { reason?: string; revoke?: boolean }) =>
  api<void>(`/api/sessions/${seg(id)}/terminate`, { method: 'POST', body });

// Chat accounts (identity linking for chat approvals)
export type ChatPlatform = Platform;
export type ChatLink = ChatLinkView;
export type ChatLinks = ChatLinksView;

export const listChatLinks = () => api<ChatLinks>('/api/chat/links');
export const linkChatAccount = (code: string) => api<{ link: ChatLink }>('/api/chat/links', { method: 'POST', body: { code } }).then((r) => r.link);
export const unlinkChatAccount = (id: string) => api<void>(`/api/chat/links/${seg(id)}`, { method: 'DELETE' });

// Recordings (docs/api.md "Recordings"): search, details with verification, timeline, files.
export type RecordingFileKind = FileKind;
export type RecordingSummary = RecordingView;
export type RecordingManifest = RecordingDetailsView['manifest'];
export type RecordingVerification = ServerRecordingVerification;
export type RecordingDetails = RecordingDetailsView;
export type TimelineKind = ServerTimelineEntry['kind'];
export type TimelineEntry = ServerTimelineEntry;

/** The query string of GET /api/recordings, as the screens fill it in. */
export interface RecordingQuery {
  vendor?: string;
  company?: string;
  machine?: string;
  site?: string;
  approver?: string;
  protocol?: Protocol;
  reason?: string;
  request?: string;
  q?: string;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

export type RecordingPage = ServerRecordingPage;

export const searchRecordings = (q: RecordingQuery) => api<RecordingPage>(`/api/recordings${query({ ...q })}`);
export const getRecording = (id: string) => api<{ recording: RecordingDetails }>(`/api/recordings/${seg(id)}`).then((r) => r.recording);
export const getTimeline = (id: string) => api<{ timeline: TimelineEntry[] }>(`/api/recordings/${seg(id)}/timeline`).then((r) => r.timeline);
export const verifyRecording = (id: string) => api<{ verification: RecordingVerification }>(`/api/recordings/${seg(id)}/verify`).then((r) => r.verification);
/** Streamed by the player (HTTP Range supported); `download` makes it an attachment. */
export const recordingFileUrl = (id: string, kind: RecordingFileKind, download = false) =>
  `/api/recordings/${seg(id)}/files/${seg(kind)}${download ? '?download' : ''}`;
export const bundleUrl = (requestId: string) => `/api/requests/${seg(requestId)}/bundle`;
