// "Site requests": every request of the caller's sites (all sites for auditors and admins),
// filtered by state, with Revoke for grants that are approved or running.
import { useState } from 'react';
import { getRequest, REQUEST_STATES, revokeRequest, type AccessRequest, type RequestState } from '../api.ts';
import { ErrorMessage, expiredText, LiveHeading, Loading, OutcomeNotice, StateBadge, stateLabel, WindowTime } from '../shared/components.tsx';
import { listOf, ListView, useRowAction } from '../shared/ListView.tsx';
import { useLoad } from '../shared/load.ts';
import { href } from '../shared/route.ts';
import { RequestDetails } from './RequestDetails.tsx';
import { ConfirmDialog } from '../shared/ConfirmDialog.tsx';
import { useLiveRefresh } from '../shared/live.ts';
import { useRequestList } from '../shared/load.ts';
import { MAX_TEXT_LENGTH } from '../vendor/RequestForm.tsx';

const REVOCABLE = new Set<RequestState>(['approved', 'active']);

/** `#/site?request=<id>` (chat's "Open in Airlock", the audit log's request links): that request, on top. */
function FocusedRequest({ id }: { id: string }) {
  const { state } = useLoad(() => getRequest(id), id);
  if (state.status === 'loading') return <Loading />;
  if (state.status === 'error') return <ErrorMessage message={state.message} testId="site-focus-error" />;
  const r = state.data;
  return (
    <section className="panel focused-request" data-testid={`site-focus-${r.id}`} aria-label={`Request for ${r.machine.name}`}>
      <h2>
        {r.requester.name} → {r.machine.name} <StateBadge state={r.state} />
      </h2>
      {r.state === 'expired' && <p className="muted">{expiredText(r.expiredReason)}</p>}
      {r.decision !== null && (
        <p className="muted">
          {r.state === 'denied' ? 'Denied' : 'Approved'} by {r.decision.by.name}
          {r.decision.comment !== null && r.decision.comment !== '' ? `: “${r.decision.comment}”` : ''}
        </p>
      )}
      {r.revocation !== null && (
        <p className="error">
          Revoked by {r.revocation.by.name}
          {r.revocation.reason !== null ? `: “${r.revocation.reason}”` : ''}
        </p>
      )}
      <RequestDetails request={r} tags={undefined} />
      <p>
        <a href={href('site')}>All requests</a>
      </p>
    </section>
  );
}

export function SiteRequests({ canRevoke, focusId = null }: { canRevoke: boolean; focusId?: string | null }) {
  const [stateFilter, setStateFilter] = useState<RequestState | ''>('');
  const { load, reload, loadMore } = useRequestList('all', stateFilter === '' ? undefined : stateFilter);
  const live = useLiveRefresh(reload);
  const revoke = useRowAction<string>(reload);

  return (
    <section className="card wide" data-testid="site-requests">
      <LiveHeading title="Site requests" live={live} />
      <div className="toolbar">
        <label className="inline">
          State
          <select value={stateFilter} onChange={(e) => setStateFilter(e.target.value as RequestState | '')} data-testid="state-filter">
            <option value="">All states</option>
            {REQUEST_STATES.map((s) => (
              <option key={s} value={s}>
                {stateLabel(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {focusId !== null && focusId !== '' && <FocusedRequest id={focusId} />}
      <OutcomeNotice notice={revoke.notice} testId="site-notice" />
      <ListView
        {...listOf(load, (d) => d.requests)}
        columns={['Requester', 'Machine', 'Window', 'State', 'Approvals', 'Decision', ...(canRevoke ? [{ actions: true } as const] : [])]}
        row={(r) => (
          <tr key={r.id} data-testid={`request-row-${r.id}`}>
            <td>
              {r.requester.name}
              {r.requester.companyName !== null && <div className="muted">{r.requester.companyName}</div>}
              <div className="muted clamp" title={r.reason}>
                {r.reason}
              </div>
            </td>
            <td>
              <strong>{r.machine.name}</strong>
              <div className="muted">
                {r.machine.siteName} · {r.machine.protocol.toUpperCase()}
              </div>
            </td>
            <td>
              <WindowTime start={r.grant?.start ?? r.windowStart} end={r.grant?.end ?? r.windowEnd} zone={r.machine.siteTimeZone} />
            </td>
            <td>
              <StateBadge state={r.state} testId={`state-${r.id}`} />
            </td>
            <td data-testid={`approvals-${r.id}`}>
              {r.approvals.length} of {r.requiredApprovals}
            </td>
            <td data-testid={`decision-${r.id}`}>
              {r.decision === null ? (
                <span className="muted">—</span>
              ) : (
                <>
                  {r.decision.by.name}
                  {r.decision.comment !== null && <div className="muted">“{r.decision.comment}”</div>}
                </>
              )}
            </td>
            {canRevoke && (
              <td className="actions-cell">
                {REVOCABLE.has(r.state) && (
                  <button type="button" className="danger" onClick={() => revoke.open(r.id)} data-testid={`revoke-${r.id}`}>
                    Revoke…
                  </button>
                )}
                {revoke.acting === r.id && <RevokeForm request={r} onDone={revoke.done} onKeep={revoke.keep} />}
              </td>
            )}
          </tr>
        )}
        empty={<>No requests{stateFilter === '' ? '' : ` in state “${stateLabel(stateFilter)}”`}.</>}
        testIds={{ loadError: 'site-load-error', empty: 'site-empty' }}
        more={{ available: load.status === 'ready' && load.data.hasMore, loading: false, error: null, onMore: loadMore, testId: 'load-more' }}
      />
    </section>
  );
}

/** Revoking ends a vendor's access at once (and any session running on it), so it is confirmed and asks why. */
function RevokeForm({
  request: r,
  onDone,
  onKeep,
}: {
  request: AccessRequest;
  onDone: (n: { ok: boolean; text: string }) => void;
  onKeep: () => void;
}) {
  const [reason, setReason] = useState('');
  return (
    <ConfirmDialog
      title={`Revoke ${r.requester.name}'s access to ${r.machine.name}?`}
      confirmLabel="Revoke access"
      cancelLabel="Keep the access"
      testId={`revoke-form-${r.id}`}
      confirmTestId={`confirm-revoke-${r.id}`}
      onClose={onKeep}
      onConfirm={async () => {
        await revokeRequest(r.id, reason.trim() === '' ? {} : { reason: reason.trim() });
        onDone({ ok: true, text: `Revoked ${r.requester.name}'s access to ${r.machine.name}.` });
      }}
    >
      <p>
        The grant ends now and a running session is cut within a second; this cannot be undone ({r.requester.name} would have to ask again). They see your
        name and the reason.
      </p>
      <label>
        Reason for revoking
        <input type="text" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={MAX_TEXT_LENGTH} data-autofocus data-testid={`revoke-reason-${r.id}`} />
      </label>
    </ConfirmDialog>
  );
}
