// Inventory API: what each role may see of sites and machines, and the admin's editing of
// sites, vendor companies, machines and (write-only) credentials. Every change is audited.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { currentUser } from '../http/current-user.ts';
import type { AirlockUser } from '../user.ts';
import { badRequest, invalidFields, notFound, unauthenticated, type FieldIssue } from '../errors.ts';
import { route, zodIssues } from '../http/validate.ts';
import { assertMayAdminister, seesAllInventory } from '../policies.ts';
import type { AuditLog } from '../audit/store.ts';
import type { Vault } from '../vault/vault.ts';
import type { InventoryStore, WriteExpectation } from './store.ts';
import { presentAdminCompany, presentAdminMachine, presentAdminSite, presentCompanyName, presentMachine, presentSite, type MachineAdminView } from './presenter.ts';
import {
  companySchema,
  credentialSchema,
  hostSchema,
  machineSchema,
  observerSettings,
  portSchema,
  siteSchema,
  siteFilesSchema,
  type Company,
  type InvalidatedAccess,
  type InventoryChange,
  type Machine,
  type Site,
} from './schema.ts';
import { hostKeyFingerprint } from './host-keys.ts';
import { scanHostKeys } from './host-key-scan.ts';
import { guacdReadablePrivateKey } from '../vault/ssh-keys.ts';
import { DEFAULT_TIME_ZONE } from '../plant-time.ts';

const idParam = z.strictObject({ id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a valid id') });

/**
 * If-Match as the inventory reads it: `*` (any existing record) or the versions (`"3"`) the
 * write may replace; absent: unconditional. Weak tags never match (RFC 9110 §13.1.1).
 */
export function parseIfMatch(header: string | undefined): WriteExpectation['ifMatch'] {
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return '*';
  const versions: number[] = [];
  for (const tag of header.split(',').map((t) => t.trim())) {
    const strong = /^"(\d{1,15})"$/.exec(tag);
    if (strong?.[1] !== undefined) versions.push(Number(strong[1]));
    else if (!/^W\/"[^"]*"$/.test(tag)) throw badRequest('invalid_if_match', 'If-Match must be "*" or the version the record had when read, in quotes (its ETag).');
  }
  // Only weak tags: nothing can match, which the store reports as a conflict.
  return versions.length > 0 ? versions : [-1];
}

/** The admin screens send back what they read: the fields the portal works out are dropped. */
function stripReadOnly(body: Record<string, unknown>): Record<string, unknown> {
  const { siteName: _s, siteTimeZone: _z, hasCredential: _h, hostKeyFingerprint: _f, version: _v, id: _i, ...rest } = body;
  for (const optional of ['rdpSecurity', 'hostKey', 'hostKeyPolicy', 'retentionDays', 'stepUpMinutes']) if (rest[optional] === null) delete rest[optional];
  return rest;
}

const nonEmpty = (issues: FieldIssue[]): [FieldIssue, ...FieldIssue[]] => {
  const [first, ...rest] = issues;
  return [first ?? { field: '', code: 'invalid_input', message: 'invalid' }, ...rest];
};

/** Ends what an inventory change invalidates (the request workflow's, injected by app/). */
export type EndInvalidatedAccess = (admin: AirlockUser, change: InventoryChange) => Promise<InvalidatedAccess>;

/** `fresh` re-validates the user with the IdP (identity freshness) before every admin write. */
export function inventoryRoutes(deps: {
  inventory: InventoryStore;
  vault: Vault;
  audit: AuditLog;
  guacdIds: readonly string[];
  endInvalidatedAccess: EndInvalidatedAccess;
  fresh: RequestHandler;
}): Router {
  const { inventory, vault, audit } = deps;
  // After the change is stored (no new request or approval can use it), end what it took away;
  // the admin's audit event then says how much.
  const endAccess = async (admin: AirlockUser, changes: InventoryChange[]): Promise<{ revoked: number; cancelled: number }> => {
    let revoked = 0;
    let cancelled = 0;
    for (const change of changes) {
      const ended = await deps.endInvalidatedAccess(admin, change);
      revoked += ended.revoked.length;
      cancelled += ended.cancelled.length;
    }
    return { revoked, cancelled };
  };
  const router = Router();

  /** Sites the user may see: a vendor's company's sites; everyone else all. */
  async function visibleSites(u: AirlockUser): Promise<Map<string, Site>> {
    const all = await inventory.sites();
    if (seesAllInventory(u)) return new Map(all.map((s) => [s.id, s]));
    const allowed = await inventory.requestableSites(u.company);
    return new Map(all.filter((s) => allowed.has(s.id)).map((s) => [s.id, s]));
  }

  router.get('/api/sites', route({}, async ({ user }) => ({ sites: [...(await visibleSites(user)).values()].map(presentSite) })));

  // Vendor companies by name, so screens show names, not ids: staff see all, a vendor their own.
  router.get(
    '/api/companies',
    route({}, async ({ user }) => {
      const all = await inventory.companies();
      const visible = seesAllInventory(user) ? all : all.filter((c) => c.id === user.company);
      return { companies: visible.map(presentCompanyName) };
    }),
  );

  router.get(
    '/api/machines',
    route({}, async ({ user }) => {
      const sites = await visibleSites(user);
      const machines = (await inventory.machines()).filter((m) => sites.has(m.siteId));
      return { machines: machines.map((m) => presentMachine(m, sites)) };
    }),
  );

  // Everything below /api/admin needs the admin role, as the IdP says now for writes.
  const admin = Router();
  admin.use((req, res, next) => (req.method === 'GET' || req.method === 'HEAD' ? next() : deps.fresh(req, res, next)));
  admin.use((req, _res, next) => {
    const u = currentUser(req);
    if (u === undefined) throw unauthenticated();
    assertMayAdminister(u);
    next();
  });

  const siteMap = async (): Promise<Map<string, Site>> => new Map((await inventory.sites()).map((s) => [s.id, s]));
  const record = (u: AirlockUser, action: string, target: { type: string; id: string }, site: string | null, details: Record<string, unknown> = {}) =>
    audit.append({ actor: { id: u.id, name: u.name }, action, target, outcome: 'ok', reason: null, details, site });

  // Create is POST (409 already_exists on a taken id); edit is PUT, guarded by If-Match when
  // the caller sends it (the admin screens always do), so a stale copy cannot overwrite.
  const saved = <T>(res: Response, version: number, body: T): T => {
    res.setHeader('ETag', `"${version}"`);
    return body;
  };
  /** The record `id` names, or 404 `unknown_<kind>`. */
  const existing = <T>(kind: 'site' | 'company' | 'machine', id: string, record: T | undefined): T => {
    if (record === undefined) throw notFound(`unknown_${kind}`, `No ${kind} "${id}".`);
    return record;
  };
  /** GET /<kinds>/:id: the record as the admin sees it, its version as the ETag an edit names. */
  const getOne = <T extends { id: string }>(kind: 'site' | 'company' | 'machine', load: (id: string) => Promise<T | undefined>, present: (record: T, version: number) => unknown) =>
    route({ params: idParam }, async ({ params, res }) => {
      const record = existing(kind, params.id, await load(params.id));
      const version = await inventory.version(kind, record.id);
      return saved(res, version, { [kind]: await present(record, version) });
    });
  /** GET /<kinds>: every record as the admin sees it, each with its version. */
  const listAll = <T extends { id: string }>(kind: 'site' | 'company', key: string, load: () => Promise<T[]>, present: (record: T, version: number) => unknown) =>
    route({}, async () => {
      const versions = await inventory.versions(kind);
      return { [key]: (await load()).map((r) => present(r, versions.get(r.id) ?? 0)) };
    });
  /** POST /<kinds>: adds the record (409 already_exists on a taken id); the audit event names its site and details. */
  const createOne = <T extends { id: string }>(
    kind: 'site' | 'company' | 'machine',
    checked: (body: Record<string, unknown>) => T | Promise<T>,
    put: (record: T, expect: WriteExpectation) => Promise<number>,
    audited: (record: T) => { site: string | null; details: Record<string, unknown> },
    present: (record: T, version: number) => unknown,
  ) =>
    route({ body: z.looseObject({}) }, async ({ user, body, res }) => {
      const created = await checked(body);
      const version = await put(created, { mode: 'create' });
      const { site, details } = audited(created);
      await record(user, `admin.${kind}.created`, { type: kind, id: created.id }, site, details);
      return saved(res, version, { [kind]: await present(created, version) });
    }, 201);
  /** DELETE /<kinds>/:id (If-Match guarded), then ends the access it took away; the audit event counts what ended. */
  const deleteOne = (kind: 'site' | 'company', remove: (id: string, ifMatch: WriteExpectation['ifMatch']) => Promise<unknown>, change: (id: string) => InventoryChange, site: (id: string) => string | null) =>
    route({ params: idParam }, async ({ user, params, req }) => {
      await remove(params.id, parseIfMatch(req.get('if-match')));
      const ended = await endAccess(user, [change(params.id)]);
      await record(user, `admin.${kind}.deleted`, { type: kind, id: params.id }, site(params.id), ended);
      return undefined;
    });
  const replace = (req: Request): WriteExpectation => {
    const ifMatch = parseIfMatch(req.get('if-match'));
    return ifMatch === undefined ? { mode: 'replace' } : { mode: 'replace', ifMatch };
  };
  /** PUT /<kinds>/:id (If-Match guarded): replaces the record, then ends the access the change took away; the audit event names its site and details. */
  const updateOne = <T extends { id: string }>(
    kind: 'company' | 'machine',
    checked: (body: Record<string, unknown>) => Promise<T>,
    store: { load: (id: string) => Promise<T | undefined>; put: (record: T, expect: WriteExpectation) => Promise<number> },
    changes: (record: T, before: T | undefined) => InventoryChange[],
    audited: (record: T, before: T | undefined, ended: { revoked: number; cancelled: number }) => { site: string | null; details: Record<string, unknown> },
    present: (record: T, version: number) => unknown,
  ) =>
    route({ params: idParam, body: z.looseObject({}) }, async ({ user, params, body, req, res }) => {
      const updated = await checked({ ...stripReadOnly(body), id: params.id });
      const before = await store.load(updated.id);
      const version = await store.put(updated, replace(req));
      const ended = await endAccess(user, changes(updated, before));
      const { site, details } = audited(updated, before, ended);
      await record(user, `admin.${kind}.saved`, { type: kind, id: updated.id }, site, details);
      return saved(res, version, { [kind]: await present(updated, version) });
    });

  /** Every problem with a site body, the schema's and the store's, in one 400. */
  const checkedSite = (raw: unknown): Site => {
    const parsed = siteSchema.safeParse(raw ?? {});
    if (parsed.success) return parsed.data;
    throw invalidFields(nonEmpty(zodIssues(parsed.error, 'body')));
  };
  admin.get('/sites', listAll('site', 'sites', () => inventory.sites(), presentAdminSite));
  admin.get('/sites/:id', getOne('site', (id) => inventory.site(id), presentAdminSite));
  admin.post(
    '/sites',
    createOne('site', checkedSite, (site, expect) => inventory.putSite(site, expect), (site) => ({ site: site.id, details: { name: site.name } }), presentAdminSite),
  );
  admin.put(
    '/sites/:id',
    route({ params: idParam, body: z.looseObject({}) }, async ({ user, params, body, req, res }) => {
      // A body without a time zone keeps the site's (screens that edit the name do not send it).
      const given = stripReadOnly(body);
      const timeZone = typeof given['timeZone'] === 'string' ? given['timeZone'] : ((await inventory.site(params.id))?.timeZone ?? DEFAULT_TIME_ZONE);
      // Nor does one without file-airlock rules drop the site's (its own route edits them).
      const files = given['files'] ?? (await inventory.site(params.id))?.files;
      const site = checkedSite({ ...given, id: params.id, timeZone, ...(files === undefined ? {} : { files }) });
      const version = await inventory.putSite(site, replace(req));
      await record(user, 'admin.site.saved', { type: 'site', id: site.id }, site.id, { name: site.name });
      return saved(res, version, { site: presentAdminSite(site, version) });
    }),
  );
  admin.put(
    '/sites/:id/time-zone',
    route({ params: idParam, body: z.strictObject({ timeZone: siteSchema.shape.timeZone.unwrap() }) }, async ({ user, params, body }) => {
      const before = existing('site', params.id, await inventory.site(params.id));
      const site = { ...before, timeZone: body.timeZone };
      const version = await inventory.putSite(site);
      await record(user, 'admin.site.saved', { type: 'site', id: site.id }, site.id, { name: site.name, timeZone: site.timeZone, from: before.timeZone });
      return { site: presentAdminSite(site, version) };
    }),
  );
  admin.put(
    '/sites/:id/files',
    route({ params: idParam, body: siteFilesSchema }, async ({ user, params, body }) => {
      const before = await inventory.site(params.id);
      if (before === undefined) throw notFound('unknown_site', `No site "${params.id}".`);
      const site = { ...before, files: body };
      const version = await inventory.putSite(site);
      await record(user, 'admin.site.saved', { type: 'site', id: site.id }, site.id, { name: site.name, files: body });
      return { site: presentAdminSite(site, version) };
    }),
  );
  admin.delete(
    '/sites/:id',
    deleteOne('site', (id, ifMatch) => inventory.deleteSite(id, ifMatch), (siteId) => ({ kind: 'site_deleted', siteId }), (id) => id),
  );

  /** Every problem with a company body, unknown sites included, in one 400. */
  const checkedCompany = async (raw: unknown): Promise<Company> => {
    const parsed = companySchema.safeParse(raw ?? {});
    const issues = parsed.success ? [] : zodIssues(parsed.error, 'body');
    const listed = (raw as { sites?: unknown }).sites;
    if (!issues.some((i) => i.field === 'sites' || i.field.startsWith('sites.')) && Array.isArray(listed)) {
      const known = await siteMap();
      const unknown = listed.filter((s): s is string => typeof s === 'string' && !known.has(s));
      if (unknown.length > 0) issues.push({ field: 'sites', code: 'unknown_site', message: `No site ${unknown.map((s) => `"${s}"`).join(', ')}.` });
    }
    if (issues.length > 0 || !parsed.success) throw invalidFields(nonEmpty(issues));
    return parsed.data;
  };
  admin.get('/companies', listAll('company', 'companies', () => inventory.companies(), presentAdminCompany));
  admin.get('/companies/:id', getOne('company', (id) => inventory.company(id), presentAdminCompany));
  admin.post(
    '/companies',
    createOne(
      'company',
      checkedCompany,
      (company, expect) => inventory.putCompany(company, expect),
      (company) => ({ site: null, details: { name: company.name, sites: company.sites.join(',') } }),
      presentAdminCompany,
    ),
  );
  /** Sites taken off a company: its vendors' access there ends. */
  const sitesRemoved = (company: Company, before: Company | undefined): InventoryChange[] => {
    const removed = (before?.sites ?? []).filter((site) => !company.sites.includes(site));
    return removed.length === 0 ? [] : [{ kind: 'company_sites_removed', companyId: company.id, sites: removed }];
  };
  admin.put(
    '/companies/:id',
    updateOne('company', checkedCompany, { load: (id) => inventory.company(id), put: (company, expect) => inventory.putCompany(company, expect) }, sitesRemoved, (company, _before, ended) => ({ site: null, details: { name: company.name, sites: company.sites.join(','), ...ended } }), presentAdminCompany),
  );
  admin.delete(
    '/companies/:id',
    deleteOne('company', (id, ifMatch) => inventory.deleteCompany(id, ifMatch), (companyId) => ({ kind: 'company_deleted', companyId }), () => null),
  );

  const machineView = async (m: Machine, version: number): Promise<MachineAdminView> => presentAdminMachine(m, await siteMap(), await vault.has(m.id), version);
  /** Every problem with a machine body, an unknown site or guacd included, in one 400. */
  const checkedMachine = async (raw: Record<string, unknown>): Promise<Machine> => {
    const parsed = machineSchema.safeParse(raw);
    const issues = parsed.success ? [] : zodIssues(parsed.error, 'body');
    const flagged = (field: string): boolean => issues.some((i) => i.field === field);
    const siteId = raw['siteId'];
    if (!flagged('siteId') && typeof siteId === 'string' && (await inventory.site(siteId)) === undefined) {
      issues.push({ field: 'siteId', code: 'unknown_site', message: `No site "${siteId}".` });
    }
    const guacd = raw['guacd'] ?? 'default';
    if (!flagged('guacd') && typeof guacd === 'string' && !deps.guacdIds.includes(guacd)) {
      issues.push({ field: 'guacd', code: 'unknown_guacd', message: `No guacd "${guacd}" is configured.` });
    }
    if (issues.length > 0 || !parsed.success) throw invalidFields(nonEmpty(issues));
    return parsed.data;
  };
  /** The site a machine's edit moved it from, or null. */
  const movedFrom = (machine: Machine, before: Machine | undefined): string | null => (before !== undefined && before.siteId !== machine.siteId ? before.siteId : null);
  /** A machine moved to another site: grants were approved by the former site's managers for vendors admitted there, so they end. */
  const machineMoved = (machine: Machine, before: Machine | undefined): InventoryChange[] => {
    const from = movedFrom(machine, before);
    return from === null ? [] : [{ kind: 'machine_moved', machineId: machine.id, fromSite: from, toSite: machine.siteId }];
  };
  /** A machine's edit on the record: its shape, and where it moved from with what that ended. */
  const machineSaved = (machine: Machine, before: Machine | undefined, ended: { revoked: number; cancelled: number }) => {
    const from = movedFrom(machine, before);
    return { site: machine.siteId, details: { ...machineDetails(machine, before), ...(from === null ? {} : { movedFrom: from, ...ended }) } };
  };
  /** What an audit event says of a machine's change: its shape, and its host key by fingerprint. */
  const machineDetails = (machine: Machine, before: Machine | undefined): Record<string, unknown> => ({
    protocol: machine.protocol,
    requiredApprovals: machine.requiredApprovals,
    maxWindowMinutes: machine.maxWindowMinutes,
    stepUpMinutes: machine.stepUpMinutes ?? null,
    observer: machine.observer ?? 'none',
    ...(machine.observer === 'required' ? { observerGraceSeconds: observerSettings(machine).graceSeconds, observerLimitMinutes: observerSettings(machine).limitMinutes } : {}),
    ...(machine.protocol === 'ssh' && (before === undefined || before.hostKey !== machine.hostKey || before.hostKeyPolicy !== machine.hostKeyPolicy)
      ? { hostKey: machine.hostKey === undefined ? null : hostKeyFingerprint(machine.hostKey), hostKeyPolicy: machine.hostKeyPolicy ?? 'pinned' }
      : {}),
  });

  admin.get(
    '/machines',
    route({}, async () => {
      const sites = await siteMap();
      const machines = await inventory.machines();
      const versions = await inventory.versions('machine');
      const withCredential = await Promise.all(machines.map((m) => vault.has(m.id)));
      return { machines: machines.map((m, i) => presentAdminMachine(m, sites, withCredential[i] ?? false, versions.get(m.id) ?? 0)) };
    }),
  );
  admin.get('/machines/:id', getOne('machine', (id) => inventory.machine(id), machineView));
  admin.post(
    '/machines',
    createOne(
      'machine',
      (body) => checkedMachine({ ...stripReadOnly(body), id: body['id'] }),
      (machine, expect) => inventory.putMachine(machine, expect),
      (machine) => ({ site: machine.siteId, details: machineDetails(machine, undefined) }),
      machineView,
    ),
  );
  admin.put(
    '/machines/:id',
    updateOne('machine', checkedMachine, { load: (id) => inventory.machine(id), put: (machine, expect) => inventory.putMachine(machine, expect) }, machineMoved, machineSaved, machineView),
  );
  admin.delete(
    '/machines/:id',
    route({ params: idParam }, async ({ user, params, req }) => {
      const machine = await inventory.machine(params.id);
      await inventory.deleteMachine(params.id, parseIfMatch(req.get('if-match')));
      await vault.remove(params.id);
      const ended = await endAccess(user, [{ kind: 'machine_deleted', machineId: params.id }]);
      await record(user, 'admin.machine.deleted', { type: 'machine', id: params.id }, machine?.siteId ?? null, ended);
      return undefined;
    }),
  );
  admin.put(
    '/machines/:id/credential',
    route({ params: idParam, body: credentialSchema }, async ({ user, params, body }) => {
      const machine = existing('machine', params.id, await inventory.machine(params.id));
      if (body.privateKey !== undefined && machine.protocol !== 'ssh') {
        throw invalidFields([{ field: 'privateKey', code: 'invalid_input', message: `Private keys are for SSH machines; ${machine.name} uses ${machine.protocol.toUpperCase()}.` }]);
      }
      // A key guacd cannot read is refused now (400 unsupported_key_format / encrypted_private_key),
      // not at the vendor's session; OpenSSH and PKCS#8 RSA keys are stored as the PEM guacd 1.3 reads.
      const credential = body.privateKey === undefined ? body : { ...body, privateKey: guacdReadablePrivateKey(body.privateKey) };
      await vault.store(params.id, credential);
      // The audit says that it changed and what kind it is, never what it is.
      await record(user, 'admin.credential.set', { type: 'machine', id: params.id }, machine.siteId, {
        kind: body.privateKey === undefined ? 'password' : 'private-key',
      });
      return undefined;
    }),
  );
  // Reads the host keys an SSH server presents, for the admin to confirm and pin; saves nothing.
  admin.post(
    '/ssh-host-keys/scan',
    route({ body: z.strictObject({ host: hostSchema, port: portSchema.default(22) }) }, async ({ body }) => scanHostKeys(body.host, body.port)),
  );

  router.use('/api/admin', admin);
  return router;
}
