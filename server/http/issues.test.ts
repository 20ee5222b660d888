// Validation problems read as plain words, the field still named first (the client maps
// "field: …" to its form fields); messages a schema wrote itself are left alone.
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { describeIssue } from './issues.ts';

const first = (schema: z.ZodType, value: unknown) => describeIssue(schema.safeParse(value).error?.issues[0], 'body');

describe('plain validation messages', () => {
  test.each<[string, z.ZodType, unknown, string]>([
    ['a malformed id', z.strictObject({ id: z.uuid() }), { id: 'abc' }, 'id: not a valid id'],
    ['a missing field', z.strictObject({ reason: z.string() }), {}, 'reason: required'],
    ['a wrong type', z.strictObject({ port: z.number() }), { port: 'x' }, 'port: a number is expected'],
    ['too long', z.strictObject({ reason: z.string().max(5) }), { reason: 'abcdefgh' }, 'reason: too long (at most 5 characters)'],
    ['empty', z.strictObject({ name: z.string().min(1) }), { name: '' }, 'name: required'],
    ['a number too large', z.strictObject({ limit: z.number().max(500) }), { limit: 501 }, 'limit: at most 500'],
    ['not one of', z.strictObject({ scope: z.enum(['mine', 'all']) }), { scope: 'x' }, 'scope: one of: mine, all'],
    ['an unknown field', z.strictObject({}), { hostname: 'h' }, 'body: unknown field(s): hostname'],
    ['a date-time', z.strictObject({ at: z.iso.datetime() }), { at: 'tomorrow' }, 'at: not a date and time with a time zone (like 2026-11-26T09:00:00+01:00)'],
    ['the schema\u2019s own words', z.strictObject({ reason: z.string().trim().min(1, 'a reason is required') }), { reason: ' ' }, 'reason: a reason is required'],
  ])('%s', (_name, schema, value, message) => {
    expect(first(schema, value)).toBe(message);
  });
});
