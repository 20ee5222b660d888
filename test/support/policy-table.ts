// The restrictive merge of session policies as a truth table, for the unit test of the merge
// (server/requests/policy.test.ts) and the one through the API, service and Lua
// (test/requests-policy.test.ts): R is the value of a flag that grants less, P the one that grants more.

export type Side = 'R' | 'P';
export type Asked = Side | '-';
/** What happens to one flag: refused when filed, refused when approved, or the granted value. */
export type Outcome = 'refused at request' | 'refused at approval' | Side;

/**
 * The rule, spelled out row by row rather than computed: a request may not ask for more than
 * the ceiling, an approval not for more than the request; otherwise one R anywhere makes it R.
 */
export const POLICY_TABLE: ReadonlyArray<[ceiling: Side, requested: Asked, approved: Asked, outcome: Outcome]> = [
  ['P', '-', '-', 'P'],
  ['P', '-', 'P', 'P'],
  ['P', '-', 'R', 'R'],
  ['P', 'P', '-', 'P'],
  ['P', 'P', 'P', 'P'],
  ['P', 'P', 'R', 'R'],
  ['P', 'R', '-', 'R'],
  ['P', 'R', 'P', 'refused at approval'],
  ['P', 'R', 'R', 'R'],
  ['R', '-', '-', 'R'],
  ['R', '-', 'P', 'refused at approval'],
  ['R', '-', 'R', 'R'],
  ['R', 'P', '-', 'refused at request'],
  ['R', 'P', 'P', 'refused at request'],
  ['R', 'P', 'R', 'refused at request'],
  ['R', 'R', '-', 'R'],
  ['R', 'R', 'P', 'refused at approval'],
  ['R', 'R', 'R', 'R'],
];
