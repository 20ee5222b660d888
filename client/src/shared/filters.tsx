// The controls of the search forms (audit log, recordings): a labelled choice whose first option
// is "any", and a labelled local date and time. Each hands back its value as the string the
// form's filters hold ('' for any or none). And the from–to range those forms check before searching.
import { fromLocalInput } from './time.ts';

export interface Choice {
  value: string;
  label: string;
}

export function ChoiceFilter({ label, value, onChange, any, options, testId }: { label: string; value: string; onChange: (value: string) => void; any: string; options: readonly Choice[]; testId: string }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        <option value="">{any}</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

export function DateTimeFilter({ label, value, onChange, testId }: { label: string; value: string; onChange: (value: string) => void; testId: string }) {
  return (
    <label>
      {label}
      <input type="datetime-local" value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId} />
    </label>
  );
}

/** The from and to inputs as instants (null where empty), or the message saying why they are not a range. */
export function timeRange(fromInput: string, toInput: string): { from: Date | null; to: Date | null } | string {
  const from = fromInput === '' ? null : fromLocalInput(fromInput);
  const to = toInput === '' ? null : fromLocalInput(toInput);
  if (fromInput !== '' && from === null) return 'Enter a valid “from” time.';
  if (toInput !== '' && to === null) return 'Enter a valid “to” time.';
  if (from !== null && to !== null && to < from) return '“To” must be after “from”.';
  return { from, to };
}
