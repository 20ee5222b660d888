// Inventory API: what each role may see of sites and machines, and the admin's editing of
// sites, vendor companies, machines and (write-only) credentials. Every change is audited.
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { currentUser } from '../http/current-user.ts';
import type { AirlockUser } from '../user.ts';
import { badRequest, notFound, unauthenticated } from '../errors.ts';
import { parseInput, route } from '../http/validate.ts';
import { assertRole, hasRole } from '../policies.ts';
import type { AuditLog } from '../audit/store.ts';
import type { Vault } from '../vault/vault.ts';
import type { InventoryStore } from './store.ts';
import { companySchema, credentialSchema, machineSchema, siteSchema, type Machine, type Site } from './schema.ts';

const idParam = z.strictObject({ id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a valid id') });

/** What anyone allowed to see a machine sees: never its address, port or credential. */
export function presentMachine(m: Machine, sites: Map<string, Site>): Record<string, unknown> {
  return {
    id: m.id,
    name: m.name,
    siteId: m.siteId,
    siteName: sites.get(m.siteId)?.name ?? m.siteId,
    protocol: m.protocol,
    tags: m.tags,
    maxWindowMinutes: m.maxWindowMinutes,
    requiredApprovals: m.requiredApprovals,
    policy: m.policy,
  };
}

/** `fresh` re-validates the user with the IdP (identity freshness) before every admin write. */
export function inventoryRoutes(deps: { inventory: InventoryStore; vault: Vault; audit: AuditLog; guacdIds: readonly string[]; fresh: RequestHandler }): Router {
  const { inventory, vault, audit } = deps;
  const router = Router();

  /** Sites the user may see: a vendor's company's sites; everyone else all. */
  async function visibleSites(u: AirlockUser): Promise<Map<string, Site>> {
    const all = await inventory.sites();
    if (hasRole(u, 'approver') || hasRole(u, 'auditor') || hasRole(u, 'admin')) return new Map(all.map((s) => [s.id, s]));
    const allowed = await inventory.requestableSites(u.company);
    return new Map(all.filter((s) => allowed.has(s.id)).map((s) => [s.id, s]));
  }

  router.get('/api/sites', route({}, async ({ user }) => ({ sites: [...(await visibleSites(user)).values()] })));

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
    assertRole(u, 'admin');
    next();
  });

  const record = (u: AirlockUser, action: string, target: { type: string; id: string }, site: string | null, details: Record<string, unknown> = {}) =>
    audit.append({ actor: { id: u.id, name: u.name }, action, target, outcome: 'ok', reason: null, details, site });

  admin.get('/sites', route({}, async () => ({ sites: await inventory.sites() })));
  admin.put(
    '/sites/:id',
    route({ params: idParam, body: siteSchema.omit({ id: true }) }, async ({ user, params, body }) => {
      const site = { ...body, id: params.id };
      await inventory.putSite(site);
      await record(user, 'admin.site.saved', { type: 'site', id: site.id }, site.id, { name: site.name });
      return { site };
    }),
  );
  admin.delete(
    '/sites/:id',
    route({ params: idParam }, async ({ user, params }) => {
      await inventory.deleteSite(params.id);
      await record(user, 'admin.site.deleted', { type: 'site', id: params.id }, params.id);
      return undefined;
    }),
  );

  admin.get('/companies', route({}, async () => ({ companies: await inventory.companies() })));
  admin.put(
    '/companies/:id',
    route({ params: idParam, body: companySchema.omit({ id: true }) }, async ({ user, params, body }) => {
      const company = { ...body, id: params.id };
      await inventory.putCompany(company);
      await record(user, 'admin.company.saved', { type: 'company', id: company.id }, null, { name: company.name, sites: company.sites.join(',') });
      return { company };
    }),
  );
  admin.delete(
    '/companies/:id',
    route({ params: idParam }, async ({ user, params }) => {
      await inventory.deleteCompany(params.id);
      await record(user, 'admin.company.deleted', { type: 'company', id: params.id }, null);
      return undefined;
    }),
  );

  admin.get(
    '/machines',
    route({}, async () => {
      const sites = new Map((await inventory.sites()).map((s) => [s.id, s]));
      const machines = await inventory.machines();
      const withCredential = await Promise.all(machines.map((m) => vault.has(m.id)));
      return {
        machines: machines.map((m, i) => ({
          ...presentMachine(m, sites),
          host: m.host,
          port: m.port,
          guacd: m.guacd,
          rdpSecurity: m.rdpSecurity ?? null,
          chatDecision: m.chatDecision,
          hasCredential: withCredential[i] ?? false,
        })),
      };
    }),
  );
  // The admin UI sends back what it read: the read-only fields it cannot change are dropped.
  const machineBody = z.looseObject({}).transform((b) => {
    const { siteName: _s, hasCredential: _h, id: _i, ...rest } = b as Record<string, unknown>;
    if (rest['rdpSecurity'] === null) delete rest['rdpSecurity'];
    return rest;
  });
  admin.put(
    '/machines/:id',
    route({ params: idParam, body: machineBody }, async ({ user, params, body }) => {
      const machine = parseInput(machineSchema, { ...body, id: params.id }, 'body');
      if (!deps.guacdIds.includes(machine.guacd)) throw badRequest('unknown_guacd', `No guacd "${machine.guacd}" is configured.`);
      await inventory.putMachine(machine);
      await record(user, 'admin.machine.saved', { type: 'machine', id: machine.id }, machine.siteId, {
        protocol: machine.protocol,
        requiredApprovals: machine.requiredApprovals,
        maxWindowMinutes: machine.maxWindowMinutes,
      });
      return { machine };
    }),
  );
  admin.delete(
    '/machines/:id',
    route({ params: idParam }, async ({ user, params }) => {
      const machine = await inventory.machine(params.id);
      await inventory.deleteMachine(params.id);
      await vault.remove(params.id);
      await record(user, 'admin.machine.deleted', { type: 'machine', id: params.id }, machine?.siteId ?? null);
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
