// Terminating cuts a vendor off mid-work, so it is confirmed in a dialog that asks why (the
// vendor is shown the reason).
import { useState } from 'react';
import { terminateSession } from '../api.ts';
import { ConfirmDialog } from '../shared/ConfirmDialog.tsx';
import { MAX_TEXT_LENGTH } from '../vendor/RequestForm.tsx';

export interface TerminateTarget {
  id: string;
  userName: string;
  machineName: string;
}

export function TerminateForm({
  session,
  onDone,
  onKeep,
}: {
  session: TerminateTarget;
  onDone: (n: { ok: boolean; text: string }) => void;
  onKeep: () => void;
}) {
  const [reason, setReason] = useState('');
  const id = session.id;
  return (
    <ConfirmDialog
      title={`Terminate ${session.userName}'s session on ${session.machineName}?`}
      confirmLabel="Terminate session"
      cancelLabel="Keep running"
      testId={`terminate-form-${id}`}
      confirmTestId={`confirm-terminate-${id}`}
      onClose={onKeep}
      onConfirm={async () => {
        await terminateSession(id, reason.trim() === '' ? {} : { reason: reason.trim() });
        onDone({ ok: true, text: `Terminated ${session.userName}'s session on ${session.machineName}.` });
      }}
    >
      <p>The connection is cut at once; unsaved work on the machine may be lost. {session.userName} sees your name and the reason.</p>
      <label>
        Reason for terminating
        <input type="text" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={MAX_TEXT_LENGTH} data-autofocus data-testid={`terminate-reason-${id}`} />
      </label>
    </ConfirmDialog>
  );
}
