// What chat messages say: the request card and the session notices, as platform-neutral
// ChatMessages built from the request as the portal presents it. The adapters only render.
import type { AccessRequest } from '../requests/schema.ts';
import type { Machine, Policy } from '../inventory/schema.ts';
import type { AirlockFile } from '../plugins/contract.ts';
import type { ChatMessage, MessageAction } from './model.ts';
import { formatClock, formatInstant, formatSpan } from '../plant-time.ts';

/** "Shorten" approves this much of the window: a first look, with an extension if more is needed. */
export const SHORTEN_MINUTES = 60;
/** "Extend" asks for this much more, within the machine's maximum window. */
export const EXTEND_MINUTES = 60;

/** Where buttons lead in the portal (hash routes of the client; recordings' is the recordings UI's to settle). */
export interface PortalLinks {
  review(requestId: string): string;
  request(requestId: string): string;
  watch(sessionId: string): string;
  recording(sessionId: string): string;
  /** The plant's file screen (files waiting for approval, files blocked). */
  files(): string;
}

export function portalLinks(publicUrl: string): PortalLinks {
  const q = encodeURIComponent;
  return {
    review: (id) => `${publicUrl}/#/inbox?request=${q(id)}`,
    request: (id) => `${publicUrl}/#/site?request=${q(id)}`,
    watch: (id) => `${publicUrl}/#/watch/${q(id)}`,
    recording: (id) => `${publicUrl}/#/recordings?session=${q(id)}`,
    files: () => `${publicUrl}/#/files`,
  };
}

/** "Vera Vendor (Acme Automation)": the company by its name. */
const vendorOf = (r: AccessRequest): string => (r.requester.companyName === null ? r.requester.name : `${r.requester.name} (${r.requester.companyName})`);

/** A window in the plant's time, as the web UI writes it ("26 Nov 2026, 09:00–10:30 CET"). */
const windowOf = (r: AccessRequest, start: string, end: string): string => formatSpan(start, end, r.machine.siteTimeZone);
/** A time of day in the plant's time ("10:30 CET"). */
const clockOf = (r: AccessRequest, iso: string): string => formatClock(iso, r.machine.siteTimeZone);

function formatPolicy(p: Policy): string {
  if (p.readOnly) return 'view only';
  const allowed = [p.clipboardCopy && 'copy out', p.clipboardPaste && 'paste in', p.fileTransfer && 'file transfer'].filter(Boolean);
  return allowed.length === 0 ? 'no clipboard, no files' : allowed.join(', ');
}

function stateLine(r: AccessRequest): string | undefined {
  const by = (d: { by: { name: string }; comment: string | null } | null) =>
    d === null ? '' : ` by ${d.by.name}${d.comment === null || d.comment === '' ? '' : `: “${d.comment}”`}`;
  switch (r.state) {
    case 'pending':
      return r.approvals.length > 0 ? `Approved by ${r.approvals.map((a) => a.by.name).join(', ')}; ${r.requiredApprovals - r.approvals.length} more approval needed` : undefined;
    case 'approved':
      return `✅ Approved${by(r.decision)}${r.grant !== null && r.grant.end !== r.windowEnd ? ` (until ${clockOf(r, r.grant.end)})` : ''}`;
    case 'denied':
      return `⛔ Denied${by(r.decision)}`;
    case 'expired':
      return `⌛ Expired: ${EXPIRED_WHY[r.expiredReason ?? 'window_ended']}`;
    case 'cancelled':
      return '✖ Cancelled by the vendor';
    case 'active':
      return '▶ Approved; a session is running';
    case 'ended':
      return '■ Window over';
    case 'revoked':
      return `⛔ Revoked${r.revocation === null ? '' : ` by ${r.revocation.by.name}`}`;
  }
}

/** Why a request expired, in the words the web UI uses too. */
const EXPIRED_WHY: Record<NonNullable<AccessRequest['expiredReason']>, string> = {
  window_ended: 'nobody decided before the window ended',
  not_decided_in_time: 'nobody decided in time (it was to start when approved)',
  window_started: 'nobody decided before the window started',
};

/** The window as the card shows it: "starts when approved" has a length, not yet a time. */
function requestedWindow(r: AccessRequest): string {
  if (r.timing.start === 'on_approval' && r.state === 'pending') return `starts when approved, for ${r.timing.durationMinutes} min`;
  return windowOf(r, r.windowStart, r.windowEnd);
}

export interface RequestCardOptions {
  /** The decide nonce when the card may carry decision buttons; undefined for a read-only card. */
  nonce: string | undefined;
}

/** The approval card: details, state, and the buttons the machine's chat setting allows. */
export function requestMessage(r: AccessRequest, machine: Pick<Machine, 'chatDecision'> | undefined, links: PortalLinks, opts: RequestCardOptions): ChatMessage {
  const vendor = vendorOf(r);
  const fields = [
    { label: 'Vendor', value: vendor },
    { label: 'Window', value: requestedWindow(r) },
    { label: 'Reason', value: r.reason },
    ...(r.workOrder === null ? [] : [{ label: 'Work order', value: r.workOrder }]),
    { label: 'Session', value: formatPolicy(r.requestedPolicy) },
    ...(r.requiredApprovals === 2 ? [{ label: 'Approvals', value: `${r.approvals.length} of 2` }] : []),
    ...(r.extendsRequestId === null ? [] : [{ label: 'Extends', value: 'an approved window (extension)' }]),
  ];
  const webOnly = machine?.chatDecision !== 'allowed';
  const actions: MessageAction[] = [];
  let status = stateLine(r);
  if (r.state === 'pending' && webOnly) {
    status = '🔒 Safety-critical machine: the decision is taken in Airlock only';
    actions.push({ kind: 'link', label: 'Review in Airlock', url: links.review(r.id) });
  } else if (r.state === 'pending' && opts.nonce !== undefined) {
    const value = { requestId: r.id, nonce: opts.nonce };
    actions.push({ kind: 'button', action: 'approve', label: 'Approve', style: 'primary', value });
    const minutes = r.timing.durationMinutes;
    if (minutes > SHORTEN_MINUTES) actions.push({ kind: 'button', action: 'shorten', label: `Approve ${SHORTEN_MINUTES} min`, style: 'default', value });
    actions.push({ kind: 'button', action: 'deny', label: 'Deny', style: 'danger', value });
    actions.push({ kind: 'link', label: 'Open in Airlock', url: links.review(r.id) });
  } else {
    actions.push({ kind: 'link', label: 'Open in Airlock', url: r.state === 'pending' ? links.review(r.id) : links.request(r.id) });
  }
  return {
    requestId: r.id,
    text: `${r.state === 'pending' ? 'Access request' : 'Access request (decided)'}: ${vendor} → ${r.machine.name}, ${requestedWindow(r)}`,
    title: `${r.extendsRequestId === null ? 'Access request' : 'Extension request'}: ${r.machine.name} · ${r.machine.siteName}`,
    fields,
    ...(status === undefined ? {} : { status }),
    actions,
    expiresAt: new Date(r.timing.decideBy),
  };
}

const grantEnd = (r: AccessRequest): Date => new Date(r.grant?.end ?? r.windowEnd);

/** Why a session ended, in words (the broker's code follows in brackets, for the plant's support). */
const END_WORDS: Record<string, string> = {
  disconnected: 'the vendor disconnected',
  window_ended: 'the access window ended',
  revoked: 'the access was revoked',
  terminated: 'a plant manager terminated it',
  terminated_and_revoked: 'a plant manager terminated it and revoked the access',
  taken_over: 'it was opened again in another window',
  signed_out: 'the vendor signed out',
  instance_lost: 'the portal instance holding it stopped',
  recording_stalled: 'recording failed',
  recording_failed: 'recording failed',
  store_unavailable: 'Airlock lost its state store',
};

export interface SessionMessageOptions {
  /** The terminate nonce while the buttons hold; undefined once they are retired. */
  nonce: string | undefined;
  /** Set once the session is over: the broker's end reason. */
  endedReason?: string;
  /** While it runs, after the ending-soon warning: minutes left then. */
  endingInMinutes?: number;
}

/**
 * One message per session, updated in place as it goes: started (Watch, Terminate, Terminate and
 * revoke access), the window ending soon, then over with the link to its recording. Before, each
 * step was a message of its own (about 3 per session and destination).
 */
export function sessionMessage(r: AccessRequest, sessionId: string, links: PortalLinks, opts: SessionMessageOptions): ChatMessage {
  const running = opts.endedReason === undefined;
  const actions: MessageAction[] = [];
  if (running) actions.push({ kind: 'link', label: 'Watch', url: links.watch(sessionId) });
  if (running && opts.nonce !== undefined) {
    actions.push({ kind: 'button', action: 'terminate', label: 'Terminate session', style: 'danger', value: { requestId: r.id, nonce: opts.nonce, sessionId } });
    actions.push({ kind: 'button', action: 'terminate_revoke', label: 'Terminate and revoke access', style: 'danger', value: { requestId: r.id, nonce: opts.nonce, sessionId } });
  }
  if (!running) actions.push({ kind: 'link', label: 'Open recording (auditors)', url: links.recording(sessionId) });
  actions.push({ kind: 'link', label: 'Open in Airlock', url: links.request(r.id) });
  const ending = running && opts.endingInMinutes !== undefined;
  const reason = opts.endedReason ?? '';
  const status = !running
    ? `■ Ended: ${END_WORDS[reason] ?? reason} (${reason}) · 🎞 recording ready for auditors`
    : ending
      ? `⏳ Window ends in ${opts.endingInMinutes ?? 0} min (${clockOf(r, grantEnd(r).toISOString())}); the vendor may ask for an extension, which needs a new approval.`
      : undefined;
  return {
    requestId: r.id,
    text: !running
      ? `Session over, recording ready: ${r.requester.name} on ${r.machine.name}`
      : ending
        ? `Window ending in ${opts.endingInMinutes ?? 0} min: ${r.requester.name} on ${r.machine.name}`
        : `Session started: ${r.requester.name} on ${r.machine.name}`,
    title: `${running ? '▶ Session started' : '■ Session over'}: ${r.machine.name} · ${r.machine.siteName}`,
    fields: [
      { label: 'Vendor', value: vendorOf(r) },
      { label: 'Window', value: windowOf(r, r.grant?.start ?? r.windowStart, grantEnd(r).toISOString()) },
    ],
    ...(status === undefined ? {} : { status }),
    actions,
    expiresAt: running ? grantEnd(r) : new Date(Date.now() + 86_400_000),
  };
}

/** What the observer message says of the gate's state (sessions/observer-gate.ts). */
const OBSERVER_STATUS: Record<string, string> = {
  waiting: '⏸ Waiting for a plant observer: the vendor’s input is held until one of you watches.',
  unconfirmed: '⏸ Airlock cannot confirm an observer right now: the vendor’s input is held.',
  grace: '⏳ Unobserved grace: the vendor’s input is held when it ends.',
  observed: '👁 Observed: the vendor’s input reaches the machine.',
  paused: '⏸ An observer paused the vendor’s input.',
  controlled: '🎮 An observer has the controls; the vendor’s input is held.',
  ended: '■ The session is over.',
};

/** Required observer: a session waits for a plant observer; Watch opens the live view that releases the input. */
export function observerMessage(r: AccessRequest, sessionId: string, links: PortalLinks, state: string): ChatMessage {
  const waiting = state === 'waiting' || state === 'unconfirmed';
  return {
    requestId: r.id,
    text: waiting ? `Waiting for a plant observer: ${r.requester.name} on ${r.machine.name}` : `Observer: ${r.requester.name} on ${r.machine.name} (${state})`,
    title: `${waiting ? '👁 Needs an observer' : '👁 Observer'}: ${r.machine.name} · ${r.machine.siteName}`,
    fields: [
      { label: 'Vendor', value: vendorOf(r) },
      { label: 'Window', value: windowOf(r, r.grant?.start ?? r.windowStart, grantEnd(r).toISOString()) },
    ],
    status: OBSERVER_STATUS[state] ?? state,
    actions: [...(state === 'ended' ? [] : [{ kind: 'link' as const, label: 'Watch', url: links.watch(sessionId) }]), { kind: 'link', label: 'Open in Airlock', url: links.request(r.id) }],
    expiresAt: state === 'ended' ? new Date(Date.now() + 86_400_000) : grantEnd(r),
  };
}

/** The warning before a window ends, to the vendor: Extend files an extension for approval (only their own click counts). */
export function endingSoonMessage(r: AccessRequest, minutesLeft: number, links: PortalLinks, opts: { nonce: string | undefined }): ChatMessage {
  const actions: MessageAction[] = [];
  if (opts.nonce !== undefined) {
    actions.push({ kind: 'button', action: 'extend', label: `Extend ${EXTEND_MINUTES} min`, style: 'primary', value: { requestId: r.id, nonce: opts.nonce } });
  }
  actions.push({ kind: 'link', label: 'Open in Airlock', url: links.request(r.id) });
  return {
    requestId: r.id,
    text: `Window ending in ${minutesLeft} min: ${r.requester.name} on ${r.machine.name}`,
    title: `⏳ Window ends in ${minutesLeft} min: ${r.machine.name} · ${r.machine.siteName}`,
    fields: [
      { label: 'Vendor', value: r.requester.name },
      { label: 'Ends', value: formatInstant(grantEnd(r).toISOString(), r.machine.siteTimeZone) },
    ],
    status: `Extend asks for ${EXTEND_MINUTES} more minutes; a plant manager must approve it.`,
    actions,
    expiresAt: grantEnd(r),
  };
}

const fileSize = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} bytes`);

function scanLine(f: AirlockFile): string {
  if (f.scan === null) return f.direction === 'out' ? 'not scanned (from the machine)' : 'not scanned yet';
  if (f.scan.result === 'clean') return '✅ clean (ClamAV)';
  if (f.scan.result === 'infected') return `☣ infected: ${f.scan.signature ?? 'unknown signature'}`;
  return `no verdict (${f.scan.error ?? 'error'})`;
}

/** The file's state under its fields, as the web's file screen and the vendor's panel say it. */
function fileStatus(f: AirlockFile): string {
  const by = f.decision?.by === null || f.decision === null ? '' : ` by ${f.decision.by.name}`;
  switch (f.state) {
    case 'awaiting_approval':
      return f.direction === 'in' ? 'Waiting for a plant manager: nothing reaches the machine before it is released.' : 'Held: the vendor gets it once a plant manager releases it.';
    case 'released':
      return `✅ Released${by}`;
    case 'delivering':
      return `✅ Released${by}; delivering to the machine`;
    case 'delivered':
      return `✅ Released${by}; delivered to the machine`;
    case 'denied':
      return `⛔ Denied${by}: the file ${f.direction === 'in' ? 'does not enter' : 'does not leave'} the plant`;
    case 'blocked':
      return `☣ Blocked: the virus scanner found ${f.scan?.signature ?? 'malware'}; the file was deleted and never reached the machine.`;
    case 'failed':
      return '✖ Not delivered (the session ended, or the delivery failed)';
    default:
      return f.state;
  }
}

export interface FileMessageOptions {
  /** The file's decide nonce while it waits; undefined once decided (no buttons). */
  nonce: string | undefined;
}

/**
 * A file through the airlock, to the site's approvers: one waiting for a decision (name, size,
 * hash, scan result, Release / Deny), or one blocked as infected; updated in place once decided.
 */
export function fileMessage(r: AccessRequest, f: AirlockFile, links: PortalLinks, opts: FileMessageOptions): ChatMessage {
  const waiting = f.state === 'awaiting_approval';
  const vendor = f.vendorCompany === null ? f.by.name : `${f.by.name} (${f.vendorCompany})`;
  const actions: MessageAction[] = [];
  if (waiting && opts.nonce !== undefined) {
    const value = { requestId: r.id, nonce: opts.nonce, fileId: f.id };
    actions.push({ kind: 'button', action: 'release_file', label: 'Release', style: 'primary', value });
    actions.push({ kind: 'button', action: 'deny_file', label: 'Deny', style: 'danger', value });
  }
  actions.push({ kind: 'link', label: 'Open in Airlock', url: links.files() });
  const direction = f.direction === 'in' ? 'into the plant' : 'out of the plant';
  const headline = f.state === 'blocked' ? '☣ File blocked (infected)' : waiting ? '📎 File waiting for approval' : '📎 File';
  return {
    requestId: r.id,
    text: `${headline}: ${f.name} ${direction}, ${vendor} on ${f.machineName}`,
    title: `${headline}: ${f.name} · ${f.machineName} · ${r.machine.siteName}`,
    fields: [
      { label: 'File', value: f.name },
      { label: 'Size', value: fileSize(f.bytes) },
      { label: 'SHA-256', value: f.sha256 === '' ? '(none)' : f.sha256 },
      { label: 'Scan', value: scanLine(f) },
      { label: 'Direction', value: direction },
      { label: 'Vendor', value: vendor },
      { label: 'Machine', value: f.machineName },
    ],
    status: fileStatus(f),
    actions,
    expiresAt: new Date(r.grant?.end ?? r.windowEnd),
  };
}
