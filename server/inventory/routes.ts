// Inventory API: what each role may see of sites and machines, and the admin's editing of
// sites, vendor companies, machines and (write-only) credentials. Every change is audited.
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { currentUser } from '../http/current-user.ts';
import type { AirlockUser } from '../user.ts';
import { badRequest, notFound, unauthenticated } from '../errors.ts';
import { parseInput, route } from '../http/validate.ts';
import { assertMayAdminister, seesAllInventory } from '../policies.ts';
import type { AuditLog } from '../audit/store.ts';
import type { Vault } from '../vault/vault.ts';
import type { InventoryStore } from './store.ts';
import { presentAdminMachine, presentAdminSite, presentCompany, presentCompanyName, presentMachine, presentSite } from './presenter.ts';
import { companySchema, credentialSchema, machineSchema, siteSchema, type InvalidatedAccess, type InventoryChange, type Site } from './schema.ts';
import { DEFAULT_TIME_ZONE } from '../plant-time.ts';

/** PUT /api/admin/sites/:id: the time zone may be left out (kept as it is). */
const siteBody = siteSchema.omit({ id: true }).extend({ timeZone: siteSchema.shape.timeZone.unwrap().optional() });

const idParam = z.strictObject({ id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a valid id') });

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

  admin.get('/sites', route({}, async () => ({ sites: (await inventory.sites()).map(presentAdminSite) })));
  admin.put(
    '/sites/:id',
    route({ params: idParam, body: siteBody }, async ({ user, params, body }) => {
      // A body without a time zone keeps the site's (screens that edit the name do not send it).
      const site = { ...body, id: params.id, timeZone: body.timeZone ?? (await inventory.site(params.id))?.timeZone ?? DEFAULT_TIME_ZONE };
      await inventory.putSite(site);
      await record(user, 'admin.site.saved', { type: 'site', id: site.id }, site.id, { name: site.name });
      return { site: presentAdminSite(site) };
    }),
  );
  admin.put(
    '/sites/:id/time-zone',
    route({ params: idParam, body: z.strictObject({ timeZone: siteSchema.shape.timeZone.unwrap() }) }, async ({ user, params, body }) => {
      const before = await inventory.site(params.id);
      if (before === undefined) throw notFound('unknown_site', `No site "${params.id}".`);
      const site = { ...before, timeZone: body.timeZone };
      await inventory.putSite(site);
      await record(user, 'admin.site.saved', { type: 'site', id: site.id }, site.id, { name: site.name, timeZone: site.timeZone, from: before.timeZone });
      return { site: presentAdminSite(site) };
    }),
  );
  admin.delete(
    '/sites/:id',
    route({ params: idParam }, async ({ user, params }) => {
      await inventory.deleteSite(params.id);
      const ended = await endAccess(user, [{ kind: 'site_deleted', siteId: params.id }]);
      await record(user, 'admin.site.deleted', { type: 'site', id: params.id }, params.id, ended);
      return undefined;
    }),
  );

  admin.get('/companies', route({}, async () => ({ companies: (await inventory.companies()).map(presentCompany) })));
  admin.put(
    '/companies/:id',
    route({ params: idParam, body: companySchema.omit({ id: true }) }, async ({ user, params, body }) => {
      const company = { ...body, id: params.id };
      const before = await inventory.company(company.id);
      await inventory.putCompany(company);
      const removed = (before?.sites ?? []).filter((site) => !company.sites.includes(site));
      const ended = await endAccess(user, removed.length === 0 ? [] : [{ kind: 'company_sites_removed', companyId: company.id, sites: removed }]);
      await record(user, 'admin.company.saved', { type: 'company', id: company.id }, null, { name: company.name, sites: company.sites.join(','), ...ended });
      return { company: presentCompany(company) };
    }),
  );
  admin.delete(
    '/companies/:id',
    route({ params: idParam }, async ({ user, params }) => {
      await inventory.deleteCompany(params.id);
      const ended = await endAccess(user, [{ kind: 'company_deleted', companyId: params.id }]);
      await record(user, 'admin.company.deleted', { type: 'company', id: params.id }, null, ended);
      return undefined;
    }),
  );

  admin.get(
    '/machines',
    route({}, async () => {
      const sites = await siteMap();
      const machines = await inventory.machines();
      const withCredential = await Promise.all(machines.map((m) => vault.has(m.id)));
      return { machines: machines.map((m, i) => presentAdminMachine(m, sites, withCredential[i] ?? false)) };
    }),
  );
  // The admin UI sends back what it read: the read-only fields it cannot change are dropped.
  const machineBody = z.looseObject({}).transform((b) => {
    const { siteName: _s, siteTimeZone: _z, hasCredential: _h, id: _i, ...rest } = b as Record<string, unknown>;
    if (rest['rdpSecurity'] === null) delete rest['rdpSecurity'];
    return rest;
  });
  admin.put(
    '/machines/:id',
    route({ params: idParam, body: machineBody }, async ({ user, params, body }) => {
      const machine = parseInput(machineSchema, { ...body, id: params.id }, 'body');
      if (!deps.guacdIds.includes(machine.guacd)) throw badRequest('unknown_guacd', `No guacd "${machine.guacd}" is configured.`);
      const before = await inventory.machine(machine.id);
      await inventory.putMachine(machine);
      // Grants were approved by the former site's managers for vendors admitted there.
      const moved = before !== undefined && before.siteId !== machine.siteId;
      const ended = await endAccess(user, moved ? [{ kind: 'machine_moved', machineId: machine.id, fromSite: before.siteId, toSite: machine.siteId }] : []);
      await record(user, 'admin.machine.saved', { type: 'machine', id: machine.id }, machine.siteId, {
        protocol: machine.protocol,
        requiredApprovals: machine.requiredApprovals,
        maxWindowMinutes: machine.maxWindowMinutes,
        ...(moved ? { movedFrom: before.siteId, ...ended } : {}),
      });
      return { machine: presentAdminMachine(machine, await siteMap(), await vault.has(machine.id)) };
    }),
  );
  admin.delete(
    '/machines/:id',
    route({ params: idParam }, async ({ user, params }) => {
      const machine = await inventory.machine(params.id);
      await inventory.deleteMachine(params.id);
      await vault.remove(params.id);
      const ended = await endAccess(user, [{ kind: 'machine_deleted', machineId: params.id }]);
      await record(user, 'admin.machine.deleted', { type: 'machine', id: params.id }, machine?.siteId ?? null, ended);
      return undefined;
    }),
  );
  admin.put(
    '/machines/:id/credential',
    route({ params: idParam, body: credentialSchema }, async ({ user, params, body }) => {
      const machine = await inventory.machine(params.id);
      if (machine === undefined) throw notFound('unknown_machine', `No machine "${params.id}".`);
      await vault.store(params.id, body);
      // The audit says that it changed and what kind it is, never what it is.
      await record(user, 'admin.credential.set', { type: 'machine', id: params.id }, machine.siteId, {
        kind: body.privateKey === undefined ? 'password' : 'private-key',
      });
      return undefined;
    }),
  );

  router.use('/api/admin', admin);
  return router;
}
