// The inventory in Redis: sites, vendor companies, machines. Seeded once from the YAML file,
// then edited by admins (each change audited). Every instance reads the same copy. Each record
// has a version that every write bumps, so an edit made on a stale copy is refused (If-Match).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { LuaScript, type RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { ConfigError } from '../config.ts';
import { conflict, notFound, badRequest, errorMessage, preconditionFailed } from '../errors.ts';
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

export type InventoryKind = 'site' | 'company' | 'machine';

const KIND_LABEL: Record<InventoryKind, string> = { site: 'Site', company: 'Company', machine: 'Machine' };
const RECORDS: Record<InventoryKind, string> = { site: keys.inventory.sites, company: keys.inventory.companies, machine: keys.inventory.machines };
const versionField = (kind: InventoryKind, id: string): string => `${kind}:${id}`;

/**
 * What a write expects of the stored record. `create`: that there is none (POST); `replace`
 * (PUT): anything, unless `ifMatch` names the versions it may replace (`'*'`: any existing one).
 */
export interface WriteExpectation {
  mode: 'create' | 'replace';
  ifMatch?: '*' | readonly number[];
}

/**
 * KEYS[1] = the kind's records hash, KEYS[2] = the versions hash; ARGV = id, version field,
 * the JSON to store ('' deletes), 'create' | 'replace', the precondition ('' none, '*', or
 * comma-separated versions). One script, so the check and the write cannot be interleaved with
 * another admin's: returns {outcome, version}, outcome ok | exists | gone | conflict | missing.
 */
const WRITE = new LuaScript(`
local exists = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if ARGV[4] == 'create' and exists then return {'exists', current} end
if ARGV[5] ~= '' then
  if not exists then return {'gone', current} end
  if ARGV[5] ~= '*' then
    local ok = false
    for v in string.gmatch(ARGV[5], '%d+') do if tonumber(v) == current then ok = true end end
    if not ok then return {'conflict', current} end
  end
end
if ARGV[3] == '' then
  if not exists then return {'missing', current} end
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'ok', current}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'ok', redis.call('HINCRBY', KEYS[2], ARGV[2], 1)}
`);

const UNKNOWN_CODE: Record<InventoryKind, string> = { site: 'unknown_site', company: 'unknown_company', machine: 'unknown_machine' };

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
    // Every imported record gets a new version: an edit begun before a re-import is stale.
    const put = (kind: InventoryKind, id: string, record: unknown): void => {
      multi.hSet(RECORDS[kind], id, JSON.stringify(record));
      multi.hIncrBy(keys.inventory.versions, versionField(kind, id), 1);
    };
    for (const s of file.sites) put('site', s.id, s);
    for (const c of file.companies) put('company', c.id, c);
    for (const m of file.machines) put('machine', m.id, m);
    await multi.exec();
    return true;
  }

  /** The record's current version (0 for one stored before versions existed, or never stored). */
  async version(kind: InventoryKind, id: string): Promise<number> {
    return Number((await this.redis.hGet(keys.inventory.versions, versionField(kind, id))) ?? 0);
  }

  /** The versions of every record of a kind, by id. */
  async versions(kind: InventoryKind): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [field, value] of Object.entries(await this.redis.hGetAll(keys.inventory.versions))) {
      if (field.startsWith(`${kind}:`)) out.set(field.slice(kind.length + 1), Number(value));
    }
    return out;
  }

  /** Writes (or, with `record` undefined, deletes) one record as `expect` allows; returns its new version. */
  private async write(kind: InventoryKind, id: string, record: unknown, expect: WriteExpectation): Promise<number> {
    const precondition = expect.ifMatch === undefined ? '' : expect.ifMatch === '*' ? '*' : expect.ifMatch.join(',');
    const reply = (await WRITE.run(this.redis, {
      keys: [RECORDS[kind], keys.inventory.versions],
      arguments: [id, versionField(kind, id), record === undefined ? '' : JSON.stringify(record), expect.mode, precondition],
    })) as [string, number];
    const [outcome, version] = reply;
    const label = `${KIND_LABEL[kind]} "${id}"`;
    switch (outcome) {
      case 'ok':
        return Number(version);
      case 'exists':
        throw conflict('already_exists', `${label} already exists; edit it instead, or choose another ID.`);
      case 'gone':
        throw preconditionFailed('version_conflict', `${label} was deleted by someone else since you loaded it.`);
      case 'conflict':
        throw preconditionFailed('version_conflict', `${label} was changed by someone else since you loaded it (it is now at version ${version}); reload it and make your change again.`);
      default:
        throw notFound(UNKNOWN_CODE[kind], `No ${kind} "${id}".`);
    }
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

  async putSite(site: Site, expect: WriteExpectation = { mode: 'replace' }): Promise<number> {
    return this.write('site', site.id, site, expect);
  }

  async deleteSite(id: string, ifMatch?: WriteExpectation['ifMatch']): Promise<void> {
    if ((await this.site(id)) === undefined) throw notFound('unknown_site', `No site "${id}".`);
    const used = (await this.machines()).filter((m) => m.siteId === id);
    if (used.length > 0) throw conflict('site_in_use', `Site "${id}" still has ${used.length} machine(s); move or delete them first.`);
    await this.write('site', id, undefined, { mode: 'replace', ...(ifMatch === undefined ? {} : { ifMatch }) });
  }

  async putCompany(company: Company, expect: WriteExpectation = { mode: 'replace' }): Promise<number> {
    for (const s of company.sites) if ((await this.site(s)) === undefined) throw badRequest('unknown_site', `No site "${s}".`);
    return this.write('company', company.id, company, expect);
  }

  async deleteCompany(id: string, ifMatch?: WriteExpectation['ifMatch']): Promise<void> {
    await this.write('company', id, undefined, { mode: 'replace', ...(ifMatch === undefined ? {} : { ifMatch }) });
  }

  async putMachine(machine: Machine, expect: WriteExpectation = { mode: 'replace' }): Promise<number> {
    if ((await this.site(machine.siteId)) === undefined) throw badRequest('unknown_site', `No site "${machine.siteId}".`);
    return this.write('machine', machine.id, machine, expect);
  }

  async deleteMachine(id: string, ifMatch?: WriteExpectation['ifMatch']): Promise<void> {
    await this.write('machine', id, undefined, { mode: 'replace', ...(ifMatch === undefined ? {} : { ifMatch }) });
  }

  /** Sites a vendor's company may request (empty for unknown companies). */
  async requestableSites(companyId: string | undefined): Promise<Set<string>> {
    if (companyId === undefined) return new Set();
    return new Set((await this.company(companyId))?.sites ?? []);
  }
}
