// Role, site and company mapping from ID-token claims (pure logic).
import { describe, expect, test } from '@jest/globals';
import { mapClaimsToUser } from './claims.ts';
import { validateIdentity } from '../config.ts';

const identity = validateIdentity(
  {
    providers: [
      { id: 'staff', label: 'Staff', issuer: 'https://staff.example', clientId: 'a' },
      { id: 'vendors', label: 'Vendors', issuer: 'https://vendors.example', clientId: 'b', defaultRoles: ['vendor'], companyClaim: 'org' },
    ],
    groups: {
      'plant-a': { roles: ['approver'], sites: ['site-a'] },
      'plant-b': { roles: ['approver'], sites: ['site-b'] },
      audit: { roles: ['auditor'] },
    },
  },
  'test',
);
const [staff, vendors] = identity.providers;
if (staff === undefined || vendors === undefined) throw new Error('fixture');

describe('mapClaimsToUser', () => {
  test('unions roles and sites of every mapped group, ignoring unknown groups', () => {
    const user = mapClaimsToUser(staff, identity, { sub: 'u1', name: 'U', groups: ['plant-b', 'plant-a', 'audit', 'cafeteria'] });
    expect(user).toMatchObject({ id: 'staff:u1', roles: ['approver', 'auditor'], sites: ['site-a', 'site-b'], company: undefined });
  });

  test('a provider default role needs the company claim', () => {
    expect(mapClaimsToUser(vendors, identity, { sub: 'v', org: 'acme' })).toMatchObject({ roles: ['vendor'], company: 'acme' });
    expect(() => mapClaimsToUser(vendors, identity, { sub: 'v' })).toThrow(expect.objectContaining({ code: 'login_no_company', status: 403 }));
  });

  test('no mapped group means no access', () => {
    expect(() => mapClaimsToUser(staff, identity, { sub: 'x', groups: ['cafeteria'] })).toThrow(expect.objectContaining({ code: 'login_no_role' }));
  });

  test('claims of the wrong type are ignored, not trusted', () => {
    expect(() => mapClaimsToUser(staff, identity, { sub: 'x', groups: { 'plant-a': true } })).toThrow(expect.objectContaining({ code: 'login_no_role' }));
    expect(() => mapClaimsToUser(staff, identity, { sub: 42, groups: ['audit'] })).toThrow(expect.objectContaining({ code: 'login_no_subject' }));
  });

  test('the Entra object id is read only from providers configured for it, bounded like other claims', () => {
    const oid = '2f9d6f2e-5b1c-4e8a-9d3f-0c1a2b3c4d5e';
    const entra = { ...staff, entraObjectIdClaim: 'oid' };
    expect(mapClaimsToUser(staff, identity, { sub: 'u', groups: ['audit'], oid }).entraObjectId).toBeUndefined();
    expect(mapClaimsToUser(entra, identity, { sub: 'u', groups: ['audit'], oid }).entraObjectId).toBe(oid);
    expect(mapClaimsToUser(entra, identity, { sub: 'u', groups: ['audit'] }).entraObjectId).toBeUndefined();
    expect(mapClaimsToUser(entra, identity, { sub: 'u', groups: ['audit'], oid: 'x'.repeat(257) }).entraObjectId).toBeUndefined();
    expect(mapClaimsToUser({ ...staff, entraObjectIdClaim: 'objectid' }, identity, { sub: 'u', groups: ['audit'], oid, objectid: 'other' }).entraObjectId).toBe('other');
  });
});
