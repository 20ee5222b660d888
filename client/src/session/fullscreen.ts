// Full screen for one element (the session workspace, the player), with the browser's own state
// as the source of truth: Esc or F11 leave full screen without telling us.
import { useCallback, useEffect, useState, type RefObject } from 'react';

/** Chromium's Keyboard Lock: in full screen, keys like Esc, Alt+Tab and the Windows key reach the page. */
interface KeyboardLock {
  lock?: (codes?: string[]) => Promise<void>;
  unlock?: () => void;
}

export interface Fullscreen {
  supported: boolean;
  active: boolean;
  toggle: () => void;
}

export function useFullscreen(ref: RefObject<HTMLElement | null>, opts: { lockKeyboard?: boolean } = {}): Fullscreen {
  const [active, setActive] = useState(false);
  const lockKeyboard = opts.lockKeyboard ?? false;

  useEffect(() => {
    const onChange = () => {
      const on = document.fullscreenElement !== null && document.fullscreenElement === ref.current;
      setActive(on);
      const kb = (navigator as Navigator & { keyboard?: KeyboardLock }).keyboard;
      // Held keys then go to the remote machine; holding Esc still leaves full screen.
      if (on && lockKeyboard) kb?.lock?.().catch(() => {});
      if (!on) kb?.unlock?.();
    };
    document.addEventListener('fullscreenchange', onChange);
    return () => document.removeEventListener('fullscreenchange', onChange);
  }, [ref, lockKeyboard]);

  const toggle = useCallback(() => {
    if (document.fullscreenElement !== null) {
      void document.exitFullscreen().catch(() => {});
      return;
    }
    void ref.current?.requestFullscreen().catch(() => {});
  }, [ref]);

  return { supported: document.fullscreenEnabled, active, toggle };
}
