// The session workspace's tool panels, laid over the remote screen so it keeps its size: the
// clipboard (both directions, as the grant's policy allows).
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { OpenedSession } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
import { TERMINAL_PASTE } from './keys.ts';
import type { GuacamoleView } from './useGuacamole.ts';

const TERMINALS = new Set(['ssh', 'telnet']);

/** A non-modal panel over the display; Esc closes it and gives the keyboard back to the display. */
export function Panel({ title, testId, onClose, children }: { title: string; testId: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDivElement | null>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('textarea:not([readonly]), input, button:not(.ws-panel-close)')?.focus({ preventScroll: true });
  }, []);
  return (
    <div
      className="ws-panel"
      role="dialog"
      aria-label={title}
      ref={ref}
      data-testid={testId}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <div className="ws-panel-head">
        <h2>{title}</h2>
        <button type="button" className="secondary ws-panel-close" onClick={onClose} aria-label={`Close ${title.toLowerCase()}`}>
          ✕
        </button>
      </div>
      {children}
    </div>
  );
}

export function ClipboardPanel({ session, view, onClose }: { session: OpenedSession; view: GuacamoleView; onClose: () => void }) {
  const [toSend, setToSend] = useState('');
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const paste = session.policy.clipboardPaste && !session.policy.readOnly;
  const terminal = TERMINALS.has(session.machine.protocol);

  async function copyLocally() {
    if (view.remoteClipboard === null) return;
    try {
      await navigator.clipboard.writeText(view.remoteClipboard);
      setNote({ ok: true, text: 'Copied to your clipboard.' });
    } catch {
      setNote({ ok: false, text: 'Your browser did not allow copying; select the text and copy it yourself.' });
    }
  }

  function send(thenPaste: boolean) {
    if (!view.sendClipboard(toSend)) {
      setNote({ ok: false, text: 'Not sent: the session is not connected.' });
      return;
    }
    if (thenPaste) {
      // guacd's terminal pastes its clipboard on Ctrl+Shift+V.
      view.sendKeys(TERMINAL_PASTE);
      setNote({ ok: true, text: 'Pasted into the terminal.' });
      view.focus();
      return;
    }
    setNote({ ok: true, text: terminal ? 'Sent. In the terminal, press Ctrl+Shift+V to paste it.' : 'Sent to the remote clipboard: paste it on the machine.' });
  }

  return (
    <Panel title="Clipboard" testId="session-clipboard" onClose={onClose}>
      <section>
        <h3>From the machine</h3>
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
              Copy to my computer
            </button>
          </>
        ) : (
          <p className="muted" data-testid="session-clipboard-copy-disabled">
            Copying from the machine is disabled for this session.
          </p>
        )}
      </section>
      <section>
        <h3>To the machine</h3>
        {paste ? (
          <>
            <textarea rows={3} value={toSend} onChange={(e) => setToSend(e.target.value)} aria-label="Send text to the remote clipboard" data-testid="session-clipboard-input" />
            <p className="actions">
              {terminal && (
                <button type="button" disabled={view.status !== 'connected' || toSend === ''} onClick={() => send(true)} data-testid="session-clipboard-paste">
                  Paste into terminal
                </button>
              )}
              <button
                type="button"
                className={terminal ? 'secondary' : undefined}
                disabled={view.status !== 'connected' || toSend === ''}
                onClick={() => send(false)}
                data-testid="session-clipboard-send"
              >
                Send to remote clipboard
              </button>
            </p>
            {terminal && (
              <p className="muted" data-testid="session-paste-hint">
                Terminals paste with <kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>V</kbd> (not Ctrl+V, which the shell reads as a key).
              </p>
            )}
          </>
        ) : (
          <p className="muted" data-testid="session-clipboard-paste-disabled">
            Pasting to the machine is disabled for this session.
          </p>
        )}
      </section>
      {note !== null &&
        (note.ok ? (
          <p className="muted" role="status" data-testid="session-clipboard-note">
            {note.text}
          </p>
        ) : (
          <ErrorMessage message={note.text} testId="session-clipboard-note" />
        ))}
    </Panel>
  );
}
