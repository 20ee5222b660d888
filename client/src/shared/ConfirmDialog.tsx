// One way to confirm what cannot be undone (deny, cancel, revoke, terminate, delete): a modal
// <dialog> that names the consequence, may ask for a reason, and reports a failure in place.
// The native element gives a focus trap, Esc to keep things as they are and the top layer.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { errorMessage } from '../api.ts';
import { ErrorMessage } from './components.tsx';

export interface ConfirmDialogProps {
  title: string;
  /** What happens, in plain words, including that it cannot be undone. */
  children: ReactNode;
  confirmLabel: string;
  /** The way out, worded as what stays ("Keep pending", "Keep running"). */
  cancelLabel?: string;
  /** Runs on confirm; a thrown error is shown in the dialog, which stays open. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
  testId: string;
  /** Test id of the confirm button (defaults to `${testId}-confirm`). */
  confirmTestId?: string;
}

export function ConfirmDialog({ title, children, confirmLabel, cancelLabel = 'Cancel', onConfirm, onClose, testId, confirmTestId }: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const closeRef = useRef(onClose);
  useEffect(() => {
    closeRef.current = onClose;
  });

  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (!dialog.open) dialog.showModal();
    // A field marked data-autofocus (a reason) takes the focus; otherwise the safe choice does.
    (dialog.querySelector<HTMLElement>('[data-autofocus]') ?? dialog.querySelector<HTMLElement>('[data-keep]'))?.focus();
    const onCancel = () => closeRef.current();
    dialog.addEventListener('close', onCancel);
    return () => {
      dialog.removeEventListener('close', onCancel);
      if (dialog.open) dialog.close();
    };
  }, []);

  async function confirm(e: FormEvent) {
    e.preventDefault();
    // React's synthetic events bubble through the component tree: a dialog opened from inside
    // another form must not submit that form too.
    e.stopPropagation();
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  }

  // In <body>, not where it was opened (a table cell, a form): no styles or forms leak in.
  return createPortal(
    <dialog ref={ref} className="confirm-dialog" aria-labelledby={`${testId}-title`} data-testid={testId}>
      <form onSubmit={confirm} className="form">
        <h2 id={`${testId}-title`}>{title}</h2>
        <div className="confirm-body">{children}</div>
        <ErrorMessage message={error} testId={`${testId}-error`} />
        <p className="actions">
          <button type="submit" className="danger" disabled={busy} data-testid={confirmTestId ?? `${testId}-confirm`}>
            {busy ? 'Working…' : confirmLabel}
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={onClose} data-testid={`${testId}-keep`} data-keep>
            {cancelLabel}
          </button>
        </p>
      </form>
    </dialog>,
    document.body,
  );
}
