// The current time as React state, re-rendering only when something on screen can change.
import { useEffect, useState } from 'react';

/** Browsers overflow timers beyond 2^31-1 ms; far instants are re-checked at this pace instead. */
const MAX_TIMER_MS = 60 * 60_000;
/** Fire just after an instant, so `now >= instant` holds on the render it causes. */
const TIMER_SLACK_MS = 20;

/** Current time (ms), updated every `intervalMs`. */
export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

/** Current time (ms), updated as each of `instants` (ms since the epoch) passes. */
export function useNowAt(instants: readonly number[]): number {
  const [now, setNow] = useState(() => Date.now());
  let next = Infinity;
  for (const t of instants) if (t > now && t < next) next = t;
  useEffect(() => {
    if (!Number.isFinite(next)) return;
    const t = setTimeout(() => setNow(Date.now()), Math.min(Math.max(next - Date.now(), 0) + TIMER_SLACK_MS, MAX_TIMER_MS));
    return () => clearTimeout(t);
  }, [next, now]);
  return now;
}
