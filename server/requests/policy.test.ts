// The restrictive merge of session policies over its whole table: flag × machine ceiling ×
// requested × approved. Written as R (the value that grants less) and P (the one that grants
// more) so one truth table covers the three "false is safe" flags and read-only alike.
import { describe, expect, test } from '@jest/globals';
import type { Policy } from '../inventory/schema.ts';
import { loosenedFlags, POLICY_FLAGS, restrictPolicy, RESTRICTIVE, type PolicyFlag } from './policy.ts';
import { POLICY_TABLE, type Asked, type Outcome, type Side } from '../../test/support/policy-table.ts';

const TABLE = POLICY_TABLE;

const value = (flag: PolicyFlag, side: Side): boolean => (side === 'R' ? RESTRICTIVE[flag] : !RESTRICTIVE[flag]);
/** A policy that grants everything but `flag`, which is set to `side`: the other flags must not interfere. */
const ceilingWith = (flag: PolicyFlag, side: Side): Policy => ({ clipboardCopy: true, clipboardPaste: true, fileTransfer: true, readOnly: false, [flag]: value(flag, side) });
const partial = (flag: PolicyFlag, asked: Asked): Partial<Policy> | undefined => (asked === '-' ? undefined : { [flag]: value(flag, asked) });

/** The request service's two steps, as it runs them (requestedPolicy, then approve). */
function outcome(flag: PolicyFlag, ceiling: Side, requested: Asked, approved: Asked): { outcome: Outcome; grant?: Policy } {
  const machine = ceilingWith(flag, ceiling);
  if (loosenedFlags(machine, partial(flag, requested)).length > 0) return { outcome: 'refused at request' };
  const filed = restrictPolicy(machine, partial(flag, requested));
  if (loosenedFlags(filed, partial(flag, approved)).length > 0) return { outcome: 'refused at approval' };
  const grant = restrictPolicy(machine, filed, partial(flag, approved));
  return { outcome: grant[flag] === RESTRICTIVE[flag] ? 'R' : 'P', grant };
}

describe('restrictive policy merge', () => {
  for (const flag of POLICY_FLAGS) {
    test.each(TABLE)(`${flag}: ceiling %s, requested %s, approved %s → %s`, (ceiling, requested, approved, expected) => {
      const result = outcome(flag, ceiling, requested, approved);
      expect(result.outcome).toBe(expected);
      // The other flags keep the ceiling's (permissive) values: one flag never moves another.
      if (result.grant !== undefined) {
        for (const other of POLICY_FLAGS.filter((f) => f !== flag)) expect(result.grant[other]).toBe(!RESTRICTIVE[other]);
      }
    });
  }

  test('read-only is the restrictive value of readOnly, false of every other flag', () => {
    expect(RESTRICTIVE).toEqual({ clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: true });
  });

  test('several approvals narrow together, each flag on its own', () => {
    const ceiling: Policy = { clipboardCopy: true, clipboardPaste: true, fileTransfer: true, readOnly: false };
    expect(restrictPolicy(ceiling, { clipboardCopy: false }, { readOnly: true }, { fileTransfer: true, clipboardPaste: true })).toEqual({
      clipboardCopy: false,
      clipboardPaste: true,
      fileTransfer: true,
      readOnly: true,
    });
    expect(restrictPolicy(RESTRICTIVE, { clipboardCopy: true, clipboardPaste: true, fileTransfer: true, readOnly: false })).toEqual(RESTRICTIVE);
  });

  test('a limit names every flag it loosens', () => {
    expect(loosenedFlags(RESTRICTIVE, { clipboardCopy: true, readOnly: false, fileTransfer: false })).toEqual(['clipboardCopy', 'readOnly']);
    expect(loosenedFlags(RESTRICTIVE, undefined)).toEqual([]);
  });
});
