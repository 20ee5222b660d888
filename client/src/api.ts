// The browser's only way to talk to the portal: same-origin JSON calls, errors in one shape,
// and one typed function per endpoint of docs/api.md.

// The portal's answers, typed by the server's own schemas and presenters (type-only imports
// erase at build time, so no server code reaches the browser bundle).
import type { Role as ServerRole } from '../../server/config.ts';
import type { UserView } from '../../server/user.ts';
import type { ProviderView } from '../../server/auth/routes.ts';
import type { Credential, Policy as ServerPolicy, Protocol as ServerProtocol, RDP_SECURITY as SERVER_RDP_SECURITY } from '../../server/inventory/schema.ts';
import type {
  CompanyAdminView,
  CompanyNameView,
  CompanyView,
  MachineAdminView as ServerMachineAdminView,
  MachineView as ServerMachineView,
  SiteAdminView as ServerSiteAdminView,
  SiteView,
} from '../../server/inventory/presenter.ts';
import type { HostKeyScan as ServerHostKeyScan } from '../../server/inventory/host-key-scan.ts';
import type { FieldIssue as ServerFieldIssue } from '../../server/errors.ts';
import type {
  AccessRequest as ServerAccessRequest,
  CreateRequestBody,
  PersonRef as ServerPersonRef,
  RequestPage as ServerRequestPage,
  RequestState as ServerRequestState,
  RequestWithOverlaps as ServerRequestWithOverlaps,
  StartMode as ServerStartMode,
  ExpiredReason as ServerExpiredReason,
} from '../../server/requests/schema.ts';
import type { ApproveInput as ServerApproveInput } from '../../server/requests/service.ts';
import type { LiveEventView } from '../../server/requests/presenter.ts';
import type { SeekIndex as ServerSeekIndex } from '../../recordings/seek-routes.ts';
import type { AuditEvent as ServerAuditEvent } from '../../server/audit/schema.ts';
import type { AuditPage as ServerAuditPage, VerifyResult } from '../../server/audit/store.ts';
import type { LiveSessionView, OpenedSessionView, TunnelTicketView } from '../../sessions/routes.ts';
import type { ChatLinksView, ChatLinkView } from '../../server/chat/routes.ts';
import type { Platform } from '../../server/chat/model.ts';
import type { RecordingVerification as ServerRecordingVerification } from '../../recordings/manifest.ts';
import type { FileKind } from '../../recordings/layout.ts';
import type { RecordingDetailsView, RecordingPage as ServerRecordingPage, RecordingView } from '../../recordings/presenter.ts';
import type { TimelineEntry as ServerTimelineEntry } from '../../recordings/service.ts';
import type { PresentedExport } from '../../recordings/export-routes.ts';

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

/**
 * The body of POST /api/admin/machines and PUT /api/admin/machines/:id: what the admin view
 * shows, less what the portal works out; rdpSecurity absent (or null) for guacd's default;
 * hostKey and hostKeyPolicy (SSH) absent when not set; stepUpMinutes absent (or null) for no step-up;
 * observer fields always sent (observer `none` makes the other two moot).
 */
export type MachineInput = Omit<MachineAdminView, 'siteName' | 'siteTimeZone' | 'hasCredential' | 'rdpSecurity' | 'hostKey' | 'hostKeyFingerprint' | 'hostKeyPolicy' | 'version' | 'stepUpMinutes'> & {
  rdpSecurity?: RdpSecurity | null;
  hostKey?: string;
  hostKeyPolicy?: HostKeyPolicy;
  stepUpMinutes?: number | null;
};
export type HostKeyPolicy = NonNullable<MachineAdminView['hostKeyPolicy']>;

/** What PUT /api/admin/machines/:id/credential takes (a password, a private key, or both). */
export type CredentialInput = Credential;

export type Company = CompanyView;
/** A site or company as the admin edits it: with the version an edit names in If-Match. */
export type SiteAdmin = ServerSiteAdminView;
export type CompanyAdmin = CompanyAdminView;
/** What "Fetch host key" found on an SSH server, and the key guacd will check. */
export type HostKeyScan = ServerHostKeyScan;
/** One problem with one field of a form, as the server names it. */
export type FieldIssue = ServerFieldIssue;
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
/** A request and the other live requests of its vendor for its machine whose windows overlap it. */
export type RequestWithOverlaps = ServerRequestWithOverlaps;

export type RequestScope = 'mine' | 'waiting' | 'all';
export type RequestPage = ServerRequestPage;
export type ApproveInput = ServerApproveInput;

/** The live events the screens refresh on (the stream carries these for requests one may see). */
export type LiveEventType = Extract<
  LiveEventView['type'],
  | 'request.created'
  | 'request.approval_added'
  | 'request.decided'
  | 'request.cancelled'
  | 'request.expired'
  | 'grant.revoked'
  | 'session.started'
  | 'session.ended'
  | 'session.watchers_changed'
  | 'session.observer_changed'
  | 'session.file'
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
  // A required-observer session's gate changed: the live list and the watch screen follow.
  'session.observer_changed',
  // A file through the airlock changed state (plant managers of its site only): the file screen follows.
  'session.file',
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
  /** Every field problem the server named (`error.issues`, or one named in the message). */
  readonly fields: FieldError[];
  /** A body's validation error: every problem with its field and code (empty otherwise). */
  readonly issues: readonly FieldIssue[];
  constructor(status: number, code: string, message: string, fields: FieldError[] = [], issues: readonly FieldIssue[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.issues = issues;
  }
}

/** The server's `error.issues` (every problem with its field), else the field named by a "field: message" text. */
function fieldErrors(err: { code?: string; message?: string; issues?: unknown } | undefined): FieldError[] {
  if (Array.isArray(err?.issues)) {
    return err.issues.flatMap((f: unknown) => {
      const o = f as { field?: unknown; message?: unknown } | null;
      return typeof o?.field === 'string' && typeof o.message === 'string' ? [{ field: o.field, message: o.message }] : [];
    });
  }
  const m = /^([A-Za-z][\w.]*): (.+)$/.exec(err?.message ?? '');
  return (err?.code === 'invalid_input' || err?.code === 'field_too_long') && m !== null ? [{ field: m[1] ?? '', message: m[2] ?? '' }] : [];
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: { accept: 'application/json', ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (res.status === 204) return undefined as T;
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string; issues?: FieldIssue[] } } | null)?.error;
    // A privileged action on a sign-in the IdP has not confirmed within the max age (a provider
    // without refresh tokens): sign in again with max_age and come back here; the user repeats the action.
    const here = encodeURIComponent(window.location.pathname + window.location.search + window.location.hash);
    if (res.status === 401 && err?.code === 'reauthentication_required') {
      window.location.assign(`/auth/login?reauth=true&returnTo=${here}`);
    }
    // A machine that needs a recent second factor (step-up): the IdP asks for it, and the browser
    // comes back here, where the session screen opens the session again.
    if (res.status === 401 && err?.code === 'step_up_required') {
      window.location.assign(`/auth/login?stepUp=true&returnTo=${here}`);
    }
    throw new ApiError(res.status, err?.code ?? 'http_error', err?.message ?? `Request failed (${res.status}).`, fieldErrors(err), Array.isArray(err?.issues) ? err.issues : []);
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

// Inventory administration: add is POST (409 already_exists), edit is PUT naming the version
// the form loaded (If-Match), so an edit made on a stale copy is refused (412 version_conflict).
const ifMatch = (version: number) => ({ 'if-match': `"${version}"` });
export const adminListMachines = () => api<{ machines: MachineAdminView[] }>('/api/admin/machines').then((r) => r.machines);
export const adminCreateMachine = (m: MachineInput) => api<{ machine: MachineAdminView }>('/api/admin/machines', { method: 'POST', body: m }).then((r) => r.machine);
export const adminUpdateMachine = (m: MachineInput, version: number) =>
  api<{ machine: MachineAdminView }>(`/api/admin/machines/${seg(m.id)}`, { method: 'PUT', body: m, headers: ifMatch(version) }).then((r) => r.machine);
export const adminDeleteMachine = (id: string, version: number) => api<void>(`/api/admin/machines/${seg(id)}`, { method: 'DELETE', headers: ifMatch(version) });
export const adminPutCredential = (machineId: string, c: CredentialInput) =>
  api<void>(`/api/admin/machines/${seg(machineId)}/credential`, { method: 'PUT', body: c });
export const adminScanHostKeys = (host: string, port: number) => api<HostKeyScan>('/api/admin/ssh-host-keys/scan', { method: 'POST', body: { host, port } });
export const adminListSites = () => api<{ sites: SiteAdmin[] }>('/api/admin/sites').then((r) => r.sites);
/** A site's file-airlock rules (PUT /api/admin/sites/:id/files). */
export type SiteFilesRules = NonNullable<SiteAdmin['files']>;
export const adminPutSiteFiles = (siteId: string, files: SiteFilesRules) => api<{ site: SiteAdmin }>(`/api/admin/sites/${seg(siteId)}/files`, { method: 'PUT', body: files }).then((r) => r.site);
export const adminCreateSite = (s: { id: string; name: string; retentionDays?: number }) => api<{ site: SiteAdmin }>('/api/admin/sites', { method: 'POST', body: s }).then((r) => r.site);
export const adminUpdateSite = (s: { id: string; name: string; retentionDays?: number }, version: number) =>
  api<{ site: SiteAdmin }>(`/api/admin/sites/${seg(s.id)}`, { method: 'PUT', body: { name: s.name, ...(s.retentionDays === undefined ? {} : { retentionDays: s.retentionDays }) }, headers: ifMatch(version) }).then(
    (r) => r.site,
  );
/** The site's time zone, on its own (the name form keeps it as it is). */
export const adminPutSiteTimeZone = (id: string, timeZone: string) =>
  api<{ site: Site }>(`/api/admin/sites/${seg(id)}/time-zone`, { method: 'PUT', body: { timeZone } }).then((r) => r.site);
export const adminDeleteSite = (id: string, version: number) => api<void>(`/api/admin/sites/${seg(id)}`, { method: 'DELETE', headers: ifMatch(version) });
export const adminListCompanies = () => api<{ companies: CompanyAdmin[] }>('/api/admin/companies').then((r) => r.companies);
export const adminCreateCompany = (c: Company) => api<{ company: CompanyAdmin }>('/api/admin/companies', { method: 'POST', body: c }).then((r) => r.company);
export const adminUpdateCompany = (c: Company, version: number) =>
  api<{ company: CompanyAdmin }>(`/api/admin/companies/${seg(c.id)}`, { method: 'PUT', body: { name: c.name, sites: c.sites }, headers: ifMatch(version) }).then((r) => r.company);
export const adminDeleteCompany = (id: string, version: number) => api<void>(`/api/admin/companies/${seg(id)}`, { method: 'DELETE', headers: ifMatch(version) });

// Access requests
export const listRequests = (q: { scope: RequestScope; state?: RequestState | undefined; limit?: number; cursor?: string | undefined }) =>
  api<RequestPage>(`/api/requests${query(q)}`);
export const getRequest = (id: string) => api<{ request: AccessRequest }>(`/api/requests/${seg(id)}`).then((r) => r.request);
export const createRequest = (body: NewRequest) => api<RequestWithOverlaps>('/api/requests', { method: 'POST', body });
export const cancelRequest = (id: string) =>
  api<{ request: AccessRequest }>(`/api/requests/${seg(id)}/cancel`, { method: 'POST', body: {} }).then((r) => r.request);
export const approveRequest = (id: string, body: ApproveInput) => api<RequestWithOverlaps>(`/api/requests/${seg(id)}/approve`, { method: 'POST', body });
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
/** Required observer, from the watch screen: pause or resume the vendor's input, take or return the controls. */
export const observeSession = (id: string, action: 'pause' | 'resume' | 'take' | 'return') =>
  api<{ observer: LiveSession['observer'] }>(`/api/sessions/${seg(id)}/observer`, { method: 'POST', body: { action } });
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
/** The timeline (ms since the session's start) and where the recording's first frame sits on it (null: unknown). */
export const getTimeline = (id: string) => api<{ timeline: TimelineEntry[]; recordingStart: number | null }>(`/api/recordings/${seg(id)}/timeline`);

/** What the player needs to seek anywhere (recordings/seek-routes.ts): keyframes and the activity strip. */
export type SeekIndex = ServerSeekIndex;
export const getSeekIndex = (id: string) => api<{ seek: SeekIndex }>(`/api/recordings/${seg(id)}/seek`).then((r) => r.seek);
/** A video export job (recordings/export-routes.ts): from/to are ms from the first frame. */
export type VideoExport = PresentedExport;
export const requestVideoExport = (id: string, range: { from?: number; to?: number; format?: 'mp4' | 'webm' }) =>
  api<{ export: VideoExport }>(`/api/recordings/${seg(id)}/exports`, { method: 'POST', body: range }).then((r) => r.export);
export const getVideoExport = (id: string, job: string) => api<{ export: VideoExport }>(`/api/recordings/${seg(id)}/exports/${seg(job)}`).then((r) => r.export);
export const keyframeUrl = (id: string, n: number, part: 'state' | 'thumb') => `/api/recordings/${seg(id)}/seek/${n}/${part}`;
export const verifyRecording = (id: string) => api<{ verification: RecordingVerification }>(`/api/recordings/${seg(id)}/verify`).then((r) => r.verification);
/** Streamed by the player (HTTP Range supported); `download` makes it an attachment. */
export const recordingFileUrl = (id: string, kind: RecordingFileKind, download = false) =>
  `/api/recordings/${seg(id)}/files/${seg(kind)}${download ? '?download' : ''}`;
export const bundleUrl = (requestId: string) => `/api/requests/${seg(requestId)}/bundle`;

// The file airlock (docs/api.md "File airlock"): uploads into a live session, its files, decisions, downloads.
export type { FileView, FileListView, PlantFileView } from '../../sessions/files/routes.ts';
import type { FileListView as FileList, FileView as AirlockFile, PlantFileView } from '../../sessions/files/routes.ts';

export const listSessionFiles = (sessionId: string) => api<FileList>(`/api/sessions/${seg(sessionId)}/files`);
/** The plant's file screen: files waiting for a decision, and those blocked as infected in the last day. */
export const pendingFiles = () => api<{ files: PlantFileView[]; blocked: PlantFileView[] }>('/api/files/pending');
export const releaseFile = (id: string) => api<{ file: AirlockFile }>(`/api/files/${seg(id)}/release`, { method: 'POST', body: {} }).then((r) => r.file);
export const denyFile = (id: string) => api<{ file: AirlockFile }>(`/api/files/${seg(id)}/deny`, { method: 'POST', body: {} }).then((r) => r.file);
export const fileContentUrl = (id: string): string => `/api/files/${seg(id)}/content`;

/** PUT the file itself (not JSON): the portal streams it into quarantine, hashes and scans it. */
export async function uploadSessionFile(sessionId: string, file: File): Promise<AirlockFile> {
  const res = await fetch(`/api/sessions/${seg(sessionId)}/files?name=${encodeURIComponent(file.name)}`, {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { accept: 'application/json', 'content-type': 'application/octet-stream' },
    body: file,
  });
  const body = (await res.json().catch(() => null)) as { file?: AirlockFile; error?: { code?: string; message?: string } } | null;
  if (!res.ok || body?.file === undefined) throw new ApiError(res.status, body?.error?.code ?? 'http_error', body?.error?.message ?? `Upload failed (${res.status}).`);
  return body.file;
}
