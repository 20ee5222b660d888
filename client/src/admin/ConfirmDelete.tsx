// A delete button that confirms in a dialog naming what goes (a deletion cannot be undone).
import { useState } from 'react';
import { ConfirmDialog } from '../shared/ConfirmDialog.tsx';

export function ConfirmDelete({ testId, what, onDelete }: { testId: string; what: string; onDelete: () => Promise<void> }) {
  const [open, setOpen] = useState(false);
  return (
    <span className="confirm-delete">
      <button type="button" className="secondary" onClick={() => setOpen(true)} data-testid={testId}>
        Delete
      </button>
      {open && (
        <ConfirmDialog
          title={`Delete ${what}?`}
          confirmLabel={`Delete ${what}`}
          cancelLabel="Keep"
          testId={`${testId}-dialog`}
          confirmTestId={`confirm-${testId}`}
          onClose={() => setOpen(false)}
          onConfirm={async () => {
            await onDelete();
            setOpen(false);
          }}
        >
          <p>This cannot be undone. What was recorded about it stays in the audit log.</p>
        </ConfirmDialog>
      )}
    </span>
  );
}
