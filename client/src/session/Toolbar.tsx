// The session workspace's tool panels, laid over the remote screen so it keeps its size: the
// clipboard (both directions, as the grant's policy allows), the special keys a browser cannot
// send (Ctrl+Alt+Del…), and a key panel for touch devices.
//
// Why our own key panel and not Guacamole.OnScreenKeyboard: a phone or tablet already has a
// keyboard for characters, in the user's language — what it lacks are Esc, Tab, Ctrl, Alt, the
// arrows and F-keys. OnScreenKeyboard would duplicate the native keyboard, needs a layout JSON
// per language (none ships with the npm package) and covers half of a small screen. So the panel
// holds only the missing keys (with sticky modifiers), plus a field that opens the device's own
// keyboard and types what is entered into the session.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { OpenedSession } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
import { chordsFor, PANEL_MODIFIERS, PANEL_ROWS, TERMINAL_PASTE } from './keys.ts';
import type { GuacamoleView } from './useGuacamole.ts';

const TERMINALS = new Set(['ssh', 'telnet']);

/** A non-modal panel over the display; Esc closes it and gives the keyboard back to the display. */
export function Panel({
  title,
  testId,
  onClose,
  children,
  docked = false,
}: {
  title: string;
  testId: string;
  onClose: () => void;
  children: ReactNode;
  /** Along the bottom edge (a keyboard), instead of the top-right corner. */
  docked?: boolean;
}) {
  const ref = useRef<HTMLDivElement | null>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('textarea:not([readonly]), input, button:not(.ws-panel-close)')?.focus({ preventScroll: true });
  }, []);
  return (
    <div
      className={docked ? 'ws-panel docked' : 'ws-panel'}
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
      <Direction title="From the machine" allowed={session.policy.clipboardCopy} off={{ testId: 'session-clipboard-copy-disabled', text: 'Copying from the machine is disabled for this session.' }}>
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
      </Direction>
      <Direction title="To the machine" allowed={paste} off={{ testId: 'session-clipboard-paste-disabled', text: 'Pasting to the machine is disabled for this session.' }}>
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
      </Direction>
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

/** Chords the local OS or browser would keep for itself (Ctrl+Alt+Del, Alt+Tab, Win…). */
export function KeysPanel({ session, view, onClose }: { session: OpenedSession; view: GuacamoleView; onClose: () => void }) {
  const [sent, setSent] = useState<string | null>(null);
  return (
    <Panel title="Special keys" testId="session-keys" onClose={onClose}>
      <p className="muted">Sends the keys to {session.machine.name}, not to your computer.</p>
      <div className="ws-key-grid">
        {chordsFor(session.machine.protocol).map((c) => (
          <button
            key={c.id}
            type="button"
            className="secondary"
            disabled={view.status !== 'connected'}
            onClick={() => {
              if (view.sendKeys(c.keys)) setSent(c.label);
            }}
            data-testid={`session-key-${c.id}`}
          >
            {c.label}
          </button>
        ))}
      </div>
      {sent !== null && (
        <p className="muted" role="status" data-testid="session-keys-note">
          Sent {sent}.
        </p>
      )}
    </Panel>
  );
}

type ModifierId = (typeof PANEL_MODIFIERS)[number]['id'];

/** The keys a touch keyboard lacks, and a field that types into the session through the device's own keyboard. */
export function KeyboardPanel({ view, onClose }: { view: GuacamoleView; onClose: () => void }) {
  const [held, setHeld] = useState<ReadonlySet<ModifierId>>(new Set());
  const [text, setText] = useState('');
  const connected = view.status === 'connected';

  function press(keysym: number) {
    const mods = PANEL_MODIFIERS.filter((m) => held.has(m.id)).map((m) => m.keysym);
    if (view.sendKeys([...mods, keysym])) setHeld(new Set()); // sticky for one key, as on phones
  }

  function toggle(id: ModifierId) {
    const next = new Set(held);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setHeld(next);
  }

  return (
    <Panel title="Keyboard" testId="session-keyboard" onClose={onClose} docked>
      <form
        className="ws-type"
        onSubmit={(e) => {
          e.preventDefault();
          if (text !== '' && view.typeText(text)) setText('');
        }}
      >
        <input
          type="text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="Type here, then Send"
          aria-label="Text to type into the session"
          autoComplete="off"
          autoCapitalize="off"
          autoCorrect="off"
          spellCheck={false}
          data-testid="session-type-input"
        />
        <button type="submit" disabled={!connected || text === ''} data-testid="session-type-send">
          Send
        </button>
        <button type="button" className="secondary" disabled={!connected} onClick={() => press(0xff0d)} data-testid="session-type-enter">
          Enter
        </button>
      </form>
      <div className="ws-keys">
        <div className="ws-key-row">
          {PANEL_MODIFIERS.map((m) => (
            <button
              key={m.id}
              type="button"
              className={held.has(m.id) ? 'ws-key held' : 'ws-key'}
              aria-pressed={held.has(m.id)}
              disabled={!connected}
              onClick={() => toggle(m.id)}
              data-testid={`session-mod-${m.id}`}
            >
              {m.label}
            </button>
          ))}
        </div>
        {PANEL_ROWS.map((row, i) => (
          <div key={i} className="ws-key-row">
            {row.map((k) => (
              <button
                key={k.label}
                type="button"
                className={k.wide === true ? 'ws-key wide' : 'ws-key'}
                disabled={!connected}
                onClick={() => press(k.keysym)}
                data-testid={`session-panel-key-${k.label}`}
              >
                {k.label}
              </button>
            ))}
          </div>
        ))}
      </div>
    </Panel>
  );
}

/** One direction of the clipboard: its controls when the grant allows it, else a line saying it is disabled. */
function Direction({ title, allowed, off, children }: { title: string; allowed: boolean; off: { testId: string; text: string }; children: ReactNode }) {
  return (
    <section>
      <h3>{title}</h3>
      {allowed ? (
        children
      ) : (
        <p className="muted" data-testid={off.testId}>
          {off.text}
        </p>
      )}
    </section>
  );
}
