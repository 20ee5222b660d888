// The authorization rules of policies.ts, each with who it allows and who it refuses.
import { describe, expect, test } from '@jest/globals';
import type { Role } from './config.ts';
import { AppError } from './errors.ts';
import type { AirlockUser } from './user.ts';
import {
  assertMayAdminister,
  assertMayCancel,
  assertMayDecide,
  assertMayHoldRecordings,
  assertMayListAllRequests,
  assertMayReadAudit,
  assertMayReadRecordings,
  assertMayRequest,
  assertMayRevoke,
  assertMayTerminateSession,
  canSeeRequest,
  decisionSites,
  isRequester,
  mayDecide,
  mayOverseeSession,
  mayReadRecording,
  maySeeLiveSession,
  recordingSites,
  requestListSites,
  seesAllInventory,
} from './policies.ts';

function user(id: string, roles: Role[], sites: string[] = []): AirlockUser {
  return { id, provider: 'test', subject: id, name: id, email: undefined, roles, sites, company: roles.includes('vendor') ? 'acme' : undefined, entraObjectId: undefined };
}

const vendor = user('vera', ['vendor']);
const otherVendor = user('otto', ['vendor']);
const managerA = user('mia', ['approver'], ['site-a']);
const managerB = user('ben', ['approver'], ['site-b']);
const managerAB = user('abe', ['approver'], ['site-a', 'site-b']);
const siteless = user('sam', ['approver']);
const auditor = user('ada', ['auditor']);
const admin = user('alf', ['admin']);
/** A vendor who also manages a site: still never decides their own request. */
const vendorManager = user('vic', ['vendor', 'approver'], ['site-a']);

const request = { siteId: 'site-a', requesterId: vendor.id };
const ownRequest = { siteId: 'site-a', requesterId: vendorManager.id };
const liveSession = { machine: { siteId: 'site-a' }, user: { id: vendor.id } };

/** The refusal's code, or undefined when the check passes. */
function refusal(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    expect(err.status).toBe(403);
    return err.code;
  }
}

describe('access requests', () => {
  test('only vendors file requests', () => {
    expect(refusal(() => assertMayRequest(vendor))).toBeUndefined();
    for (const u of [managerA, auditor, admin]) expect(refusal(() => assertMayRequest(u))).toBe('forbidden');
  });

  test('a request is seen by its requester, its site’s managers, auditors and admins', () => {
    for (const u of [vendor, managerA, managerAB, auditor, admin]) expect(canSeeRequest(u, request)).toBe(true);
    for (const u of [otherVendor, managerB, siteless]) expect(canSeeRequest(u, request)).toBe(false);
  });

  test('listing all requests is for approvers, auditors and admins, each over their sites', () => {
    for (const u of [managerA, siteless, auditor, admin]) expect(refusal(() => assertMayListAllRequests(u))).toBeUndefined();
    expect(refusal(() => assertMayListAllRequests(vendor))).toBe('forbidden');
    expect(requestListSites(auditor)).toBeUndefined();
    expect(requestListSites(admin)).toBeUndefined();
    expect(requestListSites(managerAB)).toEqual(['site-a', 'site-b']);
    expect(requestListSites(vendor)).toEqual([]);
  });

  test('a plant manager of the site decides, never the requester', () => {
    expect(mayDecide(managerA, request)).toBe(true);
    expect(refusal(() => assertMayDecide(managerA, request))).toBeUndefined();
    for (const u of [managerB, siteless, auditor, admin, vendor]) expect(mayDecide(u, request)).toBe(false);
    expect(refusal(() => assertMayDecide(managerB, request))).toBe('not_site_approver');
    expect(refusal(() => assertMayDecide(admin, request))).toBe('not_site_approver');
    expect(mayDecide(vendorManager, ownRequest)).toBe(false);
    expect(refusal(() => assertMayDecide(vendorManager, ownRequest))).toBe('own_request');
    expect(decisionSites(managerAB)).toEqual(['site-a', 'site-b']);
    expect(decisionSites(auditor)).toEqual([]);
    expect(decisionSites(user('odd', ['vendor'], ['site-a']))).toEqual([]);
  });

  test('only the requester cancels or asks for an extension', () => {
    expect(isRequester(vendor, request)).toBe(true);
    expect(refusal(() => assertMayCancel(vendor, request))).toBeUndefined();
    for (const u of [otherVendor, managerA, admin]) {
      expect(isRequester(u, request)).toBe(false);
      expect(refusal(() => assertMayCancel(u, request))).toBe('not_requester');
    }
  });

  test('a grant is revoked by a plant manager of its site or an admin', () => {
    for (const u of [managerA, admin]) expect(refusal(() => assertMayRevoke(u, request))).toBeUndefined();
    for (const u of [managerB, auditor, vendor]) expect(refusal(() => assertMayRevoke(u, request))).toBe('not_site_approver');
  });
});

describe('live sessions', () => {
  test('a plant manager of the site or an admin watches and terminates', () => {
    for (const u of [managerA, managerAB, admin]) {
      expect(mayOverseeSession(u, liveSession)).toBe(true);
      expect(refusal(() => assertMayTerminateSession(u, liveSession))).toBeUndefined();
    }
    for (const u of [managerB, auditor, vendor]) {
      expect(mayOverseeSession(u, liveSession)).toBe(false);
      expect(refusal(() => assertMayTerminateSession(u, liveSession))).toBe('not_site_approver');
    }
  });

  test('the list shows auditors every session, overseers theirs, a vendor their own', () => {
    for (const u of [auditor, admin, managerA, vendor]) expect(maySeeLiveSession(u, liveSession)).toBe(true);
    for (const u of [managerB, otherVendor, siteless]) expect(maySeeLiveSession(u, liveSession)).toBe(false);
  });
});

describe('recordings', () => {
  test('auditors and admins read every site, plant managers their own, vendors none', () => {
    for (const u of [auditor, admin, managerA, siteless]) expect(refusal(() => assertMayReadRecordings(u))).toBeUndefined();
    expect(refusal(() => assertMayReadRecordings(vendor))).toBe('forbidden');
    expect(recordingSites(auditor)).toBeUndefined();
    expect(recordingSites(admin)).toBeUndefined();
    expect(recordingSites(managerAB)).toEqual(['site-a', 'site-b']);
    expect(refusal(() => recordingSites(vendor))).toBe('forbidden');
    for (const u of [auditor, admin, managerA]) expect(mayReadRecording(u, { siteId: 'site-a' })).toBe(true);
    for (const u of [managerB, siteless, vendor]) expect(mayReadRecording(u, { siteId: 'site-a' })).toBe(false);
  });

  test('legal holds are placed and released by auditors and admins', () => {
    for (const change of ['place', 'release'] as const) {
      for (const u of [auditor, admin]) expect(refusal(() => assertMayHoldRecordings(u, change))).toBeUndefined();
      for (const u of [managerA, vendor]) expect(refusal(() => assertMayHoldRecordings(u, change))).toBe('forbidden');
    }
  });
});

describe('audit log, inventory, administration', () => {
  test('the audit log is read by auditors and admins', () => {
    for (const u of [auditor, admin]) expect(refusal(() => assertMayReadAudit(u))).toBeUndefined();
    for (const u of [managerA, vendor]) expect(refusal(() => assertMayReadAudit(u))).toBe('forbidden');
  });

  test('approvers, auditors and admins see the whole inventory; vendors their company’s part', () => {
    for (const u of [managerA, siteless, auditor, admin]) expect(seesAllInventory(u)).toBe(true);
    expect(seesAllInventory(vendor)).toBe(false);
  });

  test('only admins administer', () => {
    expect(refusal(() => assertMayAdminister(admin))).toBeUndefined();
    for (const u of [auditor, managerA, vendor]) expect(refusal(() => assertMayAdminister(u))).toBe('forbidden');
  });
});
