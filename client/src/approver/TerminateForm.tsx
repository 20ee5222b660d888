// Terminating cuts a vendor off mid-work, so it takes a second, deliberate click and asks why.
import { useState, type FormEvent } from 'react';
import { errorMessage, terminateSession } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = session.id;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await terminateSession(id, reason.trim() === '' ? {} : { reason: reason.trim() });
      onDone({ ok: true, text: `Terminated ${session.userName}'s session on ${session.machineName}.` });
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  }

  return (
    <form className="revoke-form" onSubmit={submit} data-testid={`terminate-form-${id}`}>
      <label>
        Reason for terminating
        <input type="text" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={MAX_TEXT_LENGTH} autoFocus data-testid={`terminate-reason-${id}`} />
      </label>
      <ErrorMessage message={error} testId={`terminate-error-${id}`} />
      <span className="actions">
        <button type="submit" className="danger" disabled={busy} data-testid={`confirm-terminate-${id}`}>
          Confirm terminate
        </button>
        <button type="button" className="secondary" onClick={onKeep}>
          Keep running
        </button>
      </span>
    </form>
  );
}
