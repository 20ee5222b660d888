// The scaffolding every list screen shares (live sessions, site requests, recordings, the audit
// log): loading, a load that failed, a refresh that failed beside the data it kept, the empty
// message, the table with its headings (an unnamed actions column for screen readers), and
// "Load more" with its own progress and failure. Each screen gives its columns and its rows.
import { useState, type ReactNode } from 'react';
import { ErrorMessage, Loading } from './components.tsx';
import type { Load } from './load.ts';

/** A column heading; `actions` is the unnamed column of row buttons (named for screen readers). */
export type Column = string | { actions: true };

export interface MoreState {
  /** Whether there is a next page. */
  available: boolean;
  loading: boolean;
  error: string | null;
  onMore: () => void;
  label?: string;
  testId: string;
  errorTestId?: string;
}

export interface ListViewProps<T> {
  status: 'loading' | 'error' | 'ready';
  /** What went wrong when nothing could be loaded. */
  error?: string | null;
  /** A refresh that failed while the data shown is still the last good one. */
  refreshError?: string | null;
  items: readonly T[];
  columns: readonly Column[];
  /** One `<tr>` per item. */
  row: (item: T) => ReactNode;
  empty: ReactNode;
  testIds?: { loadError?: string; empty?: string };
  tableClassName?: string;
  /** Shown above the table when there are items (a total, say). */
  summary?: ReactNode;
  more?: MoreState;
}

/** What an action on a row did, for `OutcomeNotice` above the list. */
export interface Outcome {
  ok: boolean;
  text: string;
}

/**
 * An action opened on one row of a list (revoke, terminate): `acting` says on which (`null`:
 * none); `done` closes it, keeps its outcome for the notice and reloads the list.
 */
export function useRowAction<T>(reload: () => void) {
  const [acting, setActing] = useState<T | null>(null);
  const [notice, setNotice] = useState<Outcome | null>(null);
  return {
    acting,
    notice,
    open: (on: T) => setActing(on),
    keep: () => setActing(null),
    done: (outcome: Outcome) => {
      setNotice(outcome);
      setActing(null);
      reload();
    },
  };
}

/** A screen's loaded state as the list shows it; `items` picks the rows out of the loaded data. */
export function listOf<D, T>(load: Load<D>, items: (data: D) => readonly T[]): Pick<ListViewProps<T>, 'status' | 'error' | 'refreshError' | 'items'> {
  return {
    status: load.status,
    error: load.status === 'error' ? load.message : null,
    refreshError: load.status === 'ready' ? load.refreshError : null,
    items: load.status === 'ready' ? items(load.data) : [],
  };
}

export function ListView<T>({ status, error, refreshError, items, columns, row, empty, testIds, tableClassName, summary, more }: ListViewProps<T>) {
  if (status === 'loading') return <Loading />;
  if (status === 'error') return <ErrorMessage message={error ?? 'Something went wrong. Try again.'} testId={testIds?.loadError} />;
  return (
    <>
      <ErrorMessage message={refreshError} />
      {items.length === 0 ? (
        <p className="muted" data-testid={testIds?.empty}>
          {empty}
        </p>
      ) : (
        <>
          {summary}
          <table className={tableClassName === undefined ? 'table' : `table ${tableClassName}`}>
            <thead>
              <tr>
                {columns.map((c, i) =>
                  typeof c === 'string' ? (
                    <th key={c}>{c}</th>
                  ) : (
                    <th key={`actions-${i}`}>
                      <span className="sr-only">Actions</span>
                    </th>
                  ),
                )}
              </tr>
            </thead>
            <tbody>{items.map(row)}</tbody>
          </table>
        </>
      )}
      {more !== undefined && more.error !== null && <ErrorMessage message={more.error} testId={more.errorTestId} />}
      {more !== undefined && more.available && (
        <p className="actions">
          <button type="button" className="secondary" onClick={more.onMore} disabled={more.loading} data-testid={more.testId}>
            {more.loading ? 'Loading…' : (more.label ?? 'Load more')}
          </button>
        </p>
      )}
    </>
  );
}
