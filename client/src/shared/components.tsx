// Small pieces every screen uses: state badges, times, errors, chips, policies.
import type { ReactNode } from 'react';
import { PERMISSIONS, type AccessRequest, type ExpiredReason, type Policy, type RequestState } from '../api.ts';
import { formatDateTime, formatDuration, formatWindow, inViewerZone, viewerZone, windowInViewerZone } from './time.ts';
import { formatClock, formatDate } from '../../../server/plant-time.ts';
import { useSites } from './directory.ts';
import { POLL_INTERVAL_MS, type LiveStatus } from './live.ts';

const STATE_LABELS: Record<RequestState, string> = {
  pending: 'Pending',
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Expired',
  cancelled: 'Cancelled',
  active: 'Active',
  ended: 'Ended',
  revoked: 'Revoked',
};

export function stateLabel(state: RequestState): string {
  return STATE_LABELS[state] ?? state;
}

/** `data-state` carries the raw state so tests need not depend on the wording. */
export function StateBadge({ state, testId }: { state: RequestState; testId?: string }) {
  return (
    <span className={`badge state-${state}`} data-testid={testId} data-state={state}>
      {stateLabel(state)}
    </span>
  );
}

const EXPIRED_WHY: Record<ExpiredReason, string> = {
  window_ended: 'Nobody decided before the window ended.',
  not_decided_in_time: 'Nobody decided in time: a request that starts when approved waits 12 hours at most.',
  window_started: 'Nobody decided before the window started.',
};

/** Why a request expired, in plain words (the same as in chat). */
export function expiredText(reason: ExpiredReason | null): string {
  return EXPIRED_WHY[reason ?? 'window_ended'];
}

/**
 * A request's window as the vendor asked for it: a "start when approved" request that is still
 * pending has a length, not a time yet; otherwise the granted window when there is one.
 */
export function RequestWindow({ request: r }: { request: AccessRequest }) {
  if (r.timing.start === 'on_approval' && r.grant === null) return <span>Starts when approved · {formatDuration(r.timing.durationMinutes)}</span>;
  return <WindowTime start={r.grant?.start ?? r.windowStart} end={r.grant?.end ?? r.windowEnd} zone={r.machine.siteTimeZone} />;
}

/** Where a time is shown: a zone, a site whose zone the directory knows, or (neither) the viewer's. */
interface ZoneProps {
  zone?: string | undefined;
  site?: string | null | undefined;
}

function useZone({ zone, site }: ZoneProps): string {
  const sites = useSites();
  return zone ?? (site === undefined || site === null ? undefined : sites.get(site)?.timeZone) ?? viewerZone();
}

/** An instant in the plant's zone with its abbreviation, and in the viewer's when their clock differs. */
export function Time({ iso, precise = false, compact = false, ...where }: { iso: string; precise?: boolean; compact?: boolean } & ZoneProps) {
  const zone = useZone(where);
  const mine = inViewerZone(iso, zone, precise);
  // `compact`: today's times without the date (live lists, where everything is today).
  const today = compact && formatDate(iso, zone) === formatDate(new Date().toISOString(), zone);
  return (
    <time dateTime={iso} title={`${iso} (UTC)`}>
      {today ? formatClock(iso, zone, { seconds: precise }) : formatDateTime(iso, precise, zone)}
      {mine !== null && <span className="your-time"> ({mine} your time)</span>}
    </time>
  );
}

/** A window in the plant's zone, and in the viewer's when their clock differs. */
export function WindowTime({ start, end, ...where }: { start: string; end: string } & ZoneProps) {
  const zone = useZone(where);
  const mine = windowInViewerZone(start, end, zone);
  return (
    <time dateTime={`${start}/${end}`} title={`${start} – ${end} (UTC)`}>
      {formatWindow(start, end, zone)}
      {mine !== null && <span className="your-time"> ({mine} your time)</span>}
    </time>
  );
}

export function ErrorMessage({ message, testId }: { message: string | null | undefined; testId?: string }) {
  if (message === null || message === undefined || message === '') return null;
  return (
    <p role="alert" className="error" data-testid={testId}>
      {message}
    </p>
  );
}

/**
 * Every problem of a form at once, above it (each field also marks itself): fixing one at a
 * time and resubmitting to learn the next is what people hate most about forms.
 */
export function FieldErrors({ messages, testId }: { messages: readonly string[]; testId?: string }) {
  if (messages.length === 0) return null;
  if (messages.length === 1) return <ErrorMessage message={messages[0]} testId={testId} />;
  return (
    <div role="alert" className="error field-errors" data-testid={testId}>
      <p>Please fix these {messages.length} things:</p>
      <ul>
        {messages.map((m) => (
          <li key={m}>{m}</li>
        ))}
      </ul>
    </div>
  );
}

export function Notice({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <p role="status" className="notice" data-testid={testId}>
      {children}
    </p>
  );
}

/** What an action on a list did: a notice when it worked, an alert when it did not. */
export function OutcomeNotice({ notice, testId }: { notice: { ok: boolean; text: string } | null; testId: string }) {
  if (notice === null) return null;
  return notice.ok ? <Notice testId={testId}>{notice.text}</Notice> : <ErrorMessage message={notice.text} testId={testId} />;
}

export function Loading() {
  return (
    <p className="muted" role="status">
      Loading…
    </p>
  );
}

export function Chips({ items }: { items: readonly string[] }) {
  if (items.length === 0) return <span className="muted">—</span>;
  return (
    <span className="chips">
      {items.map((t) => (
        <span key={t} className="chip">
          {t}
        </span>
      ))}
    </span>
  );
}

/** "Clipboard copy, File transfer · view only", or "No clipboard or file transfer". */
export function policySummary(p: Policy): string {
  const allowed = PERMISSIONS.filter(({ key }) => p[key]).map(({ label }) => label);
  const base = allowed.length === 0 ? 'No clipboard or file transfer' : allowed.join(', ');
  return p.readOnly ? `${base} · view only` : base;
}

export function LiveIndicator({ status }: { status: LiveStatus }) {
  const text = status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : `Refreshing every ${POLL_INTERVAL_MS / 1000} s`;
  return (
    <span className={`live live-${status}`} data-testid="live-status" data-status={status}>
      {text}
    </span>
  );
}

/** A list screen's title with, beside it, whether it is kept live. */
export function LiveHeading({ title, live }: { title: string; live: LiveStatus }) {
  return (
    <div className="heading">
      <h1>{title}</h1>
      <LiveIndicator status={live} />
    </div>
  );
}
