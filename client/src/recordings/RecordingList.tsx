// "Recordings" (auditor, admin, plant manager): search finalised sessions by who, where, what,
// when, how they ended and what was typed or shown; page through the results; a row opens the
// player. The server decides which sites' recordings the caller sees.
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { PROTOCOLS, errorMessage, searchRecordings, type Protocol, type RecordingQuery, type RecordingSummary } from '../api.ts';
import { ErrorMessage, Time } from '../shared/components.tsx';
import { ChoiceFilter, DateTimeFilter, timeRange } from '../shared/filters.tsx';
import { ListView } from '../shared/ListView.tsx';
import { useDirectory, useNames } from '../shared/directory.ts';
import { itemHref } from '../shared/route.ts';
import { formatDuration } from './format.ts';

/** Results per page: a screenful, quick to fetch. */
export const RECORDINGS_PAGE_SIZE = 50;

/** Why sessions end (the broker's and finaliser's words), for the "end reason" filter and the player. */
const END_REASON_LABELS = {
  disconnected: 'Disconnected',
  window_ended: 'Access window ended',
  terminated: 'Terminated by a manager',
  revoked: 'Grant revoked',
  connection_error: 'Connection error',
  guacd_error: 'Gateway error',
  recording_missing: 'Recording missing',
  recording_stalled: 'Recording stalled',
  input_log_failed: 'Input log failed',
  store_unavailable: 'Store unavailable',
  instance_lost: 'Portal instance lost',
  orphaned: 'Orphaned (finalised at restart)',
};
const END_REASONS: readonly { value: string; label: string }[] = Object.entries(END_REASON_LABELS).map(([value, label]) => ({ value, label }));

/** The words for an end reason (the reason itself when it is one the screens do not know). */
export const endReasonLabel = (r: string): string => END_REASONS.find((e) => e.value === r)?.label ?? r;

interface Filters {
  vendor: string;
  company: string;
  machine: string;
  site: string;
  approver: string;
  protocol: '' | Protocol;
  reason: string;
  q: string;
  from: string;
  to: string;
}
const TEXT_FIELDS = ['vendor', 'company', 'machine', 'site', 'approver', 'reason', 'q'] as const;

function filtersFrom(params: URLSearchParams): Filters {
  const protocol = params.get('protocol') ?? '';
  return {
    vendor: params.get('vendor') ?? '',
    company: params.get('company') ?? '',
    machine: params.get('machine') ?? '',
    site: params.get('site') ?? '',
    approver: params.get('approver') ?? '',
    protocol: (PROTOCOLS as readonly string[]).includes(protocol) ? (protocol as Protocol) : '',
    reason: params.get('reason') ?? '',
    q: params.get('q') ?? '',
    from: '',
    to: '',
  };
}

/** The API query for the form, or the message explaining why it is not valid. */
function queryOf(f: Filters): RecordingQuery | string {
  const range = timeRange(f.from, f.to);
  if (typeof range === 'string') return range;
  const { from, to } = range;
  const q: RecordingQuery = { limit: RECORDINGS_PAGE_SIZE };
  for (const k of TEXT_FIELDS) {
    const v = f[k].trim();
    if (v !== '') q[k] = v;
  }
  if (f.protocol !== '') q.protocol = f.protocol;
  if (from !== null) q.from = from.toISOString();
  if (to !== null) q.to = to.toISOString();
  return q;
}

type Results =
  | { status: 'idle' }
  | { status: 'loading' }
  | { status: 'ready'; query: RecordingQuery; recordings: RecordingSummary[]; total: number; nextCursor: string | null; more: 'idle' | 'loading' | { error: string } }
  | { status: 'error'; message: string };

export function RecordingList({ initial }: { initial: URLSearchParams }) {
  const directory = useDirectory();
  const [filters, setFilters] = useState<Filters>(() => filtersFrom(initial));
  const [invalid, setInvalid] = useState<string | null>(null);
  const [results, setResults] = useState<Results>({ status: 'idle' });
  const generation = useRef(0);

  const run = useCallback(async (f: Filters) => {
    const query = queryOf(f);
    if (typeof query === 'string') {
      setInvalid(query);
      return;
    }
    setInvalid(null);
    const mine = ++generation.current;
    setResults({ status: 'loading' });
    try {
      const page = await searchRecordings(query);
      if (mine === generation.current) setResults({ status: 'ready', query, ...page, more: 'idle' });
    } catch (err) {
      if (mine === generation.current) setResults({ status: 'error', message: errorMessage(err, 'The search failed.') });
    }
  }, []);

  // The newest recordings (or the URL's search) show at once.
  const initialFilters = useRef(filters);
  useEffect(() => {
    void run(initialFilters.current);
  }, [run]);

  async function more() {
    if (results.status !== 'ready' || results.nextCursor === null) return;
    const mine = generation.current;
    setResults({ ...results, more: 'loading' });
    try {
      const page = await searchRecordings({ ...results.query, cursor: results.nextCursor });
      if (mine !== generation.current) return;
      setResults({ ...results, recordings: [...results.recordings, ...page.recordings], total: page.total, nextCursor: page.nextCursor, more: 'idle' });
    } catch (err) {
      if (mine === generation.current) setResults({ ...results, more: { error: errorMessage(err, 'Could not load more.') } });
    }
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    void run(filters);
  }

  const set = <K extends keyof Filters>(key: K, value: Filters[K]) => setFilters((f) => ({ ...f, [key]: value }));
  const text = (key: (typeof TEXT_FIELDS)[number], label: string, placeholder: string) => (
    <label>
      {label}
      <input type={key === 'q' ? 'search' : 'text'} value={filters[key]} placeholder={placeholder} onChange={(e) => set(key, e.target.value)} data-testid={key === 'q' ? 'recordings-q' : `recordings-${key}`} />
    </label>
  );

  // Sites and companies are chosen by name (the search takes their ids).
  // One the directory does not know (from a link, say) stays selectable, by its id.
  const byName = (key: 'company' | 'site', label: string, any: string, options: readonly { id: string; name: string }[]) => {
    const unknown = filters[key] !== '' && !options.some((o) => o.id === filters[key]) ? [{ value: filters[key], label: filters[key] }] : [];
    return <ChoiceFilter label={label} value={filters[key]} onChange={(v) => set(key, v)} any={any} options={[...unknown, ...options.map((o) => ({ value: o.id, label: o.name }))]} testId={`recordings-${key}`} />;
  };

  return (
    <section className="card wide" data-testid="recordings">
      <h1>Recordings</h1>
      <form className="recordings-search" onSubmit={submit} data-testid="recordings-search">
        <div className="recordings-q-row">
          {text('q', 'Typed or shown', 'words from commands or screen output')}
        </div>
        <div className="filters">
          {text('vendor', 'Vendor (user id)', 'e.g. dev:vera')}
          {byName('company', 'Company', 'Any company', [...directory.companies.values()])}
          {text('machine', 'Machine', 'machine id')}
          {byName('site', 'Site', 'Any site', [...directory.sites.values()])}
          {text('approver', 'Approver (user id)', 'e.g. dev:mona')}
          <ChoiceFilter
            label="Protocol"
            value={filters.protocol}
            onChange={(v) => set('protocol', v as Filters['protocol'])}
            any="Any"
            options={PROTOCOLS.map((p) => ({ value: p, label: p.toUpperCase() }))}
            testId="recordings-protocol"
          />
          <ChoiceFilter label="End reason" value={filters.reason} onChange={(v) => set('reason', v)} any="Any" options={END_REASONS} testId="recordings-reason" />
          <DateTimeFilter label="From" value={filters.from} onChange={(v) => set('from', v)} testId="recordings-from" />
          <DateTimeFilter label="To" value={filters.to} onChange={(v) => set('to', v)} testId="recordings-to" />
        </div>
        <p className="actions">
          <button type="submit" data-testid="recordings-submit">
            Search
          </button>
          <button type="button" className="secondary" onClick={() => { const f = filtersFrom(new URLSearchParams()); setFilters(f); void run(f); }} data-testid="recordings-clear">
            Clear
          </button>
        </p>
        <ErrorMessage message={invalid} testId="recordings-invalid" />
      </form>

      {results.status !== 'idle' && (
        <ListView
          status={results.status}
          error={results.status === 'error' ? results.message : null}
          items={results.status === 'ready' ? results.recordings : []}
          columns={['Time', 'Vendor', 'Machine', 'Site', 'Protocol', 'Duration', 'End reason', 'Approvers', { actions: true }]}
          tableClassName="recordings-table"
          row={(r) => <Row key={r.sessionId} r={r} />}
          empty="No recordings match."
          testIds={{ loadError: 'recordings-error', empty: 'recordings-empty' }}
          summary={
            results.status === 'ready' && (
              <p className="muted" data-testid="recordings-total">
                {results.total} recording{results.total === 1 ? '' : 's'}
              </p>
            )
          }
          more={{
            available: results.status === 'ready' && results.nextCursor !== null,
            loading: results.status === 'ready' && results.more === 'loading',
            error: results.status === 'ready' && typeof results.more === 'object' ? results.more.error : null,
            onMore: () => void more(),
            label: 'More',
            testId: 'recordings-more',
            errorTestId: 'recordings-more-error',
          }}
        />
      )}
    </section>
  );
}

function Row({ r }: { r: RecordingSummary }) {
  const link = itemHref('recording', r.sessionId);
  const names = useNames();
  return (
    <tr
      className="clickable"
      data-testid={`recording-row-${r.sessionId}`}
      onClick={() => {
        window.location.hash = link;
      }}
    >
      <td>
        <Time iso={r.startedAt} site={r.siteId} />
      </td>
      <td>
        {r.requester.name}
        {r.requester.company !== null && <span className="muted"> · {names.company(r.requester.company)}</span>}
      </td>
      <td>{r.machine.name}</td>
      <td>{names.site(r.siteId)}</td>
      <td>{r.machine.protocol.toUpperCase()}</td>
      <td>{formatDuration(Date.parse(r.endedAt) - Date.parse(r.startedAt))}</td>
      <td>{endReasonLabel(r.endReason)}</td>
      <td>{r.approvers.map((a) => a.name).join(', ')}</td>
      <td className="actions-cell">
        {r.incomplete.length > 0 && (
          <span className="badge broken" title={r.incomplete.join(', ')} data-testid={`recording-incomplete-${r.sessionId}`}>
            incomplete
          </span>
        )}
        <a href={link} onClick={(e) => e.stopPropagation()} data-testid={`recording-open-${r.sessionId}`}>
          Play
        </a>
      </td>
    </tr>
  );
}
