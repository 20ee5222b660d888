// Why a session ended, as a kind the screens can act on: the server explains every end with a
// Guacamole `error` instruction (a message and a status code) before it closes the tunnel; a
// tunnel that closes without one was lost on the way. The kind decides what the vendor is
// offered next (reconnect by itself, a manual retry, or nothing but the way back).

/** Guacamole protocol status codes (guacamole-server's protocol-types.h). */
export const GUAC_CODE = {
  SERVER_ERROR: 0x0200,
  SERVER_BUSY: 0x0201,
  UPSTREAM_TIMEOUT: 0x0202,
  UPSTREAM_ERROR: 0x0203,
  /** RESOURCE_NOT_FOUND in the protocol; the portal (sessions/transport.ts) sends it for "the machine did not answer in time". */
  RESOURCE_NOT_FOUND: 0x0204,
  RESOURCE_CLOSED: 0x0206,
  UPSTREAM_NOT_FOUND: 0x0207,
  UPSTREAM_UNAVAILABLE: 0x0208,
  SESSION_CONFLICT: 0x0209,
  SESSION_TIMEOUT: 0x020a,
  SESSION_CLOSED: 0x020b,
  CLIENT_UNAUTHORIZED: 0x0301,
  CLIENT_FORBIDDEN: 0x0303,
} as const;

/**
 * The `msg` code of the portal's own notices (sessions/tunnel/transport.ts AIRLOCK_NOTICE_MSG):
 * something to tell the user while the session goes on, e.g. that the portal is restarting.
 */
export const AIRLOCK_NOTICE_MSG = 0x0100;
/** The `msg` code of the required-observer state (transport.ts AIRLOCK_OBSERVER_MSG): args are the message and the state. */
export const AIRLOCK_OBSERVER_MSG = 0x0101;

export type EndKind =
  /** The plant manager revoked the grant (or the request was cancelled). */
  | 'revoked'
  /** A manager cut this session; the grant may still stand, but the intent is "stop". */
  | 'terminated'
  /** The access window is over. */
  | 'window_over'
  /** guacd could not reach the machine, or it did not answer in time. */
  | 'unreachable'
  /** The machine refused the stored credential. */
  | 'credential_refused'
  /** The machine or its protocol ended the connection with an error. */
  | 'machine_error'
  /** Airlock could not record, so it ended the session (no recording, no session). */
  | 'recording_failed'
  /** The portal instance is restarting: the next attempt goes to a healthy one. */
  | 'restarting'
  /** The connection dropped with no reason from the server: the network, a proxy, a laptop lid. */
  | 'lost'
  /** The upgrade was refused before anything started (grant gone, ticket spent, origin). */
  | 'refused'
  /** No first frame within our own connect timeout. */
  | 'timeout'
  /** The vendor pressed Disconnect. */
  | 'disconnected'
  /** No grant now: POST /api/sessions said so. */
  | 'no_grant'
  /** Anything else. */
  | 'error';

export interface SessionEnd {
  kind: EndKind;
  /** The server's own words when it gave any, else our explanation. */
  message: string;
  /** The Guacamole status code, when the end came with one. */
  code: number | null;
}

/** What the vendor may do next after each kind of end. */
export type NextStep = 'auto-retry' | 'retry' | 'none';

const NEXT: Record<EndKind, NextStep> = {
  revoked: 'none',
  terminated: 'none',
  window_over: 'none',
  no_grant: 'none',
  credential_refused: 'none',
  unreachable: 'retry',
  machine_error: 'retry',
  recording_failed: 'retry',
  refused: 'retry',
  disconnected: 'retry',
  error: 'retry',
  // Transient: the grant is still valid and a fresh ticket usually just works.
  restarting: 'auto-retry',
  lost: 'auto-retry',
  timeout: 'auto-retry',
};

export function nextStep(kind: EndKind): NextStep {
  return NEXT[kind];
}

export const END_TITLES: Record<EndKind, string> = {
  revoked: 'Access revoked',
  terminated: 'Session terminated',
  window_over: 'Access window over',
  unreachable: 'Machine unreachable',
  credential_refused: 'The machine refused the login',
  machine_error: 'The machine ended the connection',
  recording_failed: 'Recording failed',
  restarting: 'Airlock is restarting',
  lost: 'Connection lost',
  refused: 'Could not connect',
  timeout: 'No answer from the machine',
  disconnected: 'You disconnected',
  no_grant: 'No access right now',
  error: 'The session ended',
};

/**
 * The kind of an end announced by the server. SESSION_CLOSED covers revoke, terminate and a
 * restarting portal alike (sessions/broker.ts), so its message tells them apart; the session
 * screen also asks the server for the request's state to confirm a revoke and name who did it.
 */
export function classifyServerEnd(code: number, message: string): EndKind {
  const text = message.toLowerCase();
  switch (code) {
    case GUAC_CODE.SESSION_TIMEOUT:
      return 'window_over';
    case GUAC_CODE.SESSION_CLOSED:
      if (text.includes('terminated')) return 'terminated';
      if (text.includes('revoked') || text.includes('cancelled')) return 'revoked';
      if (text.includes('restart')) return 'restarting';
      if (text.includes('window') && text.includes('ended')) return 'window_over';
      return 'error';
    case GUAC_CODE.CLIENT_UNAUTHORIZED:
    case GUAC_CODE.CLIENT_FORBIDDEN:
      return 'credential_refused';
    case GUAC_CODE.UPSTREAM_NOT_FOUND:
    case GUAC_CODE.UPSTREAM_UNAVAILABLE:
    case GUAC_CODE.UPSTREAM_TIMEOUT:
    case GUAC_CODE.RESOURCE_NOT_FOUND:
      return 'unreachable';
    case GUAC_CODE.UPSTREAM_ERROR:
    case GUAC_CODE.RESOURCE_CLOSED:
      return 'machine_error';
    case GUAC_CODE.SERVER_ERROR:
      return text.includes('record') ? 'recording_failed' : 'error';
    case GUAC_CODE.SERVER_BUSY:
      return 'unreachable';
    default:
      return 'error';
  }
}

export function serverEnd(code: number, message: string | undefined): SessionEnd {
  const text = message !== undefined && message !== '' ? message : 'The session ended.';
  return { kind: classifyServerEnd(code, text), message: text, code: Number.isNaN(code) ? null : code };
}

export function localEnd(kind: EndKind, message: string): SessionEnd {
  return { kind, message, code: null };
}
