// The browser end of a brokered session: one Guacamole client over the portal's WebSocket
// tunnel, its display mounted in a container, and — only when the caller allows it — keyboard,
// mouse and clipboard. The vendor's session screen and the approver's read-only watch screen
// both render from the explicit status this hook reports.
import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import Guacamole from 'guacamole-common-js';
import type { TunnelTicket } from '../api.ts';

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

export interface GuacamoleOptions {
  /** Keyboard and mouse reach the remote machine. False when watching or for view-only grants. */
  input: boolean;
  /** Show what the remote machine puts on its clipboard. */
  clipboardCopy: boolean;
  /** Allow sending text to the remote clipboard. */
  clipboardPaste: boolean;
}

export interface GuacamoleView {
  status: SessionStatus;
  /** Why the session ended or failed, in the server's own words when it gave any. */
  message: string | null;
  /** Attach to the focusable element that hosts the remote display. Render no children in it. */
  containerRef: RefObject<HTMLDivElement | null>;
  /** The display has keyboard focus (key presses go to the remote machine). */
  focused: boolean;
  /** The latest text the remote machine put on its clipboard (only with `clipboardCopy`). */
  remoteClipboard: string | null;
  /** Sends text to the remote clipboard; false when not connected or not allowed. */
  sendClipboard: (text: string) => boolean;
  /** Ends the session from this side. */
  disconnect: () => void;
  /** Ends the session with `message`, e.g. when the access window runs out before the server says so. */
  endLocally: (message: string) => void;
  /** The live client, for tests and diagnostics; null before it exists. */
  client: Guacamole.Client | null;
}

type Terminal = (status: 'ended' | 'error', message: string) => void;

const NO_TICKET_YET: Terminal = () => {};

/** Connects with `ticket` once it is non-null; the ticket is single-use, so it is spent once. */
export function useGuacamole(ticket: TunnelTicket | null, options: GuacamoleOptions): GuacamoleView {
  const containerRef = useRef<HTMLDivElement | null>(null);
  const optionsRef = useRef(options);
  useEffect(() => {
    optionsRef.current = options;
  });
  const [state, setState] = useState<{ status: SessionStatus; message: string | null }>({ status: 'connecting', message: null });
  const [focused, setFocused] = useState(false);
  const [remoteClipboard, setRemoteClipboard] = useState<string | null>(null);
  const [client, setClient] = useState<Guacamole.Client | null>(null);
  const terminalRef = useRef<Terminal>(NO_TICKET_YET);
  const clientRef = useRef<Guacamole.Client | null>(null);
  const connectedRef = useRef(false);

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

      const terminal: Terminal = (status, message) => {
        if (done) return;
        done = true;
        connectedRef.current = false;
        clearTimeout(connectTimer);
        setState({ status, message });
        guac.disconnect(); // idempotent; stops the keep-alive and closes the tunnel
      };
      terminalRef.current = terminal;

      const connectTimer = setTimeout(
        () => terminal('error', `Could not connect to the machine within ${CONNECT_TIMEOUT_MS / 1000} seconds.`),
        CONNECT_TIMEOUT_MS,
      );

      // Server-side ends arrive as a Guacamole `error` instruction whose message says why.
      guac.onerror = (status) => terminal(connected ? 'ended' : 'error', status.message ?? 'The session ended.');
      guac.onstatechange = (s) => {
        if (s === Guacamole.Client.State.CONNECTED && !done) {
          connected = true;
          connectedRef.current = true;
          clearTimeout(connectTimer);
          setState({ status: 'connected', message: null });
          fit();
        } else if (s === Guacamole.Client.State.DISCONNECTED) {
          terminal('error', connected ? 'Connection lost.' : 'The connection was closed before the session started.');
        }
      };
      // 1.5.0's client does not watch its tunnel: a dropped socket or a refused upgrade only shows here.
      tunnel.onerror = (status) => terminal('error', tunnelFailure(status, connected));
      tunnel.onstatechange = (s) => {
        if (s === Guacamole.Tunnel.State.CLOSED) terminal('error', connected ? 'Connection lost.' : refusedMessage());
      };

      // The remote screen keeps its own size; scale it down (never up) to fit the container.
      const fit = () => {
        const w = display.getWidth();
        const h = display.getHeight();
        if (w <= 0 || h <= 0) return;
        display.scale(Math.min(host.clientWidth / w, host.clientHeight / h, 1));
      };
      display.onresize = fit;

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
      const onPointerDown = () => host.focus();
      host.addEventListener('focus', onFocus);
      host.addEventListener('blur', onBlur);
      host.addEventListener('mousedown', onPointerDown);

      let mouse: Guacamole.Mouse | null = null;
      const onMouse = (e: Guacamole.Mouse.Event) => {
        if (connected && !done) guac.sendMouseState(e.state, true);
      };
      if (opts.input) {
        // Listening on the focusable container (not the document) means keys reach the remote
        // machine only while the display has focus, and the listeners go away with the element.
        keyboard = new Guacamole.Keyboard(host);
        keyboard.onkeydown = (keysym) => {
          if (!connected || done || !focusedNow) return false;
          guac.sendKeyEvent(1, keysym);
          return true;
        };
        keyboard.onkeyup = (keysym) => {
          if (connected && !done && focusedNow) guac.sendKeyEvent(0, keysym);
        };
        mouse = new Guacamole.Mouse(displayEl);
        mouse.onEach(['mousedown', 'mouseup', 'mousemove'], onMouse);
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
        terminal('error', 'Could not open the connection.');
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
        if (keyboard !== null) {
          keyboard.onkeydown = null;
          keyboard.onkeyup = null;
        }
        mouse?.offEach(['mousedown', 'mouseup', 'mousemove'], onMouse);
        guac.onstatechange = null;
        guac.onerror = null;
        guac.onclipboard = null;
        tunnel.onerror = null;
        tunnel.onstatechange = null;
        display.onresize = null;
        guac.disconnect();
        displayEl.remove();
        terminalRef.current = NO_TICKET_YET;
        clientRef.current = null;
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

  const sendClipboard = useCallback((text: string): boolean => {
    const guac = clientRef.current;
    if (guac === null || !connectedRef.current || !optionsRef.current.clipboardPaste) return false;
    const writer = new Guacamole.StringWriter(guac.createClipboardStream('text/plain'));
    writer.sendText(text);
    writer.sendEnd();
    return true;
  }, []);

  const disconnect = useCallback(() => terminalRef.current('ended', 'You disconnected from the session.'), []);
  const endLocally = useCallback((message: string) => terminalRef.current('ended', message), []);

  return { ...state, containerRef, focused, remoteClipboard, sendClipboard, disconnect, endLocally, client };
}

/** Guacamole status code for "unsupported" (0x0100), used to refuse non-text clipboard data. */
const UNSUPPORTED = 0x0100;

/** Whole CSS pixels of the container, the size the remote screen is asked to take. */
function sizeOf(el: HTMLElement): { width: number; height: number } {
  const width = Math.floor(el.clientWidth);
  const height = Math.floor(el.clientHeight);
  return width > 0 && height > 0 ? { width, height } : FALLBACK_SIZE;
}

function refusedMessage(): string {
  return 'The connection was refused. Your access may no longer be valid, or the ticket expired; go back and open the session again.';
}

/**
 * A tunnel error's status. The server explains ends with an `error` instruction (handled by the
 * client); here a text close reason is passed on, anything else becomes a plain explanation.
 */
function tunnelFailure(status: Guacamole.Status, connected: boolean): string {
  const reason = status.message;
  if (Number.isNaN(status.code) && reason !== undefined && reason !== '') return reason;
  return connected ? 'Connection lost.' : refusedMessage();
}
