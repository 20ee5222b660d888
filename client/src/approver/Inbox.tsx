// "Inbox": pending requests of the manager's sites that they may still approve, as a list of
// compact rows (vendor, company, machine, window, reason, approvals). The selected row opens
// in place into its details and the decision: approve (with a comment, a shorter window, a
// tighter policy — never wider) or deny (confirmed). ↑/↓ move between rows, Enter opens one.
// What happened shows where the row was. `#/inbox?request=<id>` (chat links) opens that
// request, or says what became of it. When someone else decided first the server answers 409:
// we say so and refresh.
import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import {
  ApiError,
  approveRequest,
  denyRequest,
  errorMessage,
  getRequest,
  listMachines,
  PERMISSIONS,
  type AccessRequest,
  type ApproveInput,
  type Policy,
} from '../api.ts';
import { ConfirmDialog } from '../shared/ConfirmDialog.tsx';
import { ErrorMessage, FieldErrors, LiveIndicator, Loading, StateBadge, stateLabel, WindowTime } from '../shared/components.tsx';
import { useLiveRefresh } from '../shared/live.ts';
import { useLoad, useRequestList } from '../shared/load.ts';
import { href } from '../shared/route.ts';
import { formatDuration, fromLocalInput, minutesBetween, toLocalInput } from '../shared/time.ts';
import { MAX_TEXT_LENGTH } from '../vendor/RequestForm.tsx';
import { RequestDetails } from './RequestDetails.tsx';

/** Answers that mean "the request moved on without you": refresh rather than retry. */
const STALE_STATUSES = new Set([403, 404, 409]);

interface Outcome {
  /** The decided request: its row gives way to this notice. */
  id: string;
  /** Where its row was in the list. */
  index: number;
  kind: 'ok' | 'conflict';
  text: string;
}

export function Inbox({ focusId = null }: { focusId?: string | null }) {
  const { load, reload, loadMore } = useRequestList('waiting');
  // Tags live on machines, not on requests; an inbox without tags is still usable.
  const machines = useLoad(() => listMachines().catch(() => []), 'machines');
  const tagsById = new Map(machines.state.status === 'ready' ? machines.state.data.map((m) => [m.id, m.tags]) : []);
  const live = useLiveRefresh(reload);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [selected, setSelected] = useState<string | null>(focusId);
  const rowButtons = useRef(new Map<string, HTMLButtonElement>());
  const focusAfterRender = useRef<string | null>(null);

  // The decided request leaves the list at once, before the refetch confirms it.
  const requests = load.status === 'ready' ? load.data.requests.filter((r) => r.id !== outcome?.id) : [];
  const ids = requests.map((r) => r.id);
  const linkedMissing = focusId !== null && load.status === 'ready' && !load.data.requests.some((r) => r.id === focusId) && outcome?.id !== focusId;

  // A deep link selects its request; otherwise the first row is open, as in a mail client.
  useEffect(() => {
    if (focusId !== null) {
      setSelected(focusId);
      focusAfterRender.current = focusId;
    }
  }, [focusId]);
  const current = selected !== null && ids.includes(selected) ? selected : linkedMissing ? null : (ids[0] ?? null);

  useEffect(() => {
    const id = focusAfterRender.current;
    if (id === null) return;
    const el = rowButtons.current.get(id);
    if (el === undefined) return;
    focusAfterRender.current = null;
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: 'nearest' });
  });

  const select = useCallback((id: string, focus: boolean) => {
    setSelected(id);
    if (focus) focusAfterRender.current = id;
    // The address names the open request, so a reload or a shared link comes back to it.
    window.history.replaceState(null, '', href('inbox', { request: id }));
  }, []);

  function decided(r: AccessRequest, kind: Outcome['kind'], text: string) {
    const index = ids.indexOf(r.id);
    const next = ids[index + 1] ?? ids[index - 1] ?? null;
    setOutcome({ id: r.id, index: Math.max(0, index), kind, text });
    if (next !== null) select(next, true);
    reload();
  }

  function onRowKey(e: KeyboardEvent<HTMLButtonElement>, id: string) {
    const i = ids.indexOf(id);
    const target = e.key === 'ArrowDown' ? ids[i + 1] : e.key === 'ArrowUp' ? ids[i - 1] : e.key === 'Home' ? ids[0] : e.key === 'End' ? ids[ids.length - 1] : undefined;
    if (target === undefined) return;
    e.preventDefault();
    select(target, true);
  }

  const notice =
    outcome === null ? null : (
      <p
        key={`outcome-${outcome.id}`}
        role={outcome.kind === 'ok' ? 'status' : 'alert'}
        className={outcome.kind === 'ok' ? 'notice inbox-outcome' : 'notice conflict inbox-outcome'}
        data-testid="inbox-notice"
      >
        {outcome.text}
        <button type="button" className="link-button" onClick={() => setOutcome(null)} aria-label="Dismiss">
          ✕
        </button>
      </p>
    );

  const rows = requests.map((r) => (
    <InboxRow
      key={r.id}
      request={r}
      open={r.id === current}
      tags={tagsById.get(r.machine.id)}
      overlaps={load.status === 'ready' ? (load.data.overlaps[r.id] ?? []) : []}
      onSelect={(focus) => select(r.id, focus)}
      onKey={(e) => onRowKey(e, r.id)}
      buttonRef={(el) => {
        if (el === null) rowButtons.current.delete(r.id);
        else rowButtons.current.set(r.id, el);
      }}
      onDecided={decided}
    />
  ));
  if (notice !== null && outcome !== null) rows.splice(Math.min(outcome.index, rows.length), 0, notice);

  return (
    <section className="wide" data-testid="inbox">
      <div className="heading">
        <h1>
          Inbox {load.status === 'ready' && <span className="count" data-testid="inbox-count">{requests.length}</span>}
        </h1>
        <LiveIndicator status={live} />
      </div>
      {linkedMissing && focusId !== null && <LinkedRequest id={focusId} />}
      {load.status === 'loading' && <Loading />}
      {load.status === 'error' && <ErrorMessage message={load.message} testId="inbox-load-error" />}
      {load.status === 'ready' && (
        <>
          <ErrorMessage message={load.refreshError} />
          {requests.length === 0 && (
            <>
              {notice}
              <p className="card muted" data-testid="inbox-empty">
                Nothing waits for your decision.
              </p>
            </>
          )}
          {requests.length > 0 && (
            <div className="inbox-list card" role="list" aria-label="Requests waiting for your decision" data-testid="inbox-list">
              <div className="inbox-head" aria-hidden="true">
                <span>Vendor</span>
                <span>Machine</span>
                <span>Window</span>
                <span>Reason</span>
                <span>Approvals</span>
              </div>
              {rows}
            </div>
          )}
          {load.data.hasMore && (
            <button type="button" className="secondary" onClick={loadMore} data-testid="load-more">
              Load more
            </button>
          )}
          {requests.length > 1 && (
            <p className="muted keys-hint">
              <kbd>↑</kbd> <kbd>↓</kbd> move between requests · <kbd>Enter</kbd> opens one
            </p>
          )}
        </>
      )}
    </section>
  );
}

function InboxRow({
  request: r,
  open,
  tags,
  overlaps,
  onSelect,
  onKey,
  buttonRef,
  onDecided,
}: {
  request: AccessRequest;
  open: boolean;
  tags: readonly string[] | undefined;
  /** Other requests of the same vendor for this machine whose windows overlap this one. */
  overlaps: readonly string[];
  onSelect: (focus: boolean) => void;
  onKey: (e: KeyboardEvent<HTMLButtonElement>) => void;
  buttonRef: (el: HTMLButtonElement | null) => void;
  onDecided: (r: AccessRequest, kind: Outcome['kind'], text: string) => void;
}) {
  const minutes = minutesBetween(new Date(r.windowStart), new Date(r.windowEnd));
  const detailId = `inbox-detail-${r.id}`;
  return (
    <article role="listitem" className={open ? 'inbox-item open' : 'inbox-item'} data-testid={`request-row-${r.id}`} data-open={open ? 'true' : 'false'}>
      <button
        type="button"
        ref={buttonRef}
        className="inbox-row"
        aria-expanded={open}
        aria-controls={open ? detailId : undefined}
        onClick={() => onSelect(true)}
        onKeyDown={onKey}
        data-testid={`inbox-row-${r.id}`}
      >
        <span className="c-vendor">
          <strong>{r.requester.name}</strong>
          <span className="muted">{r.requester.companyName ?? 'no company'}</span>
        </span>
        <span className="c-machine">
          <strong>{r.machine.name}</strong>
          <span className="muted">
            {r.machine.siteName} · {r.machine.protocol.toUpperCase()}
          </span>
        </span>
        <span className="c-window">
          <WindowTime start={r.windowStart} end={r.windowEnd} zone={r.machine.siteTimeZone} />
          <span className="muted">{formatDuration(minutes)}</span>
        </span>
        <span className="c-reason" title={r.reason}>
          {r.reason}
        </span>
        <span className="c-approvals">
          <span className={r.approvals.length > 0 ? 'badge state-approved' : 'badge'}>
            {r.approvals.length} of {r.requiredApprovals}
          </span>
          {overlaps.length > 0 && (
            <span
              className="badge overlap-badge"
              data-testid={`overlaps-${r.id}`}
              data-overlaps={overlaps.join(' ')}
              title={`Overlaps ${overlaps.length === 1 ? 'another request' : `${overlaps.length} other requests`} of ${r.requester.name} for this machine: each grant opens in its own window; check that both are meant.`}
            >
              ⚠ overlap
            </span>
          )}
        </span>
      </button>
      {open && (
        <div className="inbox-detail" id={detailId}>
          <RequestDetails request={r} tags={tags} />
          <DecisionForm request={r} onDecided={onDecided} />
        </div>
      )}
    </article>
  );
}

interface FieldProblem {
  field: 'comment' | 'newEnd';
  message: string;
}

function DecisionForm({ request: r, onDecided }: { request: AccessRequest; onDecided: (r: AccessRequest, kind: Outcome['kind'], text: string) => void }) {
  const [comment, setComment] = useState('');
  const [newEnd, setNewEnd] = useState('');
  const [grant, setGrant] = useState<Policy>(r.requestedPolicy);
  const [busy, setBusy] = useState(false);
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [confirmingDeny, setConfirmingDeny] = useState(false);

  const who = `${r.requester.name}'s request for ${r.machine.name}`;

  /** Every problem of the form at once, each beside its field. */
  function check(action: 'approve' | 'deny'): { problems: FieldProblem[]; body: ApproveInput } {
    const out: FieldProblem[] = [];
    const trimmed = comment.trim();
    if (trimmed.length > MAX_TEXT_LENGTH) out.push({ field: 'comment', message: `The comment is too long (at most ${MAX_TEXT_LENGTH} characters).` });
    let body: ApproveInput = trimmed === '' ? {} : { comment: trimmed };
    if (action === 'approve' && newEnd !== '') {
      const end = fromLocalInput(newEnd);
      if (end === null) out.push({ field: 'newEnd', message: 'Enter a valid new end, or clear the field.' });
      else if (end <= new Date(r.windowStart)) out.push({ field: 'newEnd', message: 'The new end must be after the start of the window.' });
      else if (end > new Date(r.windowEnd)) out.push({ field: 'newEnd', message: 'You can shorten the window, not lengthen it.' });
      else if (end < new Date(r.windowEnd)) body = { ...body, windowEnd: end.toISOString() };
    }
    if (action === 'approve') {
      const tightened = (Object.keys(grant) as (keyof Policy)[]).some((k) => grant[k] !== r.requestedPolicy[k]);
      if (tightened) body = { ...body, policy: grant };
    }
    return { problems: out, body };
  }

  async function run(action: 'approve' | 'deny'): Promise<void> {
    setError(null);
    const { problems: found, body } = check(action);
    setProblems(found);
    if (found.length > 0) return;
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
      onDecided(r, 'ok', text);
    } catch (err) {
      if (err instanceof ApiError && STALE_STATUSES.has(err.status)) {
        onDecided(r, 'conflict', `${who}: ${err.message}`);
      } else {
        setError(errorMessage(err));
        setBusy(false);
      }
    }
  }

  function approve(e: FormEvent) {
    e.preventDefault();
    void run('approve');
  }

  const errorFor = (field: FieldProblem['field']) => problems.filter((p) => p.field === field).map((p) => p.message);

  return (
    <>
      <form className="form decision" onSubmit={approve} noValidate aria-label={`Decision on ${who}`}>
        <FieldErrors messages={problems.map((p) => p.message)} testId={`decision-error-${r.id}`} />
        <div className="row">
          <label>
            Comment
            <textarea
              value={comment}
              onChange={(e) => setComment(e.target.value)}
              rows={2}
              maxLength={MAX_TEXT_LENGTH}
              aria-invalid={errorFor('comment').length > 0}
              data-testid={`comment-${r.id}`}
            />
          </label>
          <label>
            Shorten window: new end (optional)
            <input
              type="datetime-local"
              value={newEnd}
              min={toLocalInput(new Date(r.windowStart))}
              max={toLocalInput(new Date(r.windowEnd))}
              onChange={(e) => setNewEnd(e.target.value)}
              aria-invalid={errorFor('newEnd').length > 0}
              data-testid={`new-end-${r.id}`}
            />
            {errorFor('newEnd').map((m) => (
              <span key={m} className="error field-error">
                {m}
              </span>
            ))}
          </label>
        </div>
        <fieldset>
          <legend>Grant (untick to restrict)</legend>
          <div className="inline-checks">
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
          </div>
        </fieldset>
        <ErrorMessage message={error} testId={`decision-failure-${r.id}`} />
        <p className="actions">
          <button type="submit" disabled={busy} data-testid={`approve-${r.id}`}>
            Approve
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              setError(null);
              const found = check('deny').problems;
              setProblems(found);
              if (found.length === 0) setConfirmingDeny(true);
            }}
            data-testid={`deny-${r.id}`}
          >
            Deny…
          </button>
          <a className="permalink" href={href('inbox', { request: r.id })} data-testid={`permalink-${r.id}`}>
            Link to this request
          </a>
        </p>
      </form>
      {/* Outside the form: the dialog has a form of its own. */}
      {confirmingDeny && (
        <ConfirmDialog
          title={`Deny ${who}?`}
          confirmLabel="Deny request"
          cancelLabel="Keep it pending"
          testId={`deny-dialog-${r.id}`}
          confirmTestId={`confirm-deny-${r.id}`}
          onClose={() => setConfirmingDeny(false)}
          onConfirm={async () => {
            setConfirmingDeny(false);
            await run('deny');
          }}
        >
          <p>
            {r.requester.name} is told at once and cannot use this request any more; a decision cannot be undone.
            {comment.trim() === '' ? ' You have not written a comment: the vendor will not learn why.' : ` Your comment goes with it: “${comment.trim()}”.`}
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

/** A deep-linked request that is not (or no longer) waiting for this manager. */
function LinkedRequest({ id }: { id: string }) {
  const { state } = useLoad(() => getRequest(id), `linked-${id}`);
  return (
    <div className="card inbox-linked" data-testid="inbox-linked" role="status">
      {state.status === 'loading' && <Loading />}
      {state.status === 'error' && <p className="error">The linked request cannot be shown: {state.message}</p>}
      {state.status === 'ready' && (
        <>
          <h2>
            {state.data.machine.name} <span className="muted">· {state.data.machine.siteName}</span> <StateBadge state={state.data.state} testId="inbox-linked-state" />
          </h2>
          <p>
            This request no longer waits for your decision: it is <strong>{stateLabel(state.data.state).toLowerCase()}</strong>
            {state.data.decision !== null && <> (by {state.data.decision.by.name})</>}
            {state.data.state === 'pending' && state.data.approvals.length > 0 && <>; you have approved it, it waits for another manager</>}.
          </p>
          <RequestDetails request={state.data} tags={undefined} />
        </>
      )}
    </div>
  );
}
