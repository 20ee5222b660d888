// "My requests": the vendor's own requests with live state, cancel while it is still possible,
// "Open" for a grant whose window is on now, and "Extend" for a grant that is running or about to.
import { useState } from 'react';
import { cancelRequest, type AccessRequest } from '../api.ts';
import { ErrorMessage, expiredText, LiveHeading, Loading, Notice, RequestWindow, StateBadge, Time } from '../shared/components.tsx';
import { useNowAt } from '../shared/clock.ts';
import { ConfirmDialog } from '../shared/ConfirmDialog.tsx';
import { useLiveRefresh } from '../shared/live.ts';
import { useRequestList } from '../shared/load.ts';
import { href, itemHref, navigate } from '../shared/route.ts';

const CANCELLABLE = new Set(['pending', 'approved']);
const EXTENDABLE = new Set(['approved', 'active']);
/** States in which a grant can be used; the window decides when (the server checks both again). */
const OPENABLE = new Set(['approved', 'active']);

/** Where a request's grant stands against `now`: usable, not yet, or neither. */
function grantTiming(r: AccessRequest, now: number): 'open' | 'future' | null {
  if (r.grant === null || !OPENABLE.has(r.state)) return null;
  const start = new Date(r.grant.start).getTime();
  const end = new Date(r.grant.end).getTime();
  if (now >= end) return null;
  return now >= start ? 'open' : 'future';
}

export function MyRequests() {
  const { load, reload, loadMore } = useRequestList('mine');
  const live = useLiveRefresh(reload);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirmCancel, setConfirmCancel] = useState<AccessRequest | null>(null);
  // Re-render as grant windows open and close, so "Open" appears and goes on time.
  const grants = load.status === 'ready' ? load.data.requests.flatMap((r) => (r.grant === null ? [] : [r.grant.start, r.grant.end])) : [];
  const now = useNowAt(grants.map((t) => new Date(t).getTime()));

  /** Confirmed first (a cancelled request cannot be reopened); a failure shows in the dialog. */
  async function cancel(r: AccessRequest) {
    setBusy(r.id);
    setActionError(null);
    setNotice(null);
    try {
      await cancelRequest(r.id);
      setNotice(`Request for ${r.machine.name} cancelled.`);
      setConfirmCancel(null);
    } finally {
      setBusy(null);
      reload();
    }
  }

  return (
    <section className="card wide" data-testid="my-requests">
      <LiveHeading title="My requests" live={live} />
      <ErrorMessage message={actionError} testId="my-requests-error" />
      {notice !== null && <Notice testId="my-requests-notice">{notice}</Notice>}
      {confirmCancel !== null && (
        <ConfirmDialog
          title={`Cancel your request for ${confirmCancel.machine.name}?`}
          confirmLabel="Cancel the request"
          cancelLabel="Keep it"
          testId={`cancel-dialog-${confirmCancel.id}`}
          confirmTestId={`confirm-cancel-${confirmCancel.id}`}
          onClose={() => setConfirmCancel(null)}
          onConfirm={() => cancel(confirmCancel)}
        >
          <p>
            {confirmCancel.state === 'approved' ? 'The approved access is given up' : 'The request is withdrawn'}; this cannot be undone. To work on{' '}
            {confirmCancel.machine.name} later, file a new request.
          </p>
        </ConfirmDialog>
      )}
      {load.status === 'loading' && <Loading />}
      {load.status === 'error' && <ErrorMessage message={load.message} testId="my-requests-load-error" />}
      {load.status === 'ready' && (
        <>
          <ErrorMessage message={load.refreshError} />
          {load.data.requests.length === 0 ? (
            <p className="muted" data-testid="my-requests-empty">
              You have no requests yet. <a href={href('request')}>Request access</a> to a machine.
            </p>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th>Machine</th>
                  <th>Window</th>
                  <th>State</th>
                  <th>Approvals</th>
                  <th>Decision</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {load.data.requests.map((r) => (
                  <tr key={r.id} data-testid={`request-row-${r.id}`}>
                    <td>
                      <strong>{r.machine.name}</strong>
                      <div className="muted">
                        {r.machine.siteName} · {r.machine.protocol.toUpperCase()}
                      </div>
                      {r.extendsRequestId !== null && <div className="muted">extension</div>}
                    </td>
                    <td>
                      <RequestWindow request={r} />
                      {r.grant !== null && r.grant.end !== r.windowEnd && <div className="muted">shortened by the approver</div>}
                      {(load.data.overlaps[r.id]?.length ?? 0) > 0 && (
                        <div className="overlap-warning" data-testid={`overlaps-${r.id}`} data-overlaps={load.data.overlaps[r.id]?.join(' ')}>
                          overlaps another of your requests for this machine
                        </div>
                      )}
                      {r.grant !== null && r.grant.start !== r.windowStart && <div className="muted">from the approval</div>}
                    </td>
                    <td>
                      <StateBadge state={r.state} testId={`state-${r.id}`} />
                      {r.state === 'expired' && (
                        <div className="muted" data-testid={`expired-reason-${r.id}`}>
                          {expiredText(r.expiredReason)}
                        </div>
                      )}
                      {r.state === 'pending' && (
                        <div className="muted" data-testid={`decide-by-${r.id}`}>
                          waits until <Time iso={r.timing.decideBy} zone={r.machine.siteTimeZone} />
                        </div>
                      )}
                    </td>
                    <td data-testid={`approvals-${r.id}`}>
                      {r.approvals.length} of {r.requiredApprovals}
                    </td>
                    <td data-testid={`decision-${r.id}`}>
                      {r.decision === null ? (
                        <span className="muted">—</span>
                      ) : (
                        <>
                          {r.decision.comment ?? <span className="muted">no comment</span>}
                          <div className="muted">{r.decision.by.name}</div>
                        </>
                      )}
                      {r.revocation != null && (
                        <div className="error">
                          Revoked by {r.revocation.by.name}
                          {r.revocation.reason !== null && <>: “{r.revocation.reason}”</>}
                        </div>
                      )}
                    </td>
                    <td className="actions-cell">
                      {grantTiming(r, now) === 'open' && (
                        <a className="button" href={itemHref('session', r.id)} data-testid={`open-${r.id}`}>
                          Open
                        </a>
                      )}
                      {grantTiming(r, now) === 'future' && r.grant !== null && (
                        <span className="muted" data-testid={`opens-at-${r.id}`}>
                          opens at <Time iso={r.grant.start} zone={r.machine.siteTimeZone} />
                        </span>
                      )}
                      {CANCELLABLE.has(r.state) && (
                        <button type="button" className="secondary" disabled={busy === r.id} onClick={() => setConfirmCancel(r)} data-testid={`cancel-${r.id}`}>
                          Cancel
                        </button>
                      )}
                      {EXTENDABLE.has(r.state) && (
                        <button type="button" onClick={() => navigate('request', { extends: r.id })} data-testid={`extend-${r.id}`}>
                          Extend
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {load.data.hasMore && (
            <button type="button" className="secondary" onClick={loadMore} data-testid="load-more">
              Load more
            </button>
          )}
        </>
      )}
    </section>
  );
}
