// What every admin editing form shares: saving with a busy flag, the server's error and every
// field's problem at once (shown next to its field), a version conflict offering the latest
// copy, and the footer (error, Save, Close) whose test ids follow the entity's name.
import { useState, type ReactNode } from 'react';
import { ApiError, errorMessage } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
import { ConfirmDelete } from './ConfirmDelete.tsx';

/** Per field (its name in the API body, e.g. `port`, `policy`), what is wrong with it. */
export type FieldErrors = Readonly<Record<string, string>>;

export interface Saving {
  busy: boolean;
  error: string | null;
  fieldErrors: FieldErrors;
  /** The record changed (or went) since the form loaded it: offer the latest copy. */
  stale: boolean;
  /** Shows problems found before saving (client-side checks), each next to its field. */
  refuse: (fieldErrors: FieldErrors) => void;
  /** The admin changed a field: its old problem is no longer shown. */
  touch: (field: string) => void;
  /** Runs the save; on failure shows the server's problems and re-enables the form. */
  save: (action: () => Promise<void>) => Promise<void>;
}

/** A server's field path as the form names its inputs: `sites.0` is the `sites` field, `policy.readOnly` the `policy` one. */
const formField = (field: string): string => field.split('.')[0] ?? field;

function fieldErrorsOf(err: ApiError): FieldErrors {
  const out: Record<string, string> = {};
  for (const issue of err.issues) {
    const field = formField(issue.field);
    out[field] = out[field] === undefined ? issue.message : `${out[field]}; ${issue.message}`;
  }
  return out;
}

const fixFields = (errors: FieldErrors): string => {
  const n = Object.keys(errors).length;
  return n === 1 ? 'Fix the field marked below.' : `Fix the ${n} fields marked below.`;
};

export function useSaving(): Saving {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [stale, setStale] = useState(false);
  return {
    busy,
    error,
    fieldErrors,
    stale,
    refuse(errors) {
      setFieldErrors(errors);
      setError(Object.keys(errors).length === 0 ? null : fixFields(errors));
    },
    touch(field) {
      if (fieldErrors[field] === undefined) return;
      const { [field]: _gone, ...rest } = fieldErrors;
      setFieldErrors(rest);
    },
    async save(action) {
      setBusy(true);
      setError(null);
      setFieldErrors({});
      setStale(false);
      try {
        await action();
      } catch (err) {
        const fields = err instanceof ApiError ? fieldErrorsOf(err) : {};
        setFieldErrors(fields);
        // Problems the form shows by their fields are summed up; anything else in the server's words.
        setError(Object.keys(fields).length > 0 ? fixFields(fields) : errorMessage(err));
        setStale(err instanceof ApiError && err.code === 'version_conflict');
        setBusy(false);
      }
    },
  };
}

/** A field's problem, under its input; test id `<entity>-error-<field>`. */
export function FieldError({ entity, field, saving }: { entity: string; field: string; saving: Pick<Saving, 'fieldErrors'> }) {
  const message = saving.fieldErrors[field];
  if (message === undefined) return null;
  return (
    <span className="field-error" role="alert" data-testid={`${entity}-error-${field}`}>
      {message}
    </span>
  );
}

/** Error line (and, after a version conflict, the way to the latest copy) plus Save and Close; test ids `<entity>-form-error`, `<entity>-save`, `<entity>-reload`. */
export function FormFooter({ entity, saving, onClose, onReload }: { entity: string; saving: Pick<Saving, 'busy' | 'error' | 'stale'>; onClose: () => void; onReload?: () => void }) {
  return (
    <>
      <ErrorMessage message={saving.error} testId={`${entity}-form-error`} />
      <p className="actions">
        <button type="submit" disabled={saving.busy} data-testid={`${entity}-save`}>
          Save {entity}
        </button>
        {saving.stale && onReload !== undefined && (
          <button type="button" className="secondary" onClick={onReload} data-testid={`${entity}-reload`}>
            Load the latest version (discards this form)
          </button>
        )}
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

/** The id rule of the server (inventory/schema.ts), checked before saving. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const ID_HINT = 'Use lower-case letters, digits, “.”, “_” and “-” (at most 63), starting with a letter or digit.';
