// "Audit log" (auditor, admin): the hash-chained event log, newest first, with filters, paging
// backwards in time, the chain's verification status and a JSON-lines export.
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { AUDIT_EXPORT_URL, errorMessage, listAudit, listSites, verifyAudit, type AuditEvent, type AuditQuery, type ChainVerification, type Site } from '../api.ts';
import { ErrorMessage, Time } from '../shared/components.tsx';
import { ChoiceFilter, DateTimeFilter, timeRange } from '../shared/filters.tsx';
import { ListView } from '../shared/ListView.tsx';
import { useLoad } from '../shared/load.ts';
import { useNames } from '../shared/directory.ts';
import { href, itemHref } from '../shared/route.ts';

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
  const range = timeRange(f.from, f.to);
  if (typeof range === 'string') return range;
  const { from, to } = range;
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

  /** Narrows the log to one actor (a click on a name). */
  function onlyActor(actorId: string) {
    const next = { ...NO_FILTERS, actor: actorId };
    setDraft(next);
    setFilterError(null);
    const q = queryOf(next);
    if (typeof q !== 'string') setApplied(q);
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
            Actor (name or user id)
            <input type="text" value={draft.actor} onChange={(e) => set('actor', e.target.value)} placeholder="e.g. mona" data-testid="audit-actor" />
          </label>
          <label>
            Action
            <input type="text" value={draft.action} onChange={(e) => set('action', e.target.value)} placeholder="e.g. request.approved" data-testid="audit-action" />
          </label>
          {siteList.length > 0 ? (
            <ChoiceFilter label="Site" value={draft.site} onChange={(v) => set('site', v)} any="Any site" options={siteList.map((s) => ({ value: s.id, label: s.name }))} testId="audit-site" />
          ) : (
            <label>
              Site
              <input type="text" value={draft.site} onChange={(e) => set('site', e.target.value)} data-testid="audit-site" />
            </label>
          )}
          <DateTimeFilter label="From" value={draft.from} onChange={(v) => set('from', v)} testId="audit-from" />
          <DateTimeFilter label="To" value={draft.to} onChange={(v) => set('to', v)} testId="audit-to" />
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

      <ListView
        status={log.status}
        error={log.status === 'error' ? log.message : null}
        items={log.status === 'ready' ? log.events : []}
        columns={['Time', 'Actor', 'Action', 'Target', 'Outcome', 'Reason', 'Details']}
        tableClassName="audit"
        row={(ev) => (
          <tr key={ev.id} className={ev.outcome === 'refused' ? 'refused' : undefined} data-testid={`audit-row-${ev.id}`} data-seq={ev.seq}>
            <td className="nowrap">
              <Time iso={ev.at} precise site={ev.site} />
            </td>
            <td>
              {ev.actor === null ? (
                <span className="muted">system</span>
              ) : (
                <button type="button" className="link" title={`Only ${ev.actor.name}'s events (${ev.actor.id})`} onClick={() => onlyActor(ev.actor?.id ?? '')} data-testid={`audit-actor-${ev.id}`}>
                  {ev.actor.name}
                </button>
              )}
            </td>
            <td>
              <code>{ev.action}</code>
            </td>
            <td>{ev.target === null ? <span className="muted">—</span> : <Target target={ev.target} onUser={onlyActor} eventId={ev.id} />}</td>
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
        )}
        empty="No events match."
        testIds={{ loadError: 'audit-load-error', empty: 'audit-empty' }}
        more={{
          available: log.status === 'ready' && log.nextBefore !== null,
          loading: log.status === 'ready' && log.more === 'loading',
          error: log.status === 'ready' && typeof log.more === 'object' ? log.more.error : null,
          onMore: loadMore,
          testId: 'audit-load-more',
          errorTestId: 'audit-more-error',
        }}
      />
    </section>
  );
}

const shortId = (id: string): string => (/^[0-9a-f-]{36}$/.test(id) ? id.slice(0, 8) : id);

/**
 * What an event is about, by name where the directory knows it, linking to where it can be
 * seen: a request to the site's requests, a session to its recording, a machine, site or
 * company to its recordings, a user to their own events.
 */
function Target({ target, onUser, eventId }: { target: { type: string; id: string }; onUser: (id: string) => void; eventId: string }) {
  const names = useNames();
  const testId = `audit-target-${eventId}`;
  const label = (kind: string, name: string) => (
    <>
      <span className="muted">{kind}</span> {name}
    </>
  );
  switch (target.type) {
    case 'request':
      return (
        <a href={href('site', { request: target.id })} title={target.id} data-testid={testId}>
          {label('request', shortId(target.id))}
        </a>
      );
    case 'session':
      return (
        <a href={itemHref('recording', target.id)} title={`${target.id}: its recording`} data-testid={testId}>
          {label('session', shortId(target.id))}
        </a>
      );
    case 'machine':
      return (
        <a href={href('recordings', { machine: target.id })} title="Recordings of this machine" data-testid={testId}>
          {label('machine', target.id)}
        </a>
      );
    case 'site':
      return (
        <a href={href('recordings', { site: target.id })} title={`${target.id}: recordings of this site`} data-testid={testId}>
          {label('site', names.site(target.id))}
        </a>
      );
    case 'company':
      return (
        <a href={href('recordings', { company: target.id })} title={`${target.id}: recordings of this company's vendors`} data-testid={testId}>
          {label('company', names.company(target.id))}
        </a>
      );
    case 'user':
      return (
        <button type="button" className="link" onClick={() => onUser(target.id)} title="This user's own events" data-testid={testId}>
          {label('user', target.id)}
        </button>
      );
    default:
      return <code data-testid={testId}>{`${target.type}:${target.id}`}</code>;
  }
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
