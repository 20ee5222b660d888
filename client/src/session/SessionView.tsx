// The pieces both session screens show: the status line and the remote display's host element.
import type { GuacamoleView, ScaleMode, SessionStatus } from './useGuacamole.ts';

const STATUS_LABELS: Record<SessionStatus, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  ended: 'Session ended',
  error: 'Not connected',
};

/** `data-status` carries the raw status; the message is the server's reason, verbatim. */
export function SessionStatusLine({ status, message, machineName }: { status: SessionStatus; message: string | null; machineName: string | null }) {
  const label = status === 'connecting' && machineName !== null ? `Connecting to ${machineName}…` : STATUS_LABELS[status];
  return (
    <div className="session-status-line">
      <span className={`session-status status-${status}`} data-testid="session-status" data-status={status} role="status">
        {label}
      </span>
      {message !== null && (
        <p className={status === 'error' ? 'error session-message' : 'notice session-message'} data-testid="session-message" role="alert">
          {message}
        </p>
      )}
    </div>
  );
}

/**
 * The element guacamole-common-js draws into. React renders no children in it: the library
 * appends its own display element. Focusable, so the keyboard follows a click on it.
 */
export function SessionDisplay({ view, label, readOnly = false, scale = 'fit' }: { view: GuacamoleView; label: string; readOnly?: boolean; scale?: ScaleMode }) {
  return (
    <div
      ref={view.containerRef}
      className={`session-display${view.focused ? ' focused' : ''}${readOnly ? ' read-only' : ''} status-${view.status} scale-${scale}`}
      tabIndex={readOnly ? -1 : 0}
      role="application"
      aria-label={label}
      data-testid="session-display"
      data-focused={view.focused ? 'true' : 'false'}
      data-scale={scale}
    />
  );
}
