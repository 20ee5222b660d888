// Everything an approver needs to judge one request, in one block.
import type { AccessRequest } from '../api.ts';
import { Chips, policySummary, Time, WindowTime } from '../shared/components.tsx';
import { formatDuration, minutesBetween } from '../shared/time.ts';

export function RequestDetails({ request: r, tags, overlaps = [] }: { request: AccessRequest; tags: readonly string[] | undefined; overlaps?: readonly string[] }) {
  const minutes = minutesBetween(new Date(r.windowStart), new Date(r.windowEnd));
  return (
    <dl className="details">
      <dt>Requested by</dt>
      <dd data-testid={`requester-${r.id}`}>
        {r.requester.name}
        {r.requester.companyName !== null && <span className="muted"> · {r.requester.companyName}</span>}
      </dd>
      <dt>Machine</dt>
      <dd>
        <strong>{r.machine.name}</strong> <span className="muted">· {r.machine.siteName} ·</span>{' '}
        <span className="protocol">{r.machine.protocol.toUpperCase()}</span>
        {tags !== undefined && tags.length > 0 && (
          <>
            {' '}
            <Chips items={tags} />
          </>
        )}
      </dd>
      <dt>Window</dt>
      <dd>
        <WindowTime start={r.windowStart} end={r.windowEnd} zone={r.machine.siteTimeZone} /> <span className="muted">({formatDuration(minutes)})</span>
        {overlaps.length > 0 && (
          <p className="overlap-warning" data-testid={`overlaps-${r.id}`} data-overlaps={overlaps.join(' ')}>
            Overlaps {overlaps.length === 1 ? 'another request' : `${overlaps.length} other requests`} of {r.requester.name} for this machine (
            {overlaps.map((id) => id.slice(0, 8)).join(', ')}). Each grant opens in its own window; check that both are meant.
          </p>
        )}
      </dd>
      <dt>Reason</dt>
      <dd className="prewrap">{r.reason}</dd>
      <dt>Work order</dt>
      <dd>{r.workOrder ?? <span className="muted">none</span>}</dd>
      <dt>Asks for</dt>
      <dd>{policySummary(r.requestedPolicy)}</dd>
      {r.extendsRequestId !== null && (
        <>
          <dt>Extends</dt>
          <dd>an earlier grant on the same machine</dd>
        </>
      )}
      <dt>Approvals</dt>
      <dd data-testid={`approvals-${r.id}`}>
        {r.approvals.length} of {r.requiredApprovals}
        {r.approvals.map((a) => (
          <div key={`${a.by.id}-${a.at}`} className="muted">
            {a.by.name}, <Time iso={a.at} zone={r.machine.siteTimeZone} />
            {a.comment !== null && <>: “{a.comment}”</>}
          </div>
        ))}
      </dd>
      <dt>Submitted</dt>
      <dd>
        <Time iso={r.createdAt} zone={r.machine.siteTimeZone} />
      </dd>
    </dl>
  );
}
