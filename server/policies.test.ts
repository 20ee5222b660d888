// The authorization rules of policies.ts, each with who it allows and who it refuses.
import { describe, expect, test } from '@jest/globals';
import type { Role } from './config.ts';
import { AppError } from './errors.ts';
import type { AirlockUser } from './user.ts';
import {
  assertMayAdminister,
  assertMayCancel,
  assertMayDecide,
  assertMayDecideFile,
  assertMayObserve,
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
const observerA = user('oli', ['observer'], ['site-a']);
/** A vendor who also manages a site: still never decides their own request. */
const vendorManager = user('vic', ['vendor', 'approver'], ['site-a']);

const request = { siteId: 'site-a', requesterId: vendor.id };
const ownRequest = { siteId: 'site-a', requesterId: vendorManager.id };
const liveSession = { machine: { siteId: 'site-a' }, user: { id: vendor.id } };

/** A rule's answer for one user: true when it allows, false or the refusal's code when it does not. */
function verdict(rule: (u: AirlockUser) => boolean | void, u: AirlockUser): boolean | string {
  try {
    return rule(u) ?? true;
  } catch (err) {
    if (!(err instanceof AppError) || err.status !== 403) throw err;
    return err.code;
  }
}

/** The rule allows everyone in `allowed` and refuses everyone in `refused` (with `code`, for an assert). */
function expectRule(rule: (u: AirlockUser) => boolean | void, allowed: AirlockUser[], refused: AirlockUser[], code?: string): void {
  expect(Object.fromEntries(allowed.map((u) => [u.id, verdict(rule, u)]))).toEqual(Object.fromEntries(allowed.map((u) => [u.id, true])));
  expect(Object.fromEntries(refused.map((u) => [u.id, verdict(rule, u)]))).toEqual(Object.fromEntries(refused.map((u) => [u.id, code ?? false])));
}

describe('access requests', () => {
  test('only vendors file requests', () => {
    expectRule(assertMayRequest, [vendor, vendorManager], [managerA, auditor, admin], 'forbidden');
  });

  test('a request is seen by its requester, its site’s managers, auditors and admins', () => {
    expectRule((u) => canSeeRequest(u, request), [vendor, managerA, managerAB, auditor, admin], [otherVendor, managerB, siteless]);
  });

  test('listing all requests is for approvers, auditors and admins, each over their sites', () => {
    expectRule(assertMayListAllRequests, [managerA, siteless, auditor, admin], [vendor], 'forbidden');
    expect(requestListSites(auditor)).toBeUndefined();
    expect(requestListSites(admin)).toBeUndefined();
    expect(requestListSites(managerAB)).toEqual(['site-a', 'site-b']);
    expect(requestListSites(vendor)).toEqual([]);
  });

  test('a plant manager of the site decides, never the requester', () => {
    expectRule((u) => mayDecide(u, request), [managerA, managerAB], [managerB, siteless, auditor, admin, vendor]);
    expectRule((u) => assertMayDecide(u, request), [managerA, managerAB], [managerB, siteless, auditor, admin], 'not_site_approver');
    expectRule((u) => mayDecide(u, ownRequest), [managerA], [vendorManager]);
    expectRule((u) => assertMayDecide(u, ownRequest), [managerA], [vendorManager], 'own_request');
    expect(decisionSites(managerAB)).toEqual(['site-a', 'site-b']);
    expect(decisionSites(auditor)).toEqual([]);
    expect(decisionSites(user('odd', ['vendor'], ['site-a']))).toEqual([]);
  });

  test('only the requester cancels or asks for an extension', () => {
    expectRule((u) => isRequester(u, request), [vendor], [otherVendor, managerA, admin]);
    expectRule((u) => assertMayCancel(u, request), [vendor], [otherVendor, managerA, admin], 'not_requester');
  });

  test('a grant is revoked by a plant manager of its site or an admin', () => {
    expectRule((u) => assertMayRevoke(u, request), [managerA, admin], [managerB, auditor, vendor], 'not_site_approver');
  });
});

describe('live sessions', () => {
  test('a plant manager of the site or an admin watches and terminates', () => {
    expectRule((u) => mayOverseeSession(u, liveSession), [managerA, managerAB, admin], [managerB, auditor, vendor]);
    expectRule((u) => assertMayTerminateSession(u, liveSession), [managerA, managerAB, admin], [managerB, auditor, vendor], 'not_site_approver');
  });

  test('the list shows auditors every session, overseers theirs, a vendor their own', () => {
    expectRule((u) => maySeeLiveSession(u, liveSession), [auditor, admin, managerA, vendor], [managerB, otherVendor, siteless]);
  });
});

describe('required observer and file airlock', () => {
  test('a plant manager or an observer of the site observes; never the vendor', () => {
    expectRule((u) => assertMayObserve(u, liveSession), [managerA, observerA], [managerB, auditor, vendor], 'not_site_observer');
  });

  // Regression: the file rule reused the oversee rule, which let an observer release files.
  test('a plant manager of the site (or an admin) releases a file; an observer watches but decides none', () => {
    expectRule((u) => assertMayDecideFile(u, liveSession), [managerA, admin], [managerB, observerA, auditor], 'not_site_approver');
    expect(verdict((u) => assertMayDecideFile(u, liveSession), vendor)).toBe('own_file');
  });
});

describe('recordings', () => {
  test('auditors and admins read every site, plant managers their own, vendors none', () => {
    expectRule(assertMayReadRecordings, [auditor, admin, managerA, siteless], [vendor], 'forbidden');
    expect(recordingSites(auditor)).toBeUndefined();
    expect(recordingSites(admin)).toBeUndefined();
    expect(recordingSites(managerAB)).toEqual(['site-a', 'site-b']);
    expectRule((u) => void recordingSites(u), [managerA], [vendor], 'forbidden');
    expectRule((u) => mayReadRecording(u, { siteId: 'site-a' }), [auditor, admin, managerA], [managerB, siteless, vendor]);
  });

  test('legal holds are placed and released by auditors and admins', () => {
    expectRule((u) => assertMayHoldRecordings(u, 'place'), [auditor, admin], [managerA, vendor], 'forbidden');
    expectRule((u) => assertMayHoldRecordings(u, 'release'), [auditor, admin], [managerA, vendor], 'forbidden');
  });
});

describe('audit log, inventory, administration', () => {
  test('the audit log is read by auditors and admins', () => {
    expectRule(assertMayReadAudit, [auditor, admin], [managerA, vendor], 'forbidden');
  });

  test('approvers, auditors and admins see the whole inventory; vendors their company’s part', () => {
    expectRule(seesAllInventory, [managerA, siteless, auditor, admin], [vendor]);
  });

  test('only admins administer', () => {
    expectRule(assertMayAdminister, [admin], [auditor, managerA, vendor], 'forbidden');
  });
});
