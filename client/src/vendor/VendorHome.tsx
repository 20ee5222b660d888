// The vendor's home: their access at a glance — grants that are open (ends in …) or about to
// open (opens in …), requests waiting for a decision, and what became of recent ones and why —
// each with its reason and the one action that matters now.
import type { ReactNode } from 'react';
import type { AccessRequest } from '../api.ts';
import { ErrorMessage, expiredText, LiveIndicator, Loading, RequestWindow, StateBadge, Time } from '../shared/components.tsx';
import { useNow } from '../shared/clock.ts';
import { useLiveRefresh } from '../shared/live.ts';
import { useRequestList } from '../shared/load.ts';
import { href, itemHref } from '../shared/route.ts';
import { formatCountdown, formatDuration } from '../shared/time.ts';

/** Countdowns show seconds. */
const TICK_MS = 1000;
/** Denied, expired and revoked requests stay on the home page this long, so the vendor learns why. */
const RECENT_OUTCOME_MS = 24 * 3_600_000;
/** Beyond a day, a countdown in seconds means nothing: days and hours instead. */
const DAY_MS = 86_400_000;

type Standing = 'open' | 'opens' | 'pending' | 'outcome';

interface Item {
  request: AccessRequest;
  standing: Standing;
  /** What the countdown counts to (ms since the epoch), if anything. */
  until: number | null;
}

/** "1:04:59", or "2 d 4 h" from a day up. */
export function formatRemaining(ms: number): string {
  return ms >= DAY_MS ? formatDuration(ms / 60_000) : formatCountdown(ms);
}

/** Where each request stands now; null for what no longer matters (ended, cancelled, old outcomes). */
function standingOf(r: AccessRequest, now: number): Item | null {
  if ((r.state === 'approved' || r.state === 'active') && r.grant !== null) {
    const start = Date.parse(r.grant.start);
    const end = Date.parse(r.grant.end);
    if (now >= end) return null;
    return now >= start ? { request: r, standing: 'open', until: end } : { request: r, standing: 'opens', until: start };
  }
  if (r.state === 'pending') return { request: r, standing: 'pending', until: Date.parse(r.timing.decideBy) };
  if (r.state === 'expired' || r.state === 'denied' || r.state === 'revoked') {
    const at = Math.max(Date.parse(r.updatedAt), r.state === 'expired' ? Date.parse(r.timing.decideBy) : 0);
    return now - at < RECENT_OUTCOME_MS ? { request: r, standing: 'outcome', until: null } : null;
  }
  return null;
}

const ORDER: Record<Standing, number> = { open: 0, opens: 1, pending: 2, outcome: 3 };

export function VendorHome() {
  const { load, reload } = useRequestList('mine');
  const live = useLiveRefresh(reload);
  const now = useNow(TICK_MS);

  const items =
    load.status === 'ready'
      ? load.data.requests
          .map((r) => standingOf(r, now))
          .filter((i): i is Item => i !== null)
          .sort((a, b) => ORDER[a.standing] - ORDER[b.standing] || (a.until ?? Infinity) - (b.until ?? Infinity))
      : [];

  return (
    <section className="card" data-testid="vendor-home">
      <div className="heading">
        <h2>Your access</h2>
        <LiveIndicator status={live} />
      </div>
      {load.status === 'loading' && <Loading />}
      {load.status === 'error' && <ErrorMessage message={load.message} testId="vendor-home-error" />}
      {load.status === 'ready' && (
        <>
          <ErrorMessage message={load.refreshError} />
          {items.length === 0 ? (
            <p className="muted" data-testid="vendor-home-empty">
              Nothing open or waiting. Ask for a machine when you need one.
            </p>
          ) : (
            <ul className="access-list">
              {items.map((i) => (
                <AccessItem key={i.request.id} item={i} now={now} />
              ))}
            </ul>
          )}
          <p className="actions">
            <a className={items.some((i) => i.standing === 'open') ? 'button secondary' : 'button'} href={href('request')} data-testid="vendor-home-request">
              Request access
            </a>
            <a href={href('my')}>All my requests</a>
          </p>
        </>
      )}
    </section>
  );
}

function AccessItem({ item, now }: { item: Item; now: number }) {
  const r = item.request;
  const left = item.until === null ? 0 : item.until - now;
  let line: ReactNode;
  let action: ReactNode = null;
  switch (item.standing) {
    case 'open':
      line = (
        <>
          <strong>Open now</strong> · ends in <span className="countdown-inline" data-testid={`home-countdown-${r.id}`}>{formatRemaining(left)}</span>
        </>
      );
      action = (
        <a className="button" href={itemHref('session', r.id)} data-testid={`home-open-${r.id}`}>
          Open session
        </a>
      );
      break;
    case 'opens':
      line = (
        <>
          Approved · opens in <span className="countdown-inline" data-testid={`home-countdown-${r.id}`}>{formatRemaining(left)}</span>
        </>
      );
      break;
    case 'pending':
      line = (
        <>
          Waiting for {r.requiredApprovals - r.approvals.length === 2 ? 'two approvals' : 'approval'}
          {r.approvals.length > 0 ? ` (approved by ${r.approvals.map((a) => a.by.name).join(', ')})` : ''} · expires undecided in{' '}
          <span className="countdown-inline" data-testid={`home-countdown-${r.id}`}>{formatRemaining(left)}</span>
        </>
      );
      break;
    case 'outcome':
      line =
        r.state === 'expired' ? (
          expiredText(r.expiredReason)
        ) : r.state === 'denied' ? (
          <>
            Denied by {r.decision?.by.name ?? 'a plant manager'}
            {r.decision?.comment != null && r.decision.comment !== '' ? `: “${r.decision.comment}”` : '.'}
          </>
        ) : (
          <>
            Revoked by {r.revocation?.by.name ?? 'a plant manager'}
            {r.revocation?.reason != null && r.revocation.reason !== '' ? `: “${r.revocation.reason}”` : '.'}
          </>
        );
      if (r.state !== 'revoked') {
        action = (
          <a className="button secondary" href={href('request', { machine: r.machine.id })} data-testid={`home-again-${r.id}`}>
            Ask again
          </a>
        );
      }
      break;
  }
  return (
    <li className={`access-item standing-${item.standing}`} data-testid={`home-item-${r.id}`} data-standing={item.standing}>
      <div className="access-main">
        <div>
          <strong>{r.machine.name}</strong> <span className="muted">{r.machine.siteName} · {r.machine.protocol.toUpperCase()}</span> <StateBadge state={r.state} />
        </div>
        <div data-testid={`home-line-${r.id}`}>{line}</div>
        <div className="muted">
          <RequestWindow request={r} />
          {item.standing === 'opens' && r.grant !== null && (
            <>
              {' '}
              · opens at <Time iso={r.grant.start} zone={r.machine.siteTimeZone} />
            </>
          )}
        </div>
        <div className="muted clamp-2" title={r.reason}>
          “{r.reason}”
        </div>
      </div>
      {action !== null && <div className="access-action">{action}</div>}
    </li>
  );
}
