// What every admin editing form shares: saving with a busy flag and the server's error message,
// and the footer (error, Save, Close) whose test ids follow the entity's name.
import { useState, type ReactNode } from 'react';
import { errorMessage } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
import { ConfirmDelete } from './ConfirmDelete.tsx';

export interface Saving {
  busy: boolean;
  error: string | null;
  /** Shows a problem found before saving (client-side checks). */
  refuse: (message: string) => void;
  /** Runs the save; on failure shows the server's message and re-enables the form. */
  save: (action: () => Promise<void>) => Promise<void>;
}

export function useSaving(): Saving {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return {
    busy,
    error,
    refuse: setError,
    async save(action) {
      setBusy(true);
      setError(null);
      try {
        await action();
      } catch (err) {
        setError(errorMessage(err));
        setBusy(false);
      }
    },
  };
}

/** Error line plus Save and Close; test ids `<entity>-form-error` and `<entity>-save`. */
export function FormFooter({ entity, saving, onClose }: { entity: string; saving: Pick<Saving, 'busy' | 'error'>; onClose: () => void }) {
  return (
    <>
      <ErrorMessage message={saving.error} testId={`${entity}-form-error`} />
      <p className="actions">
        <button type="submit" disabled={saving.busy} data-testid={`${entity}-save`}>
          Save {entity}
        </button>
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </p>
    </>
  );
}

/** A table row's Edit (+ extra buttons) and two-step Delete; test ids `edit-<entity>-<id>`, `delete-<entity>-<id>`. */
export function RowActions(props: { entity: string; id: string; name: string; onEdit: () => void; onDelete: () => Promise<void>; children?: ReactNode }) {
  return (
    <td className="actions-cell">
      <button type="button" className="secondary" onClick={props.onEdit} data-testid={`edit-${props.entity}-${props.id}`}>
        Edit
      </button>
      {props.children}
      <ConfirmDelete testId={`delete-${props.entity}-${props.id}`} what={props.name} onDelete={props.onDelete} />
    </td>
  );
}
