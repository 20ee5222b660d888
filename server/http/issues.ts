// Validation problems in plain words: zod's own messages ("Invalid UUID", "Too big: expected
// string to have <=2000 characters") become phrases people read ("not a valid id", "too long (at
// most 2000 characters)"). Messages a schema wrote itself are kept as they are.
import type { z } from 'zod';

/** zod's built-in wording; anything else was written by a schema for people already. */
const ZOD_DEFAULT = /^(Invalid|Too (big|small)|Expected|Unrecognized|Number must|String must)/;

const TYPE_WORDS: Record<string, string> = {
  string: 'text is expected',
  number: 'a number is expected',
  int: 'a whole number is expected',
  boolean: 'true or false is expected',
  object: 'an object is expected',
  array: 'a list is expected',
  date: 'a date is expected',
};

const FORMAT_WORDS: Record<string, string> = {
  uuid: 'not a valid id',
  guid: 'not a valid id',
  datetime: 'not a date and time with a time zone (like 2026-11-26T09:00:00+01:00)',
  date: 'not a date (like 2026-11-26)',
  email: 'not an email address',
  url: 'not a web address',
  regex: 'contains characters that are not allowed',
};

const plural = (n: unknown, word: string): string => `${String(n)} ${word}${n === 1 ? '' : 's'}`;

/** The phrase for one zod issue (the field is named by the caller). */
export function plainIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      // zod leaves `input` out of issues; its message says what it received.
      return /received undefined/.test(issue.message) ? 'required' : (TYPE_WORDS[issue.expected] ?? `${issue.expected} is expected`);
    case 'invalid_format':
      return FORMAT_WORDS[issue.format] ?? `not in the expected form (${issue.format})`;
    case 'too_big':
      if (issue.origin === 'string') return `too long (at most ${plural(issue.maximum, 'character')})`;
      if (issue.origin === 'array' || issue.origin === 'set') return `too many entries (at most ${String(issue.maximum)})`;
      return `at most ${String(issue.maximum)}`;
    case 'too_small':
      if (issue.origin === 'string') return issue.minimum === 1 ? 'required' : `too short (at least ${plural(issue.minimum, 'character')})`;
      if (issue.origin === 'array' || issue.origin === 'set') return `at least ${plural(issue.minimum, 'entry')} needed`.replace('entrys', 'entries');
      return `at least ${String(issue.minimum)}`;
    case 'invalid_value':
      return `one of: ${issue.values.map(String).join(', ')}`;
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    default:
      return 'not valid here';
  }
}

/** "field: phrase" for the first issue (the shape the client maps to its fields). */
export function describeIssue(issue: z.core.$ZodIssue | undefined, fallbackField: string): string {
  if (issue === undefined) return `${fallbackField}: not valid`;
  const where = issue.path.length === 0 ? fallbackField : issue.path.map(String).join('.');
  return `${where}: ${plainIssue(issue)}`;
}
