// Why a connection failed, in the vendor's words and the plant's: guacd reports a refused
// credential, an unreachable machine or a failed security negotiation as an `error`
// instruction with a Guacamole status code (guacd 1.3 replaces the detail with "Aborted. See
// logs."), and a guacd that dies or hangs as a broken or silent socket. Each kind has one
// message; docs/api.md lists the same ones.
import { GUAC_STATUS } from './tunnel/transport.ts';
import { HOST_KEY_MISMATCH_MESSAGE, likelyHostKeyMismatch, type HostKeyPinning } from '../server/inventory/host-keys.ts';

export type FailureKind = 'host_key_mismatch' | 'credential_refused' | 'unreachable' | 'security_negotiation_failed' | 'timed_out' | 'upstream_error' | 'guacd_lost' | 'guacd_error';

export const FAILURE_MESSAGES: Record<FailureKind, string> = {
  host_key_mismatch: HOST_KEY_MISMATCH_MESSAGE,
  credential_refused: "The machine refused the sign-in Airlock holds for it (the stored credential may be out of date). Ask the plant to check the machine's credential in Airlock.",
  unreachable: 'The machine could not be reached, or refused the connection: it may be switched off, disconnected from the plant network, or its stored password may be out of date.',
  security_negotiation_failed: "The machine refused the connection's security settings. Ask the plant to check the machine's security mode in Airlock.",
  timed_out: 'The machine did not answer in time; try again in a moment.',
  upstream_error: "The machine's remote-access service reported an error; try again, or ask the plant.",
  guacd_lost: "The plant's remote-access gateway stopped answering; the session was ended. Try again in a moment.",
  guacd_error: 'The connection to the machine failed; try again, or ask the plant.',
};

/** Guacamole status codes (as guacd sends them) → what failed. */
const BY_STATUS = new Map<number, FailureKind>([
  [0x0301, 'credential_refused'], // CLIENT_UNAUTHORIZED: guacd 1.3 on a refused SSH password
  [0x0303, 'credential_refused'], // CLIENT_FORBIDDEN
  [GUAC_STATUS.UPSTREAM_NOT_FOUND, 'unreachable'], // guacd 1.3: no route, port closed, and VNC's refused password
  [GUAC_STATUS.UPSTREAM_UNAVAILABLE, 'unreachable'],
  [GUAC_STATUS.UPSTREAM_TIMEOUT, 'timed_out'],
  [GUAC_STATUS.UPSTREAM_ERROR, 'upstream_error'],
]);

/**
 * What guacd's `error` means; the message text refines UPSTREAM_ERROR (RDP names its security
 * failures). On a pinned SSH machine guacd 1.3 reports a host key mismatch as SERVER_ERROR before
 * the first frame.
 */
export function classifyGuacdError(status: number, message: string, machine: HostKeyPinning, beforeFirstFrame: boolean): FailureKind {
  if (beforeFirstFrame && likelyHostKeyMismatch(machine, status)) return 'host_key_mismatch';
  const kind = BY_STATUS.get(status) ?? 'guacd_error';
  if (kind === 'upstream_error' && /security|negotiat|tls|nla/i.test(message)) return 'security_negotiation_failed';
  if (kind === 'upstream_error' && /auth|password|credential|logon|login/i.test(message)) return 'credential_refused';
  return kind;
}

/** The status the browser's Guacamole client gets with each kind (its own reconnect logic reads it). */
export const FAILURE_STATUS: Record<FailureKind, number> = {
  host_key_mismatch: GUAC_STATUS.SERVER_ERROR,
  credential_refused: 0x0301,
  unreachable: GUAC_STATUS.UPSTREAM_NOT_FOUND,
  security_negotiation_failed: GUAC_STATUS.UPSTREAM_ERROR,
  timed_out: GUAC_STATUS.UPSTREAM_TIMEOUT,
  upstream_error: GUAC_STATUS.UPSTREAM_ERROR,
  guacd_lost: GUAC_STATUS.UPSTREAM_UNAVAILABLE,
  guacd_error: GUAC_STATUS.SERVER_ERROR,
};
