// Terminating cuts a vendor off mid-work, so it is confirmed in a dialog that asks why (the
// vendor is shown the reason). Two kinds, each saying what it does: terminate the session (the
// access stays, so the vendor may reconnect while the window lasts), or terminate and revoke
// the access (nothing can be reopened).
import { useState } from 'react';
import { terminateSession } from '../api.ts';
import { ConfirmDialog } from '../shared/ConfirmDialog.tsx';
import { Time } from '../shared/components.tsx';
import { MAX_TEXT_LENGTH } from '../vendor/RequestForm.tsx';

export interface TerminateTarget {
  id: string;
  userName: string;
  machineName: string;
  /** When the grant ends, and the site whose clock tells it (what "the access stays" means). */
  endsAt?: string | undefined;
  siteId?: string | undefined;
}

/** The two buttons that open the dialogs: the same words in the live list and the watch screen. */
export const TERMINATE_LABELS = {
  terminate: { button: 'Terminate session…', title: 'Cut this session now; the access stays, so the vendor can reconnect' },
  revoke: { button: 'Terminate and revoke access…', title: 'Cut this session now and revoke the access: nothing can be reopened' },
} as const;

export function TerminateForm({
  session,
  revoke = false,
  onDone,
  onKeep,
}: {
  session: TerminateTarget;
  /** Also revoke the grant (POST …/terminate with revoke: true). */
  revoke?: boolean;
  onDone: (n: { ok: boolean; text: string }) => void;
  onKeep: () => void;
}) {
  const [reason, setReason] = useState('');
  const id = session.id;
  const kind = revoke ? 'terminate-revoke' : 'terminate';
  return (
    <ConfirmDialog
      title={revoke ? `Terminate ${session.userName}'s session on ${session.machineName} and revoke the access?` : `Terminate ${session.userName}'s session on ${session.machineName}?`}
      confirmLabel={revoke ? 'Terminate and revoke access' : 'Terminate session'}
      cancelLabel="Keep running"
      testId={`${kind}-form-${id}`}
      confirmTestId={`confirm-${kind}-${id}`}
      onClose={onKeep}
      onConfirm={async () => {
        await terminateSession(id, { ...(reason.trim() === '' ? {} : { reason: reason.trim() }), ...(revoke ? { revoke: true } : {}) });
        onDone({
          ok: true,
          text: revoke
            ? `Terminated ${session.userName}'s session on ${session.machineName} and revoked the access: it cannot be reopened.`
            : `Terminated ${session.userName}'s session on ${session.machineName}. The access stays; ${session.userName} may reconnect.`,
        });
      }}
    >
      <p>The connection is cut at once; unsaved work on the machine may be lost. {session.userName} sees your name and the reason.</p>
      {revoke ? (
        <p data-testid={`${kind}-consequence-${id}`}>
          <strong>The access is revoked too:</strong> {session.userName} cannot reconnect, and needs a new request, approved again, to work on {session.machineName}. This cannot be undone.
        </p>
      ) : (
        <p data-testid={`${kind}-consequence-${id}`}>
          <strong>The access stays:</strong> {session.userName} may reconnect
          {session.endsAt !== undefined ? (
            <>
              {' '}
              until the window ends (<Time iso={session.endsAt} site={session.siteId} />)
            </>
          ) : (
            ' while the window lasts'
          )}
          . To stop that too, use “Terminate and revoke access”.
        </p>
      )}
      <label>
        Reason for terminating
        <input type="text" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={MAX_TEXT_LENGTH} data-autofocus data-testid={`${kind}-reason-${id}`} />
      </label>
    </ConfirmDialog>
  );
}
