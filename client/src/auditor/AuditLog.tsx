// "Audit log" (auditor, admin): the hash-chained event log, newest first, with filters, paging
// backwards in time, the chain's verification status and a JSON-lines export.
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { AUDIT_EXPORT_URL, errorMessage, listAudit, listSites, verifyAudit, type AuditEvent, type AuditQuery, type ChainVerification, type Site } from '../api.ts';
import { ErrorMessage, Loading, Time } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';
import { fromLocalInput } from '../shared/time.ts';

/** Events per page: a screenful or two, small enough to stay quick on a long log. */
export const AUDIT_PAGE_SIZE = 100;

interface Filters {
  actor: string;
  action: string;
  site: string;
  from: string;
  to: string;
}
const NO_FILTERS: Filters = { actor: '', action: '', site: '', from: '', to: '' };

type Log =
  | { status: 'loading' }
  | { status: 'ready'; events: AuditEvent[]; nextBefore: string | null; more: 'idle' | 'loading' | { error: string } }
  | { status: 'error'; message: string };

function queryOf(f: Filters): AuditQuery | string {
  const from = f.from === '' ? null : fromLocalInput(f.from);
  const to = f.to === '' ? null : fromLocalInput(f.to);
  if (f.from !== '' && from === null) return 'Enter a valid “from” time.';
  if (f.to !== '' && to === null) return 'Enter a valid “to” time.';
  if (from !== null && to !== null && to < from) return '“To” must be after “from”.';
  return {
    actor: f.actor.trim() || undefined,
    action: f.action.trim() || undefined,
    site: f.site || undefined,
    from: from?.toISOString(),
    to: to?.toISOString(),
    limit: AUDIT_PAGE_SIZE,
  };
}

export function AuditLog() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [applied, setApplied] = useState<AuditQuery>({ limit: AUDIT_PAGE_SIZE });
  const [filterError, setFilterError] = useState<string | null>(null);
  const [log, setLog] = useState<Log>({ status: 'loading' });
  const seq = useRef(0);
  const sites = useLoad<Site[]>(() => listSites().catch(() => []), 'sites');

  const loadFirst = useCallback((q: AuditQuery) => {
    const mine = ++seq.current;
    setLog({ status: 'loading' });
    listAudit(q).then(
      (page) => {
        if (mine === seq.current) setLog({ status: 'ready', events: page.events, nextBefore: page.nextBefore, more: 'idle' });
      },
      (err: unknown) => {
        if (mine === seq.current) setLog({ status: 'error', message: errorMessage(err) });
      },
    );
  }, []);

  useEffect(() => {
    loadFirst(applied);
    return () => {
      seq.current++;
    };
  }, [applied, loadFirst]);

  function loadMore() {
    if (log.status !== 'ready' || log.nextBefore === null) return;
    const mine = seq.current; // a filter change meanwhile makes this page stale
    const before = log.nextBefore;
    setLog({ ...log, more: 'loading' });
    listAudit({ ...applied, before }).then(
      (page) => {
        if (mine !== seq.current) return;
        setLog((prev) => {
          if (prev.status !== 'ready') return prev;
          const known = new Set(prev.events.map((e) => e.id));
          return { status: 'ready', events: [...prev.events, ...page.events.filter((e) => !known.has(e.id))], nextBefore: page.nextBefore, more: 'idle' };
        });
      },
      (err: unknown) => {
        if (mine !== seq.current) return;
        setLog((prev) => (prev.status === 'ready' ? { ...prev, more: { error: errorMessage(err) } } : prev));
      },
    );
  }

  function apply(e: FormEvent) {
    e.preventDefault();
    const q = queryOf(draft);
    if (typeof q === 'string') {
      setFilterError(q);
      return;
    }
    setFilterError(null);
    setApplied(q);
  }

  function clear() {
    setDraft(NO_FILTERS);
    setFilterError(null);
    setApplied({ limit: AUDIT_PAGE_SIZE });
  }

  const set = (k: keyof Filters, v: string) => setDraft((prev) => ({ ...prev, [k]: v }));
  const siteList = sites.state.status === 'ready' ? sites.state.data : [];

  return (
    <section className="card wide" data-testid="audit-log">
      <div className="heading">
        <h1>Audit log</h1>
        <ChainStatus />
      </div>
      <form className="form filters" onSubmit={apply} noValidate data-testid="audit-filters">
        <div className="row">
          <label>
            Actor (user id)
            <input type="text" value={draft.actor} onChange={(e) => set('actor', e.target.value)} data-testid="audit-actor" />
          </label>
          <label>
            Action
            <input type="text" value={draft.action} onChange={(e) => set('action', e.target.value)} placeholder="e.g. request.approved" data-testid="audit-action" />
          </label>
          <label>
            Site
            {siteList.length > 0 ? (
              <select value={draft.site} onChange={(e) => set('site', e.target.value)} data-testid="audit-site">
                <option value="">Any site</option>
                {siteList.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            ) : (
              <input type="text" value={draft.site} onChange={(e) => set('site', e.target.value)} data-testid="audit-site" />
            )}
          </label>
          <label>
            From
            <input type="datetime-local" value={draft.from} onChange={(e) => set('from', e.target.value)} data-testid="audit-from" />
          </label>
          <label>
            To
            <input type="datetime-local" value={draft.to} onChange={(e) => set('to', e.target.value)} data-testid="audit-to" />
          </label>
        </div>
        <ErrorMessage message={filterError} testId="audit-filter-error" />
        <p className="actions">
          <button type="submit" data-testid="audit-apply">
            Apply filters
          </button>
          <button type="button" className="secondary" onClick={clear} data-testid="audit-clear">
            Clear
          </button>
          <a className="button secondary" href={AUDIT_EXPORT_URL} download data-testid="audit-export">
            Export (JSON lines)
          </a>
        </p>
      </form>

      {log.status === 'loading' && <Loading />}
      {log.status === 'error' && <ErrorMessage message={log.message} testId="audit-load-error" />}
      {log.status === 'ready' && (
        <>
          {log.events.length === 0 ? (
            <p className="muted" data-testid="audit-empty">
              No events match.
            </p>
          ) : (
            <table className="table audit">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Actor</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Outcome</th>
                  <th>Reason</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {log.events.map((ev) => (
                  <tr key={ev.id} className={ev.outcome === 'refused' ? 'refused' : undefined} data-testid={`audit-row-${ev.id}`} data-seq={ev.seq}>
                    <td className="nowrap">
                      <Time iso={ev.at} precise site={ev.site} />
                    </td>
                    <td>
                      {ev.actor === null ? (
                        <span className="muted">system</span>
                      ) : (
                        <span title={ev.actor.id}>{ev.actor.name}</span>
                      )}
                    </td>
                    <td>
                      <code>{ev.action}</code>
                    </td>
                    <td>{ev.target === null ? <span className="muted">—</span> : <code>{`${ev.target.type}:${ev.target.id}`}</code>}</td>
                    <td>
                      <span className={ev.outcome === 'refused' ? 'outcome refused' : 'outcome ok'} data-testid={`outcome-${ev.id}`}>
                        {ev.outcome}
                      </span>
                    </td>
                    <td>{ev.reason ?? <span className="muted">—</span>}</td>
                    <td>
                      <code className="details-json">{compactJson(ev.details)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {typeof log.more === 'object' && <ErrorMessage message={log.more.error} testId="audit-more-error" />}
          {log.nextBefore !== null && (
            <button type="button" className="secondary" disabled={log.more === 'loading'} onClick={loadMore} data-testid="audit-load-more">
              {log.more === 'loading' ? 'Loading…' : 'Load more'}
            </button>
          )}
        </>
      )}
    </section>
  );
}

function compactJson(details: Record<string, unknown>): string {
  if (Object.keys(details).length === 0) return '';
  try {
    return JSON.stringify(details);
  } catch {
    return '(unreadable)';
  }
}

function ChainStatus() {
  const [state, setState] = useState<{ status: 'loading' } | { status: 'ready'; result: ChainVerification } | { status: 'error'; message: string }>({
    status: 'loading',
  });
  const seq = useRef(0);

  const verify = useCallback(() => {
    const mine = ++seq.current;
    setState({ status: 'loading' });
    verifyAudit().then(
      (result) => {
        if (mine === seq.current) setState({ status: 'ready', result });
      },
      (err: unknown) => {
        if (mine === seq.current) setState({ status: 'error', message: errorMessage(err) });
      },
    );
  }, []);

  useEffect(() => {
    verify();
    return () => {
      seq.current++;
    };
  }, [verify]);

  let text: string;
  let cls: string;
  if (state.status === 'loading') {
    text = 'verifying chain…';
    cls = 'badge';
  } else if (state.status === 'error') {
    text = `chain not verified: ${state.message}`;
    cls = 'badge missing';
  } else if (state.result.ok) {
    text = `chain intact — ${state.result.checked} events`;
    cls = 'badge ok';
  } else {
    const b = state.result.firstBroken;
    text = b === null ? 'chain BROKEN' : `chain BROKEN at #${b.index} (${b.reason})`;
    cls = 'badge broken';
  }

  return (
    <span className="chain">
      <span className={cls} role="status" data-testid="chain-status" data-status={state.status === 'ready' ? (state.result.ok ? 'ok' : 'broken') : state.status}>
        {text}
      </span>
      <button type="button" className="secondary" onClick={verify} disabled={state.status === 'loading'} data-testid="verify-chain">
        Verify now
      </button>
    </span>
  );
}
