// The one rule for combining session policies (machine ceiling, request, approvals): per flag,
// the value that grants less wins. The request service and the approval Lua both use it.
import type { Policy } from '../inventory/schema.ts';

export const POLICY_FLAGS = ['clipboardCopy', 'clipboardPaste', 'fileTransfer', 'readOnly'] as const satisfies readonly (keyof Policy)[];
export type PolicyFlag = (typeof POLICY_FLAGS)[number];

/**
 * Per flag, the value that grants less: no clipboard either way, no files, read-only. The
 * approval script embeds this table, so the web, the chat and the Lua merge agree on it.
 */
export const RESTRICTIVE: Readonly<Policy> = Object.freeze({ clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: true });

/** Whether `value` grants less than, or as much as, `than` for this flag (never more). */
const noLooser = (flag: PolicyFlag, value: boolean, than: boolean): boolean => value === than || value === RESTRICTIVE[flag];

/**
 * The ceiling narrowed by every limit: a flag is restrictive as soon as one of them says so.
 * Absent flags (a partial limit) leave the flag as it is; nothing here can loosen the ceiling.
 */
export function restrictPolicy(ceiling: Policy, ...limits: ReadonlyArray<Partial<Policy> | undefined>): Policy {
  const out: Policy = { ...ceiling };
  for (const limit of limits) {
    if (limit === undefined) continue;
    for (const flag of POLICY_FLAGS) {
      if (limit[flag] === RESTRICTIVE[flag]) out[flag] = RESTRICTIVE[flag];
    }
  }
  return out;
}

/** The flags `asked` explicitly sets to grant more than `than` allows (to refuse them by name). */
export function loosenedFlags(than: Policy, asked: Partial<Policy> | undefined): PolicyFlag[] {
  if (asked === undefined) return [];
  return POLICY_FLAGS.filter((flag) => {
    const want = asked[flag];
    return want !== undefined && !noLooser(flag, want, than[flag]);
  });
}
