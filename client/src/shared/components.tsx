// Small pieces every screen uses: state badges, times, errors, chips, policies.
import type { ReactNode } from 'react';
import { PERMISSIONS, type Policy, type RequestState } from '../api.ts';
import { formatDateTime, formatWindow } from './time.ts';
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

export function Time({ iso, precise = false }: { iso: string; precise?: boolean }) {
  return (
    <time dateTime={iso} title={iso}>
      {formatDateTime(iso, precise)}
    </time>
  );
}

export function WindowTime({ start, end }: { start: string; end: string }) {
  return (
    <time dateTime={`${start}/${end}`} title={`${start} – ${end} (UTC)`}>
      {formatWindow(start, end)}
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
