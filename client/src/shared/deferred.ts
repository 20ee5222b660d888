// Effects that spend something single-use (a session, a watch ticket): they start a tick after
// mount, so StrictMode's development double mount (mount, unmount, mount) spends one, not two.
import { useEffect, type DependencyList } from 'react';

/** Wraps a callback so that it does nothing once the effect that made it is over (late answers are dropped). */
export type WhileLive = <A extends unknown[]>(callback: (...args: A) => void) => (...args: A) => void;

/** Runs `start` a tick after mount and after each change of `deps`; what it wraps in `live` stops once the screen unmounted or `deps` changed. */
export function useDeferredStart(start: (live: WhileLive) => void, deps: DependencyList): void {
  useEffect(() => {
    let cancelled = false;
    const live: WhileLive =
      (callback) =>
      (...args) => {
        if (!cancelled) callback(...args);
      };
    const timer = setTimeout(() => start(live), 0);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
    // `start` is a new closure on every render; what it depends on is `deps`, as for useEffect.
  }, deps);
}
