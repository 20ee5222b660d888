// "Inbox": pending requests of the manager's sites that they may still approve. Approving may
// shorten the window or tighten the policy, never widen them. When someone else decided
// first, the server answers 409: we say so and refresh.
import { useState, type FormEvent } from 'react';
import {
  ApiError,
  approveRequest,
  denyRequest,
  errorMessage,
  listMachines,
  PERMISSIONS,
  type AccessRequest,
  type ApproveInput,
  type Policy,
} from '../api.ts';
import { ErrorMessage, LiveIndicator, Loading, StateBadge } from '../shared/components.tsx';
import { useLiveRefresh } from '../shared/live.ts';
import { useLoad, useRequestList } from '../shared/load.ts';
import { fromLocalInput, toLocalInput } from '../shared/time.ts';
import { MAX_TEXT_LENGTH } from '../vendor/RequestForm.tsx';
import { RequestDetails } from './RequestDetails.tsx';

/** Answers that mean "the request moved on without you": refresh rather than retry. */
const STALE_STATUSES = new Set([403, 404, 409]);

interface InboxNotice {
  kind: 'ok' | 'conflict';
  text: string;
}

export function Inbox() {
  const { load, reload, loadMore } = useRequestList('waiting');
  // Tags live on machines, not on requests; an inbox without tags is still usable.
  const machines = useLoad(() => listMachines().catch(() => []), 'machines');
  const tagsById = new Map(machines.state.status === 'ready' ? machines.state.data.map((m) => [m.id, m.tags]) : []);
  const live = useLiveRefresh(reload);
  const [notice, setNotice] = useState<InboxNotice | null>(null);

  function decided(n: InboxNotice) {
    setNotice(n);
    reload();
  }

  return (
    <section className="wide" data-testid="inbox">
      <div className="heading">
        <h1>Inbox</h1>
        <LiveIndicator status={live} />
      </div>
      {notice !== null && (
        <p role={notice.kind === 'ok' ? 'status' : 'alert'} className={notice.kind === 'ok' ? 'notice' : 'notice conflict'} data-testid="inbox-notice">
          {notice.text}
        </p>
      )}
      {load.status === 'loading' && <Loading />}
      {load.status === 'error' && <ErrorMessage message={load.message} testId="inbox-load-error" />}
      {load.status === 'ready' && (
        <>
          <ErrorMessage message={load.refreshError} />
          {load.data.requests.length === 0 && (
            <p className="card muted" data-testid="inbox-empty">
              Nothing waits for your decision.
            </p>
          )}
          {load.data.requests.map((r) => (
            <DecisionCard key={r.id} request={r} tags={tagsById.get(r.machine.id)} overlaps={load.data.overlaps[r.id] ?? []} onDecided={decided} />
          ))}
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

function DecisionCard({
  request: r,
  tags,
  overlaps,
  onDecided,
}: {
  request: AccessRequest;
  tags: readonly string[] | undefined;
  overlaps: readonly string[];
  onDecided: (n: InboxNotice) => void;
}) {
  const [comment, setComment] = useState('');
  const [newEnd, setNewEnd] = useState('');
  const [grant, setGrant] = useState<Policy>(r.requestedPolicy);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const who = `${r.requester.name}'s request for ${r.machine.name}`;

  async function run(action: 'approve' | 'deny', e?: FormEvent): Promise<void> {
    e?.preventDefault();
    setError(null);
    const trimmed = comment.trim();
    if (trimmed.length > MAX_TEXT_LENGTH) {
      setError(`The comment is too long (at most ${MAX_TEXT_LENGTH} characters).`);
      return;
    }
    let body: ApproveInput = trimmed === '' ? {} : { comment: trimmed };
    if (action === 'approve') {
      if (newEnd !== '') {
        const end = fromLocalInput(newEnd);
        if (end === null) {
          setError('Enter a valid new end, or clear the field.');
          return;
        }
        if (end <= new Date(r.windowStart)) {
          setError('The new end must be after the start of the window.');
          return;
        }
        if (end > new Date(r.windowEnd)) {
          setError('You can shorten the window, not lengthen it.');
          return;
        }
        if (end < new Date(r.windowEnd)) body = { ...body, windowEnd: end.toISOString() };
      }
      const tightened = (Object.keys(grant) as (keyof Policy)[]).some((k) => grant[k] !== r.requestedPolicy[k]);
      if (tightened) body = { ...body, policy: grant };
    }
    setBusy(true);
    try {
      const answer =
        action === 'approve' ? await approveRequest(r.id, body) : { request: await denyRequest(r.id, body.comment === undefined ? {} : { comment: body.comment }), overlaps: [] };
      const updated = answer.request;
      const decidedText =
        action === 'deny'
          ? `Denied ${who}.`
          : updated.state === 'pending'
            ? `Approved ${who}; it needs ${updated.requiredApprovals - updated.approvals.length} more approval.`
            : `Approved ${who}.`;
      const n = answer.overlaps.length;
      const text = n === 0 ? decidedText : `${decidedText} Note: its window overlaps ${n === 1 ? 'another request' : `${n} other requests`} of the same vendor for this machine.`;
      onDecided({ kind: 'ok', text });
    } catch (err) {
      if (err instanceof ApiError && STALE_STATUSES.has(err.status)) {
        onDecided({ kind: 'conflict', text: `${who}: ${err.message}` });
      } else {
        setError(errorMessage(err));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <article className="card request-card" data-testid={`request-row-${r.id}`}>
      <header className="heading">
        <h2>
          {r.machine.name} <span className="muted">· {r.machine.siteName}</span>
        </h2>
        <StateBadge state={r.state} testId={`state-${r.id}`} />
      </header>
      <RequestDetails request={r} tags={tags} overlaps={overlaps} />
      <form className="form decision" onSubmit={(e) => run('approve', e)} noValidate>
        <label>
          Comment
          <textarea value={comment} onChange={(e) => setComment(e.target.value)} rows={2} maxLength={MAX_TEXT_LENGTH} data-testid={`comment-${r.id}`} />
        </label>
        <label>
          Shorten window: new end (optional)
          <input
            type="datetime-local"
            value={newEnd}
            min={toLocalInput(new Date(r.windowStart))}
            max={toLocalInput(new Date(r.windowEnd))}
            onChange={(e) => setNewEnd(e.target.value)}
            data-testid={`new-end-${r.id}`}
          />
        </label>
        <fieldset>
          <legend>Grant (untick to restrict)</legend>
          {PERMISSIONS.map(({ key, label }) => (
            <label key={key} className="check">
              <input
                type="checkbox"
                checked={grant[key]}
                disabled={!r.requestedPolicy[key]}
                onChange={(e) => setGrant({ ...grant, [key]: e.target.checked })}
                data-testid={`grant-${key}-${r.id}`}
              />
              {label}
              {!r.requestedPolicy[key] && <span className="muted"> (not requested)</span>}
            </label>
          ))}
          <label className="check">
            <input
              type="checkbox"
              checked={grant.readOnly}
              disabled={r.requestedPolicy.readOnly}
              onChange={(e) => setGrant({ ...grant, readOnly: e.target.checked })}
              data-testid={`grant-readOnly-${r.id}`}
            />
            View only (watch, no typing or clicking)
          </label>
        </fieldset>
        <ErrorMessage message={error} testId={`decision-error-${r.id}`} />
        <p className="actions">
          <button type="submit" disabled={busy} data-testid={`approve-${r.id}`}>
            Approve
          </button>
          <button type="button" className="danger" disabled={busy} onClick={() => run('deny')} data-testid={`deny-${r.id}`}>
            Deny
          </button>
        </p>
      </form>
    </article>
  );
}
