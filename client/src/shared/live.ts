// Live status of access requests: one shared Server-Sent Events connection to /api/events for
// the whole page, plus refetch on window focus and a slow poll in case events are lost.
import { useEffect, useRef, useState } from 'react';
import { EVENTS_URL, LIVE_EVENT_TYPES } from '../api.ts';

/** Polling fallback: events can be lost behind proxies that buffer or cut streams. */
export const POLL_INTERVAL_MS = 30_000;
/** When the event stream is closed for good (e.g. a non-SSE reply), try again this much later. */
export const RECONNECT_DELAY_MS = 30_000;
/** One approval often emits several events at once; one refetch covers them all. */
export const REFRESH_COALESCE_MS = 200;

export type LiveStatus = 'connecting' | 'live' | 'offline';

const listeners = new Set<() => void>();
const statusListeners = new Set<(s: LiveStatus) => void>();
let source: EventSource | null = null;
let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
let status: LiveStatus = 'offline';

function setStatus(next: LiveStatus): void {
  if (next === status) return;
  status = next;
  for (const l of statusListeners) l(next);
}

function notify(): void {
  for (const l of listeners) l();
}

function open(): void {
  const es = new EventSource(EVENTS_URL);
  source = es;
  setStatus('connecting');
  es.onopen = () => setStatus('live');
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED) {
      setStatus('connecting'); // the browser reconnects by itself
      return;
    }
    es.close();
    source = null;
    setStatus('offline');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (listeners.size > 0) open();
    }, RECONNECT_DELAY_MS);
  };
  // Every message means "something you can see changed": the lists refetch rather than patch.
  es.onmessage = notify;
  for (const type of LIVE_EVENT_TYPES) es.addEventListener(type, notify);
}

function close(): void {
  source?.close();
  source = null;
  if (reconnectTimer !== undefined) clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  setStatus('offline');
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (source === null && reconnectTimer === undefined) open();
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) close();
  };
}

/**
 * Calls `refresh` whenever a request event arrives, the window regains focus, or every
 * `POLL_INTERVAL_MS`; returns the state of the event stream for a small indicator.
 */
export function useLiveRefresh(refresh: () => void): LiveStatus {
  const refreshRef = useRef(refresh);
  useEffect(() => {
    refreshRef.current = refresh;
  });
  const [current, setCurrent] = useState<LiveStatus>(status);

  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | undefined;
    const schedule = () => {
      if (pending !== undefined) return;
      pending = setTimeout(() => {
        pending = undefined;
        refreshRef.current();
      }, REFRESH_COALESCE_MS);
    };
    const onVisible = () => {
      if (document.visibilityState === 'visible') schedule();
    };
    statusListeners.add(setCurrent);
    setCurrent(status);
    const unsubscribe = subscribe(schedule);
    window.addEventListener('focus', schedule);
    document.addEventListener('visibilitychange', onVisible);
    const poll = setInterval(schedule, POLL_INTERVAL_MS);
    return () => {
      statusListeners.delete(setCurrent);
      unsubscribe();
      window.removeEventListener('focus', schedule);
      document.removeEventListener('visibilitychange', onVisible);
      clearInterval(poll);
      if (pending !== undefined) clearTimeout(pending);
    };
  }, []);

  return current;
}
