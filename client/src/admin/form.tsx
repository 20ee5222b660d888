// What every admin editing form shares: saving with a busy flag, the server's error and every
// field's problem at once (shown next to its field), a version conflict offering the latest
// copy, the footer (error, Save, Close) and the section's Add button, whose test ids follow the
// entity's name.
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

/** A site's or company's first two cells: its ID (as code) and its name. */
export function IdNameCells({ record }: { record: { id: string; name: string } }) {
  return (
    <>
      <td>
        <code>{record.id}</code>
      </td>
      <td>{record.name}</td>
    </>
  );
}

/** A table row's Edit (+ extra buttons) and two-step Delete; test ids `edit-<entity>-<id>`, `delete-<entity>-<id>`. */
export function RowActions(props: { entity: string; record: { id: string; name: string }; onEdit: () => void; onDelete: () => Promise<void>; children?: ReactNode }) {
  const { entity, record } = props;
  return (
    <td className="actions-cell">
      <button type="button" className="secondary" onClick={props.onEdit} data-testid={`edit-${entity}-${record.id}`}>
        Edit
      </button>
      {props.children}
      <ConfirmDelete testId={`delete-${entity}-${record.id}`} what={record.name} onDelete={props.onDelete} />
    </td>
  );
}

/** A text input with its label and, under it, its problem; test id `<entity>-<field>`. */
export function TextField(props: { entity: string; field: string; label: string; value: string; onChange: (value: string) => void; saving: Pick<Saving, 'fieldErrors'>; disabled?: boolean }) {
  const { entity, field, saving } = props;
  return (
    <label>
      {props.label}
      <input type="text" value={props.value} onChange={(e) => props.onChange(e.target.value)} disabled={props.disabled} required aria-invalid={saving.fieldErrors[field] !== undefined} data-testid={`${entity}-${field}`} />
      <FieldError entity={entity} field={field} saving={saving} />
    </label>
  );
}

/** A number input with its label and, under it, its problem; test id `<entity>-<field>` unless given. */
export function NumberField(props: {
  entity: string;
  field: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  saving: Pick<Saving, 'fieldErrors'>;
  min: number;
  max?: number;
  step?: number | 'any';
  required?: boolean;
  placeholder?: string;
  className?: string;
  testId?: string;
}) {
  const { entity, field, saving } = props;
  return (
    <label className={props.className}>
      {props.label}
      <input
        type="number"
        min={props.min}
        max={props.max}
        step={props.step}
        value={props.value}
        placeholder={props.placeholder}
        onChange={(e) => props.onChange(e.target.value)}
        required={props.required}
        aria-invalid={saving.fieldErrors[field] !== undefined}
        data-testid={props.testId ?? `${entity}-${field}`}
      />
      <FieldError entity={entity} field={field} saving={saving} />
    </label>
  );
}

/** What is wrong with a record's id (only a new one's: it cannot change) and name, in the form's words. */
export function idNameErrors(isNew: boolean, id: string, name: string, words: { noId: string; noName: string }): Record<string, string> {
  const errors: Record<string, string> = {};
  if (isNew && !ID_PATTERN.test(id.trim())) errors['id'] = id.trim() === '' ? words.noId : ID_HINT;
  if (name.trim() === '') errors['name'] = words.noName;
  return errors;
}

/** The form's title, and for a new record how its id is written. */
export function FormTitle({ record, newTitle, idHint = ID_RULE }: { record: { name: string } | null; newTitle: string; idHint?: string }) {
  return (
    <>
      <h3>{record === null ? newTitle : `Edit ${record.name}`}</h3>
      {record === null && <p className="muted">{idHint}</p>}
    </>
  );
}

/** Adds the record (never over an existing one) or replaces the version the form loaded. */
export async function createOrUpdate<B>(record: { version: number } | null, body: B, create: (body: B) => Promise<unknown>, update: (body: B, version: number) => Promise<unknown>): Promise<void> {
  if (record === null) await create(body);
  else await update(body, record.version);
}

/** An admin section's heading with its Add button; test id `add-<entity>`. */
export function AdminHeading({ title, entity, onAdd, disabled }: { title: string; entity: string; onAdd: () => void; disabled?: boolean }) {
  return (
    <div className="heading">
      <h2>{title}</h2>
      <button type="button" onClick={onAdd} disabled={disabled} data-testid={`add-${entity}`}>
        Add {entity}
      </button>
    </div>
  );
}

/** The key that gives each record's version a fresh form (and a new record its own). */
export const formKey = (record: { id: string; version: number } | null): string => (record === null ? 'new' : `${record.id}@${record.version}`);

/** The edit form of a list: closed, or open on a record (`null` for a new one); a save closes it and refreshes the list. */
export function useEditing<T extends { id: string; version: number }>(refresh: () => void) {
  const [editing, setEditing] = useState<{ record: T | null } | null>(null);
  return {
    open: editing !== null,
    record: editing?.record ?? null,
    key: formKey(editing?.record ?? null),
    edit: (record: T | null) => setEditing({ record }),
    close: () => setEditing(null),
    saved: () => {
      setEditing(null);
      refresh();
    },
  };
}

/** The id rule of the server (inventory/schema.ts), checked before saving. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const ID_RULE = 'IDs use lower-case letters, digits, “.”, “_” and “-”, and cannot change later.';
export const ID_HINT = 'Use lower-case letters, digits, “.”, “_” and “-” (at most 63), starting with a letter or digit.';
