// The vendor's remote session for one grant: opens a brokered session, shows the machine's
// screen, counts down to the end of the access window and applies the grant's clipboard policy.
import { useEffect, useState } from 'react';
import type Guacamole from 'guacamole-common-js';
import { ApiError, errorMessage, openSession, type OpenedSession } from '../api.ts';
import { ErrorMessage, policySummary } from '../shared/components.tsx';
import { useNow } from '../shared/clock.ts';
import { href } from '../shared/route.ts';
import { formatCountdown, formatDateTime } from '../shared/time.ts';
import { SessionDisplay, SessionStatusLine } from './SessionView.tsx';
import { useGuacamole, type GuacamoleView } from './useGuacamole.ts';

/** Warn this long before the window ends: time to finish a step and save. */
export const FIRST_WARNING_MS = 10 * 60_000;
/** Last warning: time to save, not to start anything. */
export const FINAL_WARNING_MS = 2 * 60_000;
/** The countdown shows seconds, so it ticks every second. */
const COUNTDOWN_TICK_MS = 1000;
export const WINDOW_ENDED_MESSAGE = 'The access window has ended.';

declare global {
  interface Window {
    /** The open session, for end-to-end tests: the page could reach it through the DOM anyway. */
    __airlockSession?: { client: Guacamole.Client; sessionId: string };
  }
}

/** What to tell the vendor when POST /api/sessions refuses; nothing was opened in any case. */
function openFailure(err: unknown): string {
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'no_grant':
        return 'You have no access to this machine right now.';
      case 'recording_unavailable':
        return 'Sessions are unavailable: recording storage is not ready. Nothing was opened.';
      case 'guacd_unavailable':
        return 'The remote-access gateway is unavailable. Nothing was opened; try again in a few minutes.';
      case 'unknown_request':
      case 'invalid_input': // only a hand-edited link gets here: request ids are UUIDs
        return 'This request does not exist, or it is not yours.';
    }
  }
  return errorMessage(err, 'The session could not be opened.');
}

type Opening = { status: 'opening' } | { status: 'open'; session: OpenedSession } | { status: 'failed'; message: string };

/** Each attempt (the first, and every "Reconnect") opens a fresh session with a fresh ticket. */
export function SessionScreen({ requestId }: { requestId: string }) {
  const [attempt, setAttempt] = useState(0);
  return <Session key={attempt} requestId={requestId} onReconnect={() => setAttempt((a) => a + 1)} />;
}

function Session({ requestId, onReconnect }: { requestId: string; onReconnect: () => void }) {
  const [opening, setOpening] = useState<Opening>({ status: 'opening' });

  useEffect(() => {
    let cancelled = false;
    // Deferred by a tick so StrictMode's development double mount opens one session, not two.
    const timer = setTimeout(() => {
      openSession(requestId).then(
        (session) => {
          if (!cancelled) setOpening({ status: 'open', session });
        },
        (err: unknown) => {
          if (!cancelled) setOpening({ status: 'failed', message: openFailure(err) });
        },
      );
    }, 0);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [requestId]);

  const session = opening.status === 'open' ? opening.session : null;
  const policy = session?.policy;
  const view = useGuacamole(session, {
    input: policy !== undefined && !policy.readOnly,
    clipboardCopy: policy?.clipboardCopy ?? false,
    clipboardPaste: policy !== undefined && policy.clipboardPaste && !policy.readOnly,
  });

  useEffect(() => {
    if (view.client === null || session === null) return;
    window.__airlockSession = { client: view.client, sessionId: session.id };
    return () => {
      delete window.__airlockSession;
    };
  }, [view.client, session]);

  const over = opening.status === 'failed' || view.status === 'ended' || view.status === 'error';
  const now = useNow(COUNTDOWN_TICK_MS);
  const remaining = session === null ? null : new Date(session.endsAt).getTime() - now;
  const windowOver = remaining !== null && remaining <= 0;

  // The server ends the session too; this covers a message that is late or lost.
  const { endLocally } = view;
  useEffect(() => {
    if (windowOver) endLocally(WINDOW_ENDED_MESSAGE);
  }, [windowOver, endLocally]);

  const warning = remaining === null || over || remaining > FIRST_WARNING_MS ? null : remaining <= FINAL_WARNING_MS ? 'final' : 'first';
  const status = opening.status === 'opening' ? 'connecting' : opening.status === 'failed' ? 'error' : view.status;
  const message = opening.status === 'failed' ? opening.message : view.message;

  return (
    <section className="card wide session" data-testid="session-screen">
      <div className="heading">
        <h1>
          {session === null ? 'Remote session' : session.machine.name}
          {session !== null && <span className="protocol"> {session.machine.protocol.toUpperCase()}</span>}
        </h1>
        <div className="session-bar">
          {policy?.readOnly === true && (
            <span className="badge view-only" data-testid="session-view-only">
              View only
            </span>
          )}
          {remaining !== null && (
            <span className="countdown" data-testid="session-countdown" title={`Access ends at ${formatDateTime(session?.endsAt ?? '')}`}>
              {formatCountdown(remaining)} left
            </span>
          )}
          {!over && (
            <button type="button" className="danger" onClick={view.disconnect} disabled={session === null} data-testid="session-disconnect">
              Disconnect
            </button>
          )}
        </div>
      </div>

      <SessionStatusLine status={status} message={message} machineName={session?.machine.name ?? null} />

      {warning !== null && session !== null && (
        <p role="alert" className={`session-warning ${warning}`} data-testid="session-warning" data-level={warning}>
          {warning === 'final' ? 'Less than 2 minutes left: save your work now.' : 'Less than 10 minutes left in this access window.'} The
          session ends at {formatDateTime(session.endsAt)}.{' '}
          {/* A new tab: leaving this page would end the session. */}
          <a href={`/${href('request', { extends: requestId })}`} target="_blank" rel="noopener" data-testid="session-extend">
            Request an extension
          </a>
        </p>
      )}

      {over && (
        <p className="actions" data-testid="session-over-actions">
          {!windowOver && opening.status !== 'failed' && (
            <button type="button" onClick={onReconnect} data-testid="session-reconnect">
              Reconnect
            </button>
          )}
          <a className="button secondary" href={href('my')}>
            Back to my requests
          </a>
        </p>
      )}

      {session !== null && (
        <>
          <p className="muted session-hint" data-testid="session-focus-hint">
            {inputHint(session, over, view.focused)}
          </p>
          <SessionDisplay view={view} label={`Screen of ${session.machine.name}`} readOnly={session.policy.readOnly} />
          <Clipboard session={session} view={view} />
          <p className="muted">{policySummary(session.policy)} · this session is recorded.</p>
        </>
      )}
    </section>
  );
}

function inputHint(session: OpenedSession, over: boolean, focused: boolean): string {
  if (over) return 'The session is closed: nothing is sent to the machine.';
  if (session.policy.readOnly) return 'View only: your keyboard and mouse are not sent to the machine.';
  if (focused) return `Keyboard input goes to ${session.machine.name}. Click outside the screen to stop.`;
  return 'Click the screen to type into the session.';
}

function Clipboard({ session, view }: { session: OpenedSession; view: GuacamoleView }) {
  const [toSend, setToSend] = useState('');
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const paste = session.policy.clipboardPaste && !session.policy.readOnly;

  async function copyLocally() {
    if (view.remoteClipboard === null) return;
    try {
      await navigator.clipboard.writeText(view.remoteClipboard);
      setNote({ ok: true, text: 'Copied to your clipboard.' });
    } catch {
      setNote({ ok: false, text: 'Your browser did not allow copying; select the text and copy it yourself.' });
    }
  }

  function send() {
    if (view.sendClipboard(toSend)) setNote({ ok: true, text: 'Sent to the remote clipboard: paste it on the machine.' });
    else setNote({ ok: false, text: 'Not sent: the session is not connected.' });
  }

  return (
    <>
      <div className="session-clipboard" data-testid="session-clipboard">
        <div>
          <h3>Remote clipboard</h3>
          {session.policy.clipboardCopy ? (
            <>
              <textarea
                readOnly
                rows={3}
                value={view.remoteClipboard ?? ''}
                placeholder="Text copied on the machine appears here."
                aria-label="Remote clipboard"
                data-testid="session-clipboard-remote"
              />
              <button type="button" className="secondary" disabled={view.remoteClipboard === null} onClick={copyLocally} data-testid="session-clipboard-copy">
                Copy
              </button>
            </>
          ) : (
            <p className="muted" data-testid="session-clipboard-copy-disabled">
              Copying from the machine is disabled for this session.
            </p>
          )}
        </div>
        <div>
          <h3>Send text to the remote clipboard</h3>
          {paste ? (
            <>
              <textarea rows={3} value={toSend} onChange={(e) => setToSend(e.target.value)} aria-label="Send text to the remote clipboard" data-testid="session-clipboard-input" />
              <button type="button" disabled={view.status !== 'connected' || toSend === ''} onClick={send} data-testid="session-clipboard-send">
                Send to remote clipboard
              </button>
            </>
          ) : (
            <p className="muted" data-testid="session-clipboard-paste-disabled">
              Pasting to the machine is disabled for this session.
            </p>
          )}
        </div>
      </div>
      {note !== null &&
        (note.ok ? (
          <p className="muted" role="status" data-testid="session-clipboard-note">
            {note.text}
          </p>
        ) : (
          <ErrorMessage message={note.text} testId="session-clipboard-note" />
        ))}
    </>
  );
}
