// The inventory in Redis: sites, vendor companies, machines. Seeded once from the YAML file,
// then edited by admins (each change audited). Every instance reads the same copy.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { ConfigError } from '../config.ts';
import { conflict, notFound, badRequest, errorMessage } from '../errors.ts';
import {
  companySchema,
  inventoryFileSchema,
  machineSchema,
  siteSchema,
  type Company,
  type InventoryFile,
  type Machine,
  type Site,
} from './schema.ts';
import type { z } from 'zod';

function parseAll<T>(schema: z.ZodType<T>, records: Record<string, string>): T[] {
  return Object.values(records)
    .map((json) => schema.parse(JSON.parse(json)))
    .sort((a, b) => String((a as { name?: string }).name).localeCompare(String((b as { name?: string }).name)));
}

export function loadInventoryFile(path: string): InventoryFile {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('AIRLOCK_INVENTORY_FILE', `cannot read YAML from ${path}: ${errorMessage(err)}`);
  }
  const parsed = inventoryFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError('AIRLOCK_INVENTORY_FILE', `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const file = parsed.data;
  const sites = new Set(file.sites.map((s) => s.id));
  for (const m of file.machines) {
    if (!sites.has(m.siteId)) throw new ConfigError('AIRLOCK_INVENTORY_FILE', `machine ${m.id}: unknown site "${m.siteId}"`);
  }
  for (const c of file.companies) {
    for (const s of c.sites) if (!sites.has(s)) throw new ConfigError('AIRLOCK_INVENTORY_FILE', `company ${c.id}: unknown site "${s}"`);
  }
  return file;
}

export class InventoryStore {
  private readonly redis: RedisClient;

  constructor(redis: RedisClient) {
    this.redis = redis;
  }

  /** Imports the file unless an inventory was imported before (admins' edits survive restarts). */
  async seed(file: InventoryFile, force = false): Promise<boolean> {
    if (!force && (await this.redis.set(keys.inventory.seeded, new Date().toISOString(), { NX: true })) === null) return false;
    const multi = this.redis.multi();
    if (force) multi.set(keys.inventory.seeded, new Date().toISOString());
    for (const s of file.sites) multi.hSet(keys.inventory.sites, s.id, JSON.stringify(s));
    for (const c of file.companies) multi.hSet(keys.inventory.companies, c.id, JSON.stringify(c));
    for (const m of file.machines) multi.hSet(keys.inventory.machines, m.id, JSON.stringify(m));
    await multi.exec();
    return true;
  }

  async sites(): Promise<Site[]> {
    return parseAll(siteSchema, await this.redis.hGetAll(keys.inventory.sites));
  }

  async companies(): Promise<Company[]> {
    return parseAll(companySchema, await this.redis.hGetAll(keys.inventory.companies));
  }

  async machines(): Promise<Machine[]> {
    return parseAll(machineSchema, await this.redis.hGetAll(keys.inventory.machines));
  }

  async site(id: string): Promise<Site | undefined> {
    const json = await this.redis.hGet(keys.inventory.sites, id);
    return json ? siteSchema.parse(JSON.parse(json)) : undefined;
  }

  async company(id: string): Promise<Company | undefined> {
    const json = await this.redis.hGet(keys.inventory.companies, id);
    return json ? companySchema.parse(JSON.parse(json)) : undefined;
  }

  async machine(id: string): Promise<Machine | undefined> {
    const json = await this.redis.hGet(keys.inventory.machines, id);
    return json ? machineSchema.parse(JSON.parse(json)) : undefined;
  }

  async putSite(site: Site): Promise<void> {
    await this.redis.hSet(keys.inventory.sites, site.id, JSON.stringify(site));
  }

  async deleteSite(id: string): Promise<void> {
    if ((await this.site(id)) === undefined) throw notFound('unknown_site', `No site "${id}".`);
    const used = (await this.machines()).filter((m) => m.siteId === id);
    if (used.length > 0) throw conflict('site_in_use', `Site "${id}" still has ${used.length} machine(s); move or delete them first.`);
    await this.redis.hDel(keys.inventory.sites, id);
  }

  async putCompany(company: Company): Promise<void> {
    for (const s of company.sites) if ((await this.site(s)) === undefined) throw badRequest('unknown_site', `No site "${s}".`);
    await this.redis.hSet(keys.inventory.companies, company.id, JSON.stringify(company));
  }

  async deleteCompany(id: string): Promise<void> {
    if ((await this.redis.hDel(keys.inventory.companies, id)) === 0) throw notFound('unknown_company', `No company "${id}".`);
  }

  async putMachine(machine: Machine): Promise<void> {
    if ((await this.site(machine.siteId)) === undefined) throw badRequest('unknown_site', `No site "${machine.siteId}".`);
    await this.redis.hSet(keys.inventory.machines, machine.id, JSON.stringify(machine));
  }

  async deleteMachine(id: string): Promise<void> {
    if ((await this.redis.hDel(keys.inventory.machines, id)) === 0) throw notFound('unknown_machine', `No machine "${id}".`);
  }

  /** Sites a vendor's company may request (empty for unknown companies). */
  async requestableSites(companyId: string | undefined): Promise<Set<string>> {
    if (companyId === undefined) return new Set();
    return new Set((await this.company(companyId))?.sites ?? []);
  }
}
