// A delete button that asks for a second click instead of a browser dialog (which CSP-safe
// tests and busy managers both handle badly).
import { useState } from 'react';
import { errorMessage } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';

export function ConfirmDelete({ testId, what, onDelete }: { testId: string; what: string; onDelete: () => Promise<void> }) {
  const [step, setStep] = useState<'idle' | 'confirm' | 'busy'>('idle');
  const [error, setError] = useState<string | null>(null);

  async function confirm() {
    setStep('busy');
    setError(null);
    try {
      await onDelete();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setStep('idle');
    }
  }

  return (
    <span className="confirm-delete">
      {step === 'idle' ? (
        <button type="button" className="secondary" onClick={() => setStep('confirm')} data-testid={testId}>
          Delete
        </button>
      ) : (
        <>
          <button type="button" className="danger" disabled={step === 'busy'} onClick={confirm} data-testid={`confirm-${testId}`}>
            Delete {what}
          </button>
          <button type="button" className="secondary" disabled={step === 'busy'} onClick={() => setStep('idle')}>
            Keep
          </button>
        </>
      )}
      <ErrorMessage message={error} testId={`${testId}-error`} />
    </span>
  );
}
