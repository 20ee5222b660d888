// The vendor's remote session for one grant, as a workspace: the machine's screen fills the
// window (the page itself never scrolls), a thin bar carries the connection state, the
// countdown, warnings and the tools, and when the session ends a dialog over the screen says why
// and offers only what is still possible. A transient loss (a dropped connection, a restarting
// portal) reconnects by itself, a few times with growing pauses, while the window lasts.
import { useCallback, useEffect, useRef, useState } from 'react';
import type Guacamole from 'guacamole-common-js';
import { ApiError, errorMessage, getRequest, listSessions, openSession, type AccessRequest, type LiveSession, type OpenedSession } from '../api.ts';
import { useDeferredStart } from '../shared/deferred.ts';
import { useLiveRefresh } from '../shared/live.ts';
import { policySummary } from '../shared/components.tsx';
import { useNow } from '../shared/clock.ts';
import { href } from '../shared/route.ts';
import { formatCountdown, formatDateTime } from '../shared/time.ts';
import { END_TITLES, localEnd, nextStep, type SessionEnd } from './ending.ts';
import { SessionDisplay } from './SessionView.tsx';
import { useFullscreen } from './fullscreen.ts';
import { ClipboardPanel, KeyboardPanel, KeysPanel } from './Toolbar.tsx';
import { FilesPanel, useFileUpload } from './FilesPanel.tsx';
import { useGuacamole, type ScaleMode } from './useGuacamole.ts';

/** Warn this long before the window ends: time to finish a step and save. */
export const FIRST_WARNING_MS = 10 * 60_000;
/** Last warning: time to save, not to start anything. */
export const FINAL_WARNING_MS = 2 * 60_000;
/** The countdown shows seconds, so it ticks every second. */
const COUNTDOWN_TICK_MS = 1000;
export const WINDOW_ENDED_MESSAGE = 'The access window has ended.';
/**
 * Pauses before each automatic reconnect after a transient loss: about half a minute in all,
 * which covers a Wi-Fi hand-over or a portal restart behind a load balancer; after that the
 * vendor decides. Each try opens a new session (a fresh ticket; the server checks the grant).
 */
export const RECONNECT_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000] as const;
/** A connection that has held this long resets the tries (one that drops at once does not). */
const STABLE_CONNECTION_MS = 10_000;

declare global {
  interface Window {
    /** The open session, for end-to-end tests: the page could reach it through the DOM anyway. */
    __airlockSession?: { client: Guacamole.Client; sessionId: string };
  }
}

/** What to tell the vendor when POST /api/sessions refuses; nothing was opened in any case. */
function openFailure(err: unknown): SessionEnd {
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'no_grant':
        return localEnd('no_grant', 'You have no access to this machine right now.');
      case 'recording_unavailable':
        return localEnd('recording_failed', 'Sessions are unavailable: recording storage is not ready. Nothing was opened.');
      case 'guacd_unavailable':
        return localEnd('unreachable', 'The remote-access gateway is unavailable. Nothing was opened; try again in a few minutes.');
      case 'unknown_request':
      case 'invalid_input': // only a hand-edited link gets here: request ids are UUIDs
        return localEnd('no_grant', 'This request does not exist, or it is not yours.');
    }
  }
  // Airlock itself unreachable (a network error): as transient as a dropped tunnel.
  if (err instanceof TypeError) return localEnd('lost', errorMessage(err));
  return localEnd('error', errorMessage(err, 'The session could not be opened.'));
}

type ToolPanel = 'keys' | 'keyboard' | 'clipboard' | 'files';

const TOOLS: readonly { id: ToolPanel; label: string; title: string }[] = [
  { id: 'keys', label: 'Keys', title: 'Ctrl+Alt+Del and other keys your computer keeps for itself' },
  { id: 'keyboard', label: 'Keyboard', title: 'On-screen keys for touch devices: Esc, Tab, Ctrl, arrows, F-keys' },
  { id: 'clipboard', label: 'Clipboard', title: 'Copy text from and to the machine' },
  { id: 'files', label: 'Files', title: 'Send files into the machine through the file airlock (scanned first), and get files from it' },
];

type Opening = { status: 'opening' } | { status: 'open'; session: OpenedSession } | { status: 'failed'; end: SessionEnd };

/** A request whose state means its grant is gone for good. */
const GRANT_GONE = new Set(['revoked', 'cancelled', 'denied', 'expired', 'ended']);

/**
 * The end as shown: the server's message, checked against the request's state (a revoke names
 * who did it and why; a grant that is over reads as such whatever the wording).
 */
function refineEnd(end: SessionEnd, request: AccessRequest | null): SessionEnd {
  if (request === null) return end;
  if (request.state === 'revoked' || request.state === 'cancelled') return { ...end, kind: 'revoked' };
  if (end.kind !== 'terminated' && GRANT_GONE.has(request.state)) return { ...end, kind: 'window_over' };
  return end;
}

export function SessionScreen({ requestId }: { requestId: string }) {
  const [opening, setOpening] = useState<Opening>({ status: 'opening' });
  /** Each attempt (the first, and every reconnect) opens a fresh session with a fresh ticket. */
  const [attempt, setAttempt] = useState(0);
  const [scale, setScale] = useState<ScaleMode>('fit');
  const [panel, setPanel] = useState<ToolPanel | null>(null);
  const barRef = useRef<HTMLDivElement | null>(null);
  const workspaceRef = useRef<HTMLDivElement | null>(null);
  const fullscreen = useFullscreen(workspaceRef, { lockKeyboard: true });
  usePageLocked();

  // One session per attempt (see useDeferredStart).
  useDeferredStart(
    (live) => {
      openSession(requestId).then(
        live((session) => setOpening({ status: 'open', session })),
        live((err: unknown) => setOpening({ status: 'failed', end: openFailure(err) })),
      );
    },
    [requestId, attempt],
  );

  const session = opening.status === 'open' ? opening.session : null;
  // The last opened session's facts stay on screen while a reconnect opens the next one.
  const [known, setKnown] = useState<OpenedSession | null>(null);
  useEffect(() => {
    if (session !== null) setKnown(session);
  }, [session]);
  const shown = session ?? known;
  const policy = shown?.policy;

  const releaseKeyboard = useCallback(() => barRef.current?.querySelector<HTMLElement>('button, a')?.focus(), []);
  const view = useGuacamole(session, {
    input: policy !== undefined && !policy.readOnly,
    clipboardCopy: policy?.clipboardCopy ?? false,
    clipboardPaste: policy !== undefined && policy.clipboardPaste && !policy.readOnly,
    scale,
    onReleaseKeyboard: releaseKeyboard,
  });

  useEffect(() => {
    if (view.client === null || session === null) return;
    window.__airlockSession = { client: view.client, sessionId: session.id };
    return () => {
      delete window.__airlockSession;
    };
  }, [view.client, session]);

  const lastEnd = opening.status === 'failed' ? opening.end : view.end;
  const windowOverNow = shown !== null && new Date(shown.endsAt).getTime() <= Date.now();
  const retry = useAutoReconnect(lastEnd, view.status === 'connected', windowOverNow, () => {
    setOpening({ status: 'opening' });
    setAttempt((a) => a + 1);
  });
  // While an automatic reconnect is pending the session is not over: no dialog, the countdown runs.
  const rawEnd = retry.pending === null ? lastEnd : null;
  const over = rawEnd !== null;
  const request = useRequestAfterEnd(requestId, rawEnd);
  const plantZone = usePlantZone(requestId);
  const end = rawEnd === null ? null : refineEnd(rawEnd, request);

  const now = useNow(COUNTDOWN_TICK_MS);
  const endsAt = shown === null ? null : new Date(shown.endsAt).getTime();
  // The countdown stops when the session ends: it shows what was left then.
  const [frozenAt, setFrozenAt] = useState<number | null>(null);
  useEffect(() => {
    setFrozenAt(over ? Date.now() : null);
  }, [over]);
  const remaining = endsAt === null ? null : endsAt - (frozenAt ?? now);
  const windowOver = endsAt !== null && endsAt - now <= 0;

  // The server ends the session too; this covers a message that is late or lost.
  const { endLocally } = view;
  useEffect(() => {
    if (windowOver) endLocally(localEnd('window_over', WINDOW_ENDED_MESSAGE));
  }, [windowOver, endLocally]);

  const warning = remaining === null || over || remaining > FIRST_WARNING_MS ? null : remaining <= FINAL_WARNING_MS ? 'final' : 'first';
  const status = retry.pending !== null || opening.status === 'opening' ? 'connecting' : opening.status === 'failed' ? 'error' : view.status;
  const machineName = shown?.machine.name ?? null;

  const { focus } = view;
  const closePanel = useCallback(() => {
    setPanel(null);
    focus(); // back to typing into the machine
  }, [focus]);

  // Files dropped on the screen go through the file airlock (never the Guacamole tunnel).
  const upload = useFileUpload(session?.id ?? null, () => undefined);
  const filesAllowed = shown !== null && shown.policy.fileTransfer && !shown.policy.readOnly;

  const { restart } = retry;
  const reconnect = useCallback(() => {
    restart();
    setOpening({ status: 'opening' });
    setAttempt((a) => a + 1);
  }, [restart]);

  return (
    <div className="workspace" ref={workspaceRef} data-testid="session-screen" data-status={status}>
      <div className="ws-bar" ref={barRef} role="toolbar" aria-label="Session">
        <a className="ws-leave" href={href('my')} data-testid="session-leave" title="Back to my requests (ends the session)">
          ←<span className="sr-only"> Back to my requests</span>
        </a>
        <h1 className="ws-title">
          {machineName ?? 'Remote session'}
          {shown !== null && <span className="protocol"> {shown.machine.protocol.toUpperCase()}</span>}
        </h1>
        <StatusChip status={status} machineName={machineName} reconnecting={retry.pending !== null || retry.used > 0} />
        {!over && <WatchersChip sessionId={session?.id ?? null} />}
        {policy?.readOnly === true && (
          <span className="badge view-only" data-testid="session-view-only">
            View only
          </span>
        )}
        {remaining !== null && (
          <span
            className={`countdown${warning === null ? '' : ` warn-${warning}`}`}
            data-testid="session-countdown"
            data-stopped={over ? 'true' : 'false'}
            title={`Access ends at ${formatDateTime(shown?.endsAt ?? '', false, plantZone)}`}
          >
            {over ? `${formatCountdown(Math.max(0, remaining))} left when it ended` : `${formatCountdown(remaining)} left`}
          </span>
        )}
        <span className="ws-spacer" />
        {shown !== null && !over && (
          <span className="ws-tools">
            {TOOLS.filter((t) => (t.id === 'files' ? filesAllowed : t.id === 'clipboard' || !shown.policy.readOnly)).map((t) => (
              <button
                key={t.id}
                type="button"
                className="ws-tool"
                aria-pressed={panel === t.id}
                title={t.title}
                onClick={() => setPanel(panel === t.id ? null : t.id)}
                data-testid={`session-tool-${t.id}`}
              >
                {t.label}
              </button>
            ))}
            <label className="ws-scale">
              <span className="sr-only">Scale</span>
              <select value={scale} onChange={(e) => setScale(e.target.value as ScaleMode)} data-testid="session-scale" title="Scale of the remote screen">
                <option value="fit">Fit</option>
                <option value="actual">100 %</option>
              </select>
            </label>
          </span>
        )}
        {fullscreen.supported && (
          <button type="button" className="ws-tool" aria-pressed={fullscreen.active} onClick={fullscreen.toggle} data-testid="session-fullscreen">
            {fullscreen.active ? 'Exit full screen' : 'Full screen'}
          </button>
        )}
        {!over && (
          <button
            type="button"
            className="danger ws-tool"
            onClick={retry.pending !== null ? retry.stop : view.disconnect}
            disabled={session === null && retry.pending === null}
            data-testid="session-disconnect"
          >
            Disconnect
          </button>
        )}
      </div>

      {view.notice !== null && !over && retry.pending === null && (
        <p role="status" className="ws-warning first" data-testid="session-notice">
          {view.notice}
        </p>
      )}
      {view.observer !== null && view.observer.state !== 'off' && !over && <ObserverBanner observer={view.observer} />}
      {warning !== null && shown !== null && (
        <p role="alert" className={`ws-warning ${warning}`} data-testid="session-warning" data-level={warning}>
          {warning === 'final' ? 'Less than 2 minutes left: save your work now.' : 'Less than 10 minutes left in this access window.'} The
          session ends at {formatDateTime(shown.endsAt, false, plantZone)}.{' '}
          {/* A new tab: leaving this page would end the session. */}
          <a href={`/${href('request', { extends: requestId })}`} target="_blank" rel="noopener" data-testid="session-extend">
            Request an extension
          </a>
        </p>
      )}

      <div
        className="ws-stage"
        onDragOver={(e) => {
          if (filesAllowed && e.dataTransfer.types.includes('Files')) e.preventDefault();
        }}
        onDrop={(e) => {
          if (!filesAllowed || e.dataTransfer.files.length === 0) return;
          e.preventDefault();
          setPanel('files');
          upload.send(e.dataTransfer.files);
        }}
      >
        {shown !== null && (
          <SessionDisplay
            view={view}
            label={`Screen of ${shown.machine.name}. ${inputHint(shown, over)}`}
            readOnly={shown.policy.readOnly}
            scale={scale}
          />
        )}
        {shown !== null && !over && !view.focused && status === 'connected' && (
          <p className="ws-hint" data-testid="session-focus-hint">
            {inputHint(shown, false)}
          </p>
        )}
        {shown !== null && !over && panel === 'clipboard' && <ClipboardPanel session={shown} view={view} onClose={closePanel} />}
        {shown !== null && !over && panel === 'keys' && <KeysPanel session={shown} view={view} onClose={closePanel} />}
        {shown !== null && !over && panel === 'keyboard' && <KeyboardPanel view={view} onClose={closePanel} />}
        {session !== null && !over && panel === 'files' && <FilesPanel sessionId={session.id} onClose={closePanel} upload={upload} />}
        {retry.pending !== null && <ReconnectNotice pending={retry.pending} total={RECONNECT_DELAYS_MS.length} onNow={retry.now} onStop={retry.stop} />}
        {end !== null && (
          <EndDialog end={end} request={request} machineName={machineName} requestId={requestId} onReconnect={reconnect} windowOver={windowOver} />
        )}
      </div>
      {shown !== null && (
        <p className="sr-only" data-testid="session-policy">
          {policySummary(shown.policy)} · this session is recorded.
        </p>
      )}
    </div>
  );
}

/**
 * Who is watching this session, live: the server announces every change on the event stream
 * (session.watchers_changed), so the chip follows within a second; the stream's slow poll
 * covers a lost event.
 */
function WatchersChip({ sessionId }: { sessionId: string | null }) {
  const [watchers, setWatchers] = useState<LiveSession['watchers']>([]);
  const refresh = useCallback(() => {
    if (sessionId === null) return;
    listSessions().then(
      (sessions) => setWatchers(sessions.find((s) => s.id === sessionId)?.watchers ?? []),
      () => {}, // a failed look proves nothing; the next event or poll tries again
    );
  }, [sessionId]);
  useEffect(() => {
    setWatchers([]);
    refresh();
  }, [refresh]);
  useLiveRefresh(refresh);
  const names = watchers.map((w) => w.name);
  const text = names.length === 1 ? `${names[0]} is watching` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are watching`;
  return (
    <span aria-live="polite" className="ws-watchers">
      {names.length > 0 && (
        <span className="badge watching" data-testid="session-watchers" title={watchers.map((w) => `${w.name}, watching since ${formatDateTime(w.since)}`).join('\n')}>
          <EyeIcon />
          {/* The bar is tight up to 1280 px: there the eye and the first name say it (the title lists everyone). */}
          <span className="ws-watch-long">{text}</span>
          <span className="ws-watch-short" aria-hidden="true">
            {names[0]}
            {names.length > 1 ? ` +${names.length - 1}` : ''}
          </span>
        </span>
      )}
    </span>
  );
}

function EyeIcon() {
  return (
    <svg className="icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" focusable="false">
      <path d="M12 5C6.5 5 2.7 9.1 1.5 12c1.2 2.9 5 7 10.5 7s9.3-4.1 10.5-7C21.3 9.1 17.5 5 12 5zm0 11.5a4.5 4.5 0 1 1 0-9 4.5 4.5 0 0 1 0 9zm0-2.5a2 2 0 1 0 0-4 2 2 0 0 0 0 4z" fill="currentColor" />
    </svg>
  );
}

function inputHint(session: OpenedSession, over: boolean): string {
  if (over) return 'The session is closed: nothing is sent to the machine.';
  if (session.policy.readOnly) return 'View only: your keyboard and mouse are not sent to the machine.';
  return 'Click the screen to type into the session. Ctrl+Alt+Shift gives the keyboard back to the page.';
}

const STATUS_LABELS = {
  connecting: 'Connecting…',
  connected: 'Connected',
  ended: 'Session ended',
  error: 'Not connected',
} as const;

function StatusChip({ status, machineName, reconnecting }: { status: keyof typeof STATUS_LABELS; machineName: string | null; reconnecting: boolean }) {
  const label =
    status === 'connecting' && reconnecting ? 'Reconnecting…' : status === 'connecting' && machineName !== null ? `Connecting to ${machineName}…` : STATUS_LABELS[status];
  return (
    <span
      className={`session-status status-${status}`}
      data-testid="session-status"
      data-status={status}
      data-reconnecting={reconnecting && status === 'connecting' ? 'true' : 'false'}
      role="status"
    >
      {label}
    </span>
  );
}

interface PendingRetry {
  /** 1-based number of the try that comes next. */
  attempt: number;
  /** When it starts (ms since the epoch). */
  at: number;
  /** Why the connection went. */
  end: SessionEnd;
}

/**
 * Reconnects by itself after an end whose kind is transient, RECONNECT_DELAYS_MS apart, while
 * the window lasts; a connection that comes back resets the count. Revoke, terminate, the
 * window's end and every other kind stop here and go to the dialog.
 */
function useAutoReconnect(end: SessionEnd | null, connected: boolean, windowOver: boolean, reopen: () => void) {
  const [pending, setPending] = useState<PendingRetry | null>(null);
  const [used, setUsed] = useState(0);
  const [stopped, setStopped] = useState(false);
  const reopenRef = useRef(reopen);
  useEffect(() => {
    reopenRef.current = reopen;
  });

  // Only a connection that holds counts as "back": one that drops at once keeps using up tries.
  useEffect(() => {
    if (!connected) return;
    const t = setTimeout(() => {
      setUsed(0);
      setStopped(false);
    }, STABLE_CONNECTION_MS);
    return () => clearTimeout(t);
  }, [connected]);

  const delay = RECONNECT_DELAYS_MS[used];
  const transient = end !== null && nextStep(end.kind) === 'auto-retry' && !windowOver && !stopped && delay !== undefined;
  useEffect(() => {
    if (!transient || end === null || delay === undefined) {
      setPending(null);
      return;
    }
    setPending({ attempt: used + 1, at: Date.now() + delay, end });
    const t = setTimeout(() => {
      setPending(null);
      setUsed((n) => n + 1);
      reopenRef.current();
    }, delay);
    return () => clearTimeout(t);
  }, [transient, end, delay, used]);

  const now = useCallback(() => {
    setPending(null);
    setUsed((n) => n + 1);
    reopenRef.current();
  }, []);
  const stop = useCallback(() => {
    setStopped(true);
    setPending(null);
  }, []);
  const restart = useCallback(() => {
    setUsed(0);
    setStopped(false);
  }, []);
  return { pending: transient ? pending : null, used, now, stop, restart };
}

function ReconnectNotice({ pending, total, onNow, onStop }: { pending: PendingRetry; total: number; onNow: () => void; onStop: () => void }) {
  const now = useNow(250);
  const seconds = Math.max(0, Math.ceil((pending.at - now) / 1000));
  return (
    <div className="ws-reconnect" role="status" data-testid="session-reconnecting" data-attempt={pending.attempt}>
      <strong>{END_TITLES[pending.end.kind]}.</strong> Reconnecting {seconds > 0 ? `in ${seconds} s` : 'now'} (try {pending.attempt} of {total})…
      <span className="actions">
        <button type="button" onClick={onNow} data-testid="session-reconnect-now">
          Reconnect now
        </button>
        <button type="button" className="secondary" onClick={onStop} data-testid="session-reconnect-stop">
          Stop
        </button>
      </span>
    </div>
  );
}

/** The plant's time zone for this grant (its request's site), for the times the bar shows; the viewer's until known. */
function usePlantZone(requestId: string): string | undefined {
  const [zone, setZone] = useState<string | undefined>(undefined);
  useEffect(() => {
    let cancelled = false;
    getRequest(requestId).then(
      (r) => {
        if (!cancelled) setZone(r.machine.siteTimeZone);
      },
      () => {}, // the viewer's own zone (with its abbreviation) is shown instead
    );
    return () => {
      cancelled = true;
    };
  }, [requestId]);
  return zone;
}

/** After an end, the request as the server sees it now (who revoked, whether the window is over). */
function useRequestAfterEnd(requestId: string, end: SessionEnd | null): AccessRequest | null {
  const [request, setRequest] = useState<AccessRequest | null>(null);
  const ended = end !== null && nextStep(end.kind) !== 'auto-retry';
  useEffect(() => {
    if (!ended) {
      setRequest(null);
      return;
    }
    let cancelled = false;
    getRequest(requestId).then(
      (r) => {
        if (!cancelled) setRequest(r);
      },
      () => {}, // the dialog says what the server said; the details are a bonus
    );
    return () => {
      cancelled = true;
    };
  }, [requestId, ended]);
  return request;
}

function EndDialog({
  end,
  request,
  machineName,
  requestId,
  onReconnect,
  windowOver,
}: {
  end: SessionEnd;
  request: AccessRequest | null;
  machineName: string | null;
  requestId: string;
  onReconnect: () => void;
  windowOver: boolean;
}) {
  const first = useRef<HTMLButtonElement | HTMLAnchorElement | null>(null);
  useEffect(() => {
    first.current?.focus({ preventScroll: true });
  }, [end.kind]);
  const canRetry = nextStep(end.kind) !== 'none' && !windowOver;
  const revocation = end.kind === 'revoked' ? (request?.revocation ?? null) : null;
  return (
    <div className="ws-backdrop">
      <div
        className={`ws-dialog end-${end.kind}`}
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="session-end-title"
        aria-describedby="session-end-message"
        data-testid="session-end"
        data-kind={end.kind}
      >
        <h2 id="session-end-title">{END_TITLES[end.kind]}</h2>
        <p id="session-end-message" className={end.kind === 'disconnected' ? 'session-message' : 'session-message emphasis'} data-testid="session-message">
          {end.message}
        </p>
        {revocation !== null && (
          <p data-testid="session-end-revocation">
            Revoked by <strong>{revocation.by.name}</strong> at {formatDateTime(revocation.at, false, request?.machine.siteTimeZone)}
            {revocation.reason !== null ? <>: “{revocation.reason}”</> : '.'}
          </p>
        )}
        <EndAdvice end={end} machineName={machineName} />
        <p className="actions" data-testid="session-over-actions">
          {canRetry && (
            <button type="button" ref={(el) => void (first.current = el)} onClick={onReconnect} data-testid="session-reconnect">
              {end.kind === 'disconnected' || end.kind === 'lost' ? 'Reconnect' : 'Try again'}
            </button>
          )}
          {end.kind === 'window_over' && (
            <a className="button secondary" href={href('request', { extends: requestId })} data-testid="session-request-more">
              Request more time
            </a>
          )}
          <a className="button secondary" href={href('my')} ref={canRetry ? undefined : (el) => void (first.current = el)} data-testid="session-back">
            Back to my requests
          </a>
        </p>
      </div>
    </div>
  );
}

function EndAdvice({ end, machineName }: { end: SessionEnd; machineName: string | null }) {
  const machine = machineName ?? 'the machine';
  const text: Partial<Record<SessionEnd['kind'], string>> = {
    revoked: 'Your access to this machine has been withdrawn. Ask the plant manager if you need it back.',
    terminated: 'A plant manager ended this session. Your access may still stand, but check with them before you connect again.',
    window_over: 'Your access window is over. Ask for an extension if the work is not finished.',
    unreachable: `Airlock could not reach ${machine}. It may be switched off or off the network; try again in a few minutes.`,
    credential_refused: `${machine} refused the login Airlock holds for it. Tell the plant manager or an administrator; trying again will not help.`,
    recording_failed: 'Every session is recorded; when recording fails the session ends. Try again in a moment.',
    no_grant: 'Ask for access to this machine from “Request access”.',
    lost: 'Airlock could not get the connection back by itself. Check your network, then reconnect.',
  };
  const advice = text[end.kind];
  return advice === undefined ? null : <p className="muted">{advice}</p>;
}

/** While the workspace is open the page itself cannot scroll (the display takes the whole window). */
function usePageLocked(): void {
  useEffect(() => {
    const root = document.documentElement;
    root.classList.add('workspace-open');
    return () => root.classList.remove('workspace-open');
  }, []);
}

/** States of the required observer in which the vendor's input is held (sessions/observer-gate.ts). */
const HELD_STATES = new Set(['waiting', 'unconfirmed', 'paused', 'controlled']);

/** Required observer: whether the vendor's input reaches the machine, in the portal's words. */
function ObserverBanner({ observer }: { observer: { state: string; message: string } }) {
  const held = HELD_STATES.has(observer.state);
  return (
    <p role={held ? 'alert' : 'status'} className={`ws-warning ${held ? 'final' : 'first'} observer-${observer.state}`} data-testid="session-observer" data-state={observer.state} data-held={held}>
      {observer.message}
    </p>
  );
}
