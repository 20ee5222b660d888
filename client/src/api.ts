// The browser's only way to talk to the portal: same-origin JSON calls, errors in one shape,
// and one typed function per endpoint of docs/api.md. Types mirror that contract.

export type Role = 'vendor' | 'approver' | 'auditor' | 'admin';

export interface Me {
  id: string;
  name: string;
  email: string | null;
  roles: Role[];
  sites: string[];
  company: string | null;
  provider: string;
}

export interface Provider {
  id: string;
  label: string;
}

export interface Site {
  id: string;
  name: string;
}

export type Protocol = 'rdp' | 'vnc' | 'ssh' | 'telnet';
export const PROTOCOLS: readonly Protocol[] = ['rdp', 'vnc', 'ssh', 'telnet'];

export type RdpSecurity = 'any' | 'nla' | 'tls' | 'rdp';
export const RDP_SECURITY: readonly RdpSecurity[] = ['any', 'nla', 'tls', 'rdp'];

export type ChatDecision = 'allowed' | 'web-only';
export const CHAT_DECISIONS: readonly ChatDecision[] = ['allowed', 'web-only'];

/** What a session may do; on a machine, the most it allows. */
export interface Policy {
  clipboardCopy: boolean;
  clipboardPaste: boolean;
  fileTransfer: boolean;
  readOnly: boolean;
}

/** The permissions a vendor asks for; `readOnly` is a restriction, not a permission. */
export type Permission = 'clipboardCopy' | 'clipboardPaste' | 'fileTransfer';
export const PERMISSIONS: readonly { key: Permission; label: string }[] = [
  { key: 'clipboardCopy', label: 'Clipboard copy' },
  { key: 'clipboardPaste', label: 'Clipboard paste' },
  { key: 'fileTransfer', label: 'File transfer' },
];

export type RequiredApprovals = 1 | 2;

export interface MachineView {
  id: string;
  name: string;
  siteId: string;
  siteName: string;
  protocol: Protocol;
  tags: string[];
  maxWindowMinutes: number;
  requiredApprovals: RequiredApprovals;
  policy: Policy;
}

export interface MachineAdminView extends MachineView {
  host: string;
  port: number;
  guacd: string;
  /** Absent (or null) when the machine uses guacd's default. */
  rdpSecurity?: RdpSecurity | null;
  hasCredential: boolean;
  chatDecision: ChatDecision;
}

/** The body of PUT /api/admin/machines/:id. */
export type MachineInput = Omit<MachineAdminView, 'siteName' | 'hasCredential'>;

export interface CredentialInput {
  username: string;
  password?: string;
  privateKey?: string;
}

export interface Company {
  id: string;
  name: string;
  sites: string[];
}

export type RequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'active' | 'ended' | 'revoked';
export const REQUEST_STATES: readonly RequestState[] = ['pending', 'approved', 'active', 'denied', 'expired', 'cancelled', 'ended', 'revoked'];

export interface PersonRef {
  id: string;
  name: string;
}

export interface Decision {
  by: PersonRef;
  at: string;
  comment: string | null;
}

export interface AccessRequest {
  id: string;
  machine: { id: string; name: string; siteId: string; siteName: string; protocol: Protocol };
  requester: { id: string; name: string; company: string | null };
  reason: string;
  workOrder: string | null;
  windowStart: string;
  windowEnd: string;
  requestedPolicy: Policy;
  state: RequestState;
  requiredApprovals: RequiredApprovals;
  approvals: Decision[];
  decision: Decision | null;
  grant: { start: string; end: string; policy: Policy } | null;
  /** Not in docs/api.md yet; the server sends it once a grant is revoked. */
  revocation?: { by: PersonRef; at: string; reason: string | null } | null;
  extendsRequestId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewRequest {
  machineId: string;
  windowStart: string;
  windowEnd: string;
  reason: string;
  workOrder?: string;
  policy?: Policy;
  extendsRequestId?: string;
}

export type RequestScope = 'mine' | 'waiting' | 'all';

export interface RequestPage {
  requests: AccessRequest[];
  nextCursor: string | null;
}

export interface ApproveInput {
  comment?: string;
  windowEnd?: string;
  policy?: Policy;
}

export type LiveEventType =
  | 'request.created'
  | 'request.approval_added'
  | 'request.decided'
  | 'request.cancelled'
  | 'request.expired'
  | 'grant.revoked';
export const LIVE_EVENT_TYPES: readonly LiveEventType[] = [
  'request.created',
  'request.approval_added',
  'request.decided',
  'request.cancelled',
  'request.expired',
  'grant.revoked',
];

export interface LiveEvent {
  type: LiveEventType;
  requestId: string;
  state: RequestState;
  at: string;
}

export interface AuditEvent {
  id: string;
  seq: number;
  at: string;
  actor: PersonRef | null;
  action: string;
  target: { type: string; id: string } | null;
  outcome: 'ok' | 'refused';
  reason: string | null;
  details: Record<string, unknown>;
  site: string | null;
}

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

export interface AuditPage {
  events: AuditEvent[];
  nextBefore: string | null;
}

export interface ChainVerification {
  ok: boolean;
  checked: number;
  firstBroken: { index: number; id: string; reason: string } | null;
}

/** A brokered remote session that is running now (docs/api.md "Brokered sessions"). */
export interface LiveSession {
  id: string;
  requestId: string;
  machine: { id: string; name: string; siteId: string; protocol: Protocol };
  user: { id: string; name: string; company: string | null };
  /** The portal instance that holds the session's tunnel. */
  instance: string;
  startedAt: string;
  endsAt: string;
  policy: Policy;
}

/** Where and how to connect: a single-use ticket (valid ~30 s) for the WebSocket tunnel. */
export interface TunnelTicket {
  ticket: string;
  tunnelPath: string;
}

/** The answer to POST /api/sessions: a session opened for the caller's grant. */
export interface OpenedSession extends TunnelTicket {
  id: string;
  machine: { id: string; name: string; protocol: Protocol };
  endsAt: string;
  policy: Policy;
}

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
export const listMachines = () => api<{ machines: MachineView[] }>('/api/machines').then((r) => r.machines);

// Inventory administration
export const adminListMachines = () => api<{ machines: MachineAdminView[] }>('/api/admin/machines').then((r) => r.machines);
export const adminPutMachine = (m: MachineInput) =>
  api<{ machine: MachineAdminView }>(`/api/admin/machines/${seg(m.id)}`, { method: 'PUT', body: m }).then((r) => r.machine);
export const adminDeleteMachine = (id: string) => api<void>(`/api/admin/machines/${seg(id)}`, { method: 'DELETE' });
export const adminPutCredential = (machineId: string, c: CredentialInput) =>
  api<void>(`/api/admin/machines/${seg(machineId)}/credential`, { method: 'PUT', body: c });
export const adminListSites = () => api<{ sites: Site[] }>('/api/admin/sites').then((r) => r.sites);
export const adminPutSite = (s: Site) => api<unknown>(`/api/admin/sites/${seg(s.id)}`, { method: 'PUT', body: { name: s.name } });
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
export const terminateSession = (id: string, body: { reason?: string }) =>
  api<void>(`/api/sessions/${seg(id)}/terminate`, { method: 'POST', body });

// Chat accounts (identity linking for chat approvals)
export type ChatPlatform = 'slack' | 'teams' | 'mattermost';

export interface ChatLink {
  id: string;
  platform: ChatPlatform;
  workspace: string;
  chatUser: string;
  linkedAt: string;
  method: 'code' | 'email';
}

export interface ChatLinks {
  links: ChatLink[];
  platforms: ChatPlatform[];
  matchByEmail: boolean;
  profileMaxAgeHours: number;
}

export const listChatLinks = () => api<ChatLinks>('/api/chat/links');
export const linkChatAccount = (code: string) => api<{ link: ChatLink }>('/api/chat/links', { method: 'POST', body: { code } }).then((r) => r.link);
export const unlinkChatAccount = (id: string) => api<void>(`/api/chat/links/${seg(id)}`, { method: 'DELETE' });

// Recordings (docs/api.md "Recordings"): search, details with verification, timeline, files.
export type RecordingFileKind = 'recording' | 'typescript' | 'typescriptTiming' | 'events';

export interface RecordingSummary {
  sessionId: string;
  requestId: string;
  requester: { id: string; name: string; company: string | null };
  approvers: PersonRef[];
  machine: { id: string; name: string; siteId: string; protocol: Protocol };
  siteId: string;
  startedAt: string;
  endedAt: string;
  endReason: string;
  incomplete: string[];
  files: { kind: RecordingFileKind; name: string; bytes: number }[];
  dir: string;
}

export interface RecordingManifest {
  version: 1;
  sessionId: string;
  requestId: string;
  requester: { id: string; name: string; company: string | null };
  approvers: (PersonRef & { at: string })[];
  reason: string;
  workOrder: string | null;
  machine: { id: string; name: string; siteId: string; protocol: Protocol };
  siteId: string;
  policy: Policy;
  grant: { start: string; end: string };
  startedAt: string;
  endedAt: string;
  endReason: string;
  files: { kind: RecordingFileKind; name: string; bytes: number; sha256: string }[];
  incomplete: string[];
  finalisedAt: string;
  signer: { algorithm: 'Ed25519'; keyId: string };
}

export interface RecordingVerification {
  ok: boolean;
  signature: 'valid' | 'invalid' | 'missing';
  manifest: 'ok' | 'missing' | 'malformed';
  files: { name: string; ok: boolean; problem: null | 'missing' | 'hash_mismatch' }[];
  unexpected: string[];
  incomplete: string[];
}

export interface RecordingDetails extends RecordingSummary {
  manifest: RecordingManifest;
  verification: RecordingVerification;
}

export type TimelineKind = 'connect' | 'command' | 'clipboard' | 'warning' | 'revoked' | 'terminated' | 'disconnect' | 'watch';

export interface TimelineEntry {
  /** Milliseconds from the session start. */
  t: number;
  kind: TimelineKind;
  label: string;
}

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

export interface RecordingPage {
  recordings: RecordingSummary[];
  total: number;
  nextCursor: string | null;
}

export const searchRecordings = (q: RecordingQuery) => api<RecordingPage>(`/api/recordings${query({ ...q })}`);
export const getRecording = (id: string) => api<{ recording: RecordingDetails }>(`/api/recordings/${seg(id)}`).then((r) => r.recording);
export const getTimeline = (id: string) => api<{ timeline: TimelineEntry[] }>(`/api/recordings/${seg(id)}/timeline`).then((r) => r.timeline);
export const verifyRecording = (id: string) => api<{ verification: RecordingVerification }>(`/api/recordings/${seg(id)}/verify`).then((r) => r.verification);
/** Streamed by the player (HTTP Range supported); `download` makes it an attachment. */
export const recordingFileUrl = (id: string, kind: RecordingFileKind, download = false) =>
  `/api/recordings/${seg(id)}/files/${seg(kind)}${download ? '?download' : ''}`;
export const bundleUrl = (requestId: string) => `/api/requests/${seg(requestId)}/bundle`;
