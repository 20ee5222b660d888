// The browser end of a brokered session: one Guacamole client over the portal's WebSocket
// tunnel, its display mounted in a container, and — only when the caller allows it — keyboard,
// mouse and clipboard. The vendor's session screen and the approver's read-only watch screen
// both render from the explicit status this hook reports; a session's end comes with its kind
// (ending.ts) so the screen can say why and offer only what is possible.
import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import Guacamole from 'guacamole-common-js';
import type { TunnelTicket } from '../api.ts';
import { AIRLOCK_NOTICE_MSG, AIRLOCK_OBSERVER_MSG, localEnd, serverEnd, type SessionEnd } from './ending.ts';
import { isModifier, KEYSYM, keysymsOf } from './keys.ts';

/**
 * A blocked connect-src or a guacd child that never answers leaves guacamole-common-js waiting
 * with no error (LAB): give up after this. SSH normally draws its first frame in ~2 s.
 */
export const CONNECT_TIMEOUT_MS = 15_000;
/** A window drag fires resize events continuously; the remote desktop resizes once it settles. */
export const RESIZE_DEBOUNCE_MS = 250;
/** Used only when the container has no size yet (hidden); the server clamps whatever we send. */
const FALLBACK_SIZE = { width: 1024, height: 768 };
/** guacd's scale is 96 dpi per CSS pixel at a device pixel ratio of 1. */
const BASE_DPI = 96;

export type SessionStatus = 'connecting' | 'connected' | 'ended' | 'error';

/** `fit`: shrink the remote screen to the window (never enlarge); `actual`: 100 %, scroll to pan. */
export type ScaleMode = 'fit' | 'actual';

export interface GuacamoleOptions {
  /** Keyboard and mouse reach the remote machine. False when watching or for view-only grants. */
  input: boolean;
  /** Show what the remote machine puts on its clipboard. */
  clipboardCopy: boolean;
  /** Allow sending text to the remote clipboard. */
  clipboardPaste: boolean;
  scale?: ScaleMode;
  /**
   * Listen to keyboard and mouse even while `input` is false, and send them once it turns true
   * (an observer who takes the controls of the session they watch): no reconnect needed.
   */
  controllable?: boolean;
  /**
   * Ctrl+Alt+Shift pressed together in the display (Guacamole's own convention): the keys are
   * released and this is called, so keyboard users can leave a display that captures Tab.
   */
  onReleaseKeyboard?: () => void;
}

export interface GuacamoleView {
  status: SessionStatus;
  /** Why the session ended or failed, in the server's own words when it gave any. */
  message: string | null;
  /** The end with its kind and status code; null while connecting or connected. */
  end: SessionEnd | null;
  /** Attach to the focusable element that hosts the remote display. Render no children in it. */
  containerRef: RefObject<HTMLDivElement | null>;
  /** The display has keyboard focus (key presses go to the remote machine). */
  focused: boolean;
  /** The latest text the remote machine put on its clipboard (only with `clipboardCopy`). */
  remoteClipboard: string | null;
  /** What the portal last said about this session while it goes on (e.g. "restarting"); null if nothing. */
  notice: string | null;
  /** Required observer: the gate's state as the portal last said it (`waiting`, `observed`, …) and its words; null if never said. */
  observer: { state: string; message: string } | null;
  /** Sends text to the remote clipboard; false when not connected or not allowed. */
  sendClipboard: (text: string) => boolean;
  /** Presses `keysyms` in order and releases them in reverse (a chord); false when not possible. */
  sendKeys: (keysyms: readonly number[]) => boolean;
  /** Types `text` as key presses (for touch devices' own keyboards); false when not possible. */
  typeText: (text: string) => boolean;
  /** Moves keyboard focus to the remote display. */
  focus: () => void;
  /** Ends the session from this side. */
  disconnect: () => void;
  /** Ends the session with `end`, e.g. when the access window runs out before the server says so. */
  endLocally: (end: SessionEnd) => void;
  /** The live client, for tests and diagnostics; null before it exists. */
  client: Guacamole.Client | null;
}

type Terminal = (status: 'ended' | 'error', end: SessionEnd) => void;

const NO_TICKET_YET: Terminal = () => {};

/** Connects with `ticket` once it is non-null; the ticket is single-use, so it is spent once. */
export function useGuacamole(ticket: TunnelTicket | null, options: GuacamoleOptions): GuacamoleView {
  const containerRef = useRef<HTMLDivElement | null>(null);
  const optionsRef = useRef(options);
  useEffect(() => {
    optionsRef.current = options;
  });
  const [state, setState] = useState<{ status: SessionStatus; end: SessionEnd | null }>({ status: 'connecting', end: null });
  // A new ticket is a new connection: its state starts afresh on this very render, so the end of
  // the previous one never shows beside the new one (React's "reset state on a prop change").
  const [stateTicket, setStateTicket] = useState(ticket);
  const [notice, setNotice] = useState<string | null>(null);
  const [observer, setObserver] = useState<{ state: string; message: string } | null>(null);
  if (stateTicket !== ticket) {
    setStateTicket(ticket);
    setState({ status: 'connecting', end: null });
    setNotice(null);
    setObserver(null);
  }
  const [focused, setFocused] = useState(false);
  const [remoteClipboard, setRemoteClipboard] = useState<string | null>(null);
  const [client, setClient] = useState<Guacamole.Client | null>(null);
  const terminalRef = useRef<Terminal>(NO_TICKET_YET);
  const clientRef = useRef<Guacamole.Client | null>(null);
  const connectedRef = useRef(false);
  const fitRef = useRef<() => void>(() => {});

  useEffect(() => {
    const container = containerRef.current;
    if (ticket === null || container === null) return;
    const opts = optionsRef.current;
    let teardown: (() => void) | null = null;

    function start(host: HTMLDivElement, t: TunnelTicket): () => void {
      const tunnel = new Guacamole.WebSocketTunnel(t.tunnelPath);
      const guac = new Guacamole.Client(tunnel);
      const display = guac.getDisplay();
      const displayEl = display.getElement();
      host.appendChild(displayEl);
      clientRef.current = guac;
      setClient(guac);

      let connected = false;
      let done = false;
      let focusedNow = false;
      let lastSize = '';
      let resizeTimer: ReturnType<typeof setTimeout> | undefined;

      const terminal: Terminal = (status, end) => {
        if (done) return;
        done = true;
        connectedRef.current = false;
        clearTimeout(connectTimer);
        setState({ status, end });
        guac.disconnect(); // idempotent; stops the keep-alive and closes the tunnel
      };
      terminalRef.current = terminal;

      const connectTimer = setTimeout(
        () => terminal('error', localEnd('timeout', `Could not connect to the machine within ${CONNECT_TIMEOUT_MS / 1000} seconds.`)),
        CONNECT_TIMEOUT_MS,
      );

      // Server-side ends arrive as a Guacamole `error` instruction: its message says why, its code what kind.
      guac.onerror = (status) => terminal(connected ? 'ended' : 'error', serverEnd(status.code, status.message));
      guac.onmsg = (code, args) => {
        if (code === AIRLOCK_NOTICE_MSG && !done) setNotice(args[0] ?? null);
        if (code === AIRLOCK_OBSERVER_MSG && !done) setObserver({ message: args[0] ?? '', state: args[1] ?? '' });
        return true;
      };
      guac.onstatechange = (s) => {
        if (s === Guacamole.Client.State.CONNECTED && !done) {
          connected = true;
          connectedRef.current = true;
          clearTimeout(connectTimer);
          setState({ status: 'connected', end: null });
          fit();
        } else if (s === Guacamole.Client.State.DISCONNECTED) {
          terminal('error', connected ? localEnd('lost', 'Connection lost.') : localEnd('refused', 'The connection was closed before the session started.'));
        }
      };
      // 1.5.0's client does not watch its tunnel: a dropped socket or a refused upgrade only shows here.
      tunnel.onerror = (status) => terminal('error', tunnelFailure(status, connected));
      tunnel.onstatechange = (s) => {
        if (s === Guacamole.Tunnel.State.CLOSED) terminal('error', connected ? localEnd('lost', 'Connection lost.') : localEnd('refused', refusedMessage()));
      };

      // Fit: the remote screen shrinks to the container (never enlarged, text stays sharp).
      // Actual: 100 %, the container scrolls (for VNC screens larger than the window).
      const fit = () => {
        const w = display.getWidth();
        const h = display.getHeight();
        if (w <= 0 || h <= 0) return;
        const actual = (optionsRef.current.scale ?? 'fit') === 'actual';
        display.scale(actual ? 1 : Math.min(host.clientWidth / w, host.clientHeight / h, 1));
      };
      display.onresize = fit;
      fitRef.current = fit;

      const sendSize = () => {
        const { width, height } = sizeOf(host);
        const key = `${width}x${height}`;
        if (!connected || done || key === lastSize) return;
        lastSize = key;
        guac.sendSize(width, height);
      };
      const observer = new ResizeObserver(() => {
        fit();
        // Only the session's owner resizes it; a watcher just rescales its view.
        if (!opts.input) return;
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(sendSize, RESIZE_DEBOUNCE_MS);
      });
      observer.observe(host);

      const onFocus = () => {
        focusedNow = true;
        setFocused(true);
      };
      let keyboard: Guacamole.Keyboard | null = null;
      const onBlur = () => {
        keyboard?.reset(); // release held keys while they can still be sent (focusedNow is still true)
        focusedNow = false;
        setFocused(false);
      };
      const onPointerDown = () => host.focus({ preventScroll: true });
      host.addEventListener('focus', onFocus);
      host.addEventListener('blur', onBlur);
      host.addEventListener('mousedown', onPointerDown);
      host.addEventListener('touchstart', onPointerDown, { passive: true });

      let mouse: Guacamole.Mouse | null = null;
      let touch: Guacamole.Mouse.Touchscreen | null = null;
      // For a controllable view the listeners are there from the start; what they send follows `input`.
      const sending = () => optionsRef.current.input;
      const onMouse = (e: Guacamole.Mouse.Event) => {
        if (connected && !done && sending()) guac.sendMouseState(e.state, true);
      };
      if (opts.input || opts.controllable === true) {
        // Listening on the focusable container (not the document) means keys reach the remote
        // machine only while the display has focus, and the listeners go away with the element.
        keyboard = new Guacamole.Keyboard(host);
        const held = new Set<number>();
        keyboard.onkeydown = (keysym) => {
          if (!connected || done || !focusedNow || !sending()) return true; // not ours: the browser may act on it
          held.add(keysym);
          if (isModifier(keysym) && releaseChordHeld(held)) {
            held.clear();
            keyboard?.reset();
            optionsRef.current.onReleaseKeyboard?.();
            return false;
          }
          guac.sendKeyEvent(1, keysym);
          // Sent to the machine, so the browser must not act on it too: Space and the arrows
          // would scroll the page, Tab would move the focus, Backspace could navigate.
          return false;
        };
        keyboard.onkeyup = (keysym) => {
          held.delete(keysym);
          if (connected && !done && focusedNow && sending()) guac.sendKeyEvent(0, keysym);
        };
        mouse = new Guacamole.Mouse(displayEl);
        mouse.onEach(['mousedown', 'mouseup', 'mousemove'], onMouse);
        if (navigator.maxTouchPoints > 0) {
          touch = new Guacamole.Mouse.Touchscreen(displayEl);
          touch.onEach(['mousedown', 'mouseup', 'mousemove'], onMouse);
        }
      }

      if (opts.clipboardCopy) {
        guac.onclipboard = (stream, mimetype) => {
          if (!mimetype.startsWith('text/')) {
            stream.sendAck('Only text is supported.', UNSUPPORTED);
            return;
          }
          const reader = new Guacamole.StringReader(stream);
          let text = '';
          reader.ontext = (chunk) => {
            text += chunk;
          };
          reader.onend = () => {
            if (!done) setRemoteClipboard(text);
          };
        };
      }

      const { width, height } = sizeOf(host);
      lastSize = `${width}x${height}`;
      const dpi = Math.round(BASE_DPI * (window.devicePixelRatio || 1));
      try {
        guac.connect(`ticket=${encodeURIComponent(t.ticket)}&width=${width}&height=${height}&dpi=${dpi}`);
      } catch {
        terminal('error', localEnd('refused', 'Could not open the connection.'));
      }

      return () => {
        done = true;
        connectedRef.current = false;
        clearTimeout(connectTimer);
        clearTimeout(resizeTimer);
        observer.disconnect();
        host.removeEventListener('focus', onFocus);
        host.removeEventListener('blur', onBlur);
        host.removeEventListener('mousedown', onPointerDown);
        host.removeEventListener('touchstart', onPointerDown);
        if (keyboard !== null) {
          keyboard.onkeydown = null;
          keyboard.onkeyup = null;
        }
        mouse?.offEach(['mousedown', 'mouseup', 'mousemove'], onMouse);
        touch?.offEach(['mousedown', 'mouseup', 'mousemove'], onMouse);
        guac.onstatechange = null;
        guac.onerror = null;
        guac.onmsg = null;
        guac.onclipboard = null;
        tunnel.onerror = null;
        tunnel.onstatechange = null;
        display.onresize = null;
        guac.disconnect();
        displayEl.remove();
        terminalRef.current = NO_TICKET_YET;
        clientRef.current = null;
        fitRef.current = () => {};
      };
    }

    // Deferred by a tick: React's StrictMode mounts, unmounts and remounts at once in
    // development, and a single-use ticket must be spent only by the mount that stays.
    const timer = setTimeout(() => {
      teardown = start(container, ticket);
    }, 0);
    return () => {
      clearTimeout(timer);
      teardown?.();
    };
  }, [ticket]);

  // A new scale choice applies at once.
  useEffect(() => {
    fitRef.current();
  }, [options.scale]);

  const sendClipboard = useCallback((text: string): boolean => {
    const guac = clientRef.current;
    if (guac === null || !connectedRef.current || !optionsRef.current.clipboardPaste) return false;
    const writer = new Guacamole.StringWriter(guac.createClipboardStream('text/plain'));
    writer.sendText(text);
    writer.sendEnd();
    return true;
  }, []);

  const sendKeys = useCallback((keysyms: readonly number[]): boolean => {
    const guac = clientRef.current;
    if (guac === null || !connectedRef.current || !optionsRef.current.input || keysyms.length === 0) return false;
    for (const k of keysyms) guac.sendKeyEvent(1, k);
    for (const k of [...keysyms].reverse()) guac.sendKeyEvent(0, k);
    return true;
  }, []);

  const typeText = useCallback((text: string): boolean => {
    const guac = clientRef.current;
    if (guac === null || !connectedRef.current || !optionsRef.current.input) return false;
    for (const k of keysymsOf(text)) {
      guac.sendKeyEvent(1, k);
      guac.sendKeyEvent(0, k);
    }
    return true;
  }, []);

  const focus = useCallback(() => containerRef.current?.focus({ preventScroll: true }), []);
  const disconnect = useCallback(() => terminalRef.current('ended', localEnd('disconnected', 'You disconnected from the session.')), []);
  const endLocally = useCallback((end: SessionEnd) => terminalRef.current('ended', end), []);

  return {
    status: state.status,
    end: state.end,
    message: state.end?.message ?? null,
    containerRef,
    focused,
    remoteClipboard,
    notice,
    observer,
    sendClipboard,
    sendKeys,
    typeText,
    focus,
    disconnect,
    endLocally,
    client,
  };
}

/** Guacamole status code for "unsupported" (0x0100), used to refuse non-text clipboard data. */
const UNSUPPORTED = 0x0100;

/** Ctrl, Alt and Shift held at once (either side of each). */
function releaseChordHeld(held: ReadonlySet<number>): boolean {
  const any = (...k: number[]) => k.some((x) => held.has(x));
  return any(KEYSYM.CTRL_L, KEYSYM.CTRL_R) && any(KEYSYM.ALT_L, KEYSYM.ALT_R) && any(KEYSYM.SHIFT_L, KEYSYM.SHIFT_R);
}

/** Whole CSS pixels of the container, the size the remote screen is asked to take. */
function sizeOf(el: HTMLElement): { width: number; height: number } {
  const width = Math.floor(el.clientWidth);
  const height = Math.floor(el.clientHeight);
  return width > 0 && height > 0 ? { width, height } : FALLBACK_SIZE;
}

function refusedMessage(): string {
  return 'The connection was refused. Your access may no longer be valid, or the ticket expired.';
}

/**
 * A tunnel error's status. The server explains ends with an `error` instruction (handled by the
 * client); its codes here come from the WebSocket close, so only a text reason is passed on.
 */
function tunnelFailure(status: Guacamole.Status, connected: boolean): SessionEnd {
  const reason = status.message;
  const text = Number.isNaN(status.code) && reason !== undefined && reason !== '' ? reason : null;
  if (connected) return localEnd('lost', text ?? 'Connection lost.');
  return localEnd('refused', text ?? refusedMessage());
}
