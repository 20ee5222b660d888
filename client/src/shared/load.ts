// Screens render from an explicit status. A reload keeps showing the data it has (no flicker
// back to "loading") and reports a failed refresh beside it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage, listRequests, type AccessRequest, type RequestScope, type RequestState } from '../api.ts';

export type Load<T> =
  | { status: 'loading' }
  | { status: 'ready'; data: T; refreshError: string | null }
  | { status: 'error'; message: string };

/** Loads on mount and whenever `key` changes; `reload` refetches; late answers are dropped. */
export function useLoad<T>(load: () => Promise<T>, key: string): { state: Load<T>; reload: () => void } {
  const [state, setState] = useState<Load<T>>({ status: 'loading' });
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });
  const seq = useRef(0);

  const reload = useCallback(() => {
    const mine = ++seq.current;
    loadRef.current().then(
      (data) => {
        if (mine === seq.current) setState({ status: 'ready', data, refreshError: null });
      },
      (err: unknown) => {
        if (mine !== seq.current) return;
        const message = errorMessage(err);
        setState((prev) => (prev.status === 'ready' ? { ...prev, refreshError: message } : { status: 'error', message }));
      },
    );
  }, []);

  useEffect(() => {
    setState({ status: 'loading' });
    reload();
    return () => {
      seq.current++; // answers for an old key or an unmounted screen are ignored
    };
  }, [key, reload]);

  return { state, reload };
}

/** The API's page size for request lists. */
export const REQUEST_PAGE_SIZE = 50;

export interface RequestList {
  requests: AccessRequest[];
  hasMore: boolean;
  /** Per request id, the same vendor's overlapping requests for the same machine (lists mine and waiting). */
  overlaps: Readonly<Record<string, readonly string[]>>;
}

/**
 * A paged request list. "Load more" grows the number of pages held; a reload refetches all of
 * them so live refreshes never drop what the user has scrolled to.
 */
export function useRequestList(scope: RequestScope, state?: RequestState) {
  const key = `${scope}|${state ?? ''}`;
  const pages = useRef({ key, count: 1 });
  if (pages.current.key !== key) pages.current = { key, count: 1 };

  const { state: load, reload } = useLoad<RequestList>(async () => {
    const seen = new Map<string, AccessRequest>();
    const overlaps: Record<string, readonly string[]> = {};
    let cursor: string | undefined;
    let next: string | null = null;
    for (let i = 0; i < pages.current.count; i++) {
      const page = await listRequests({ scope, state, limit: REQUEST_PAGE_SIZE, cursor });
      for (const r of page.requests) seen.set(r.id, r);
      Object.assign(overlaps, page.overlaps ?? {});
      next = page.nextCursor;
      if (next === null) break;
      cursor = next;
    }
    return { requests: [...seen.values()], hasMore: next !== null, overlaps };
  }, key);

  const loadMore = useCallback(() => {
    pages.current.count++;
    reload();
  }, [reload]);

  return { load, reload, loadMore };
}
