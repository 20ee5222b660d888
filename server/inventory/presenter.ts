// What the inventory API shows of sites, companies and machines (docs/api.md, "Inventory"):
// each view names its fields, so a field added to a record is not published by accident.
import { DEFAULT_SITE_FILES, observerSettings, type Company, type Machine, type Policy, type Protocol, type Site, type SiteFiles } from './schema.ts';
import { hostKeyFingerprint } from './host-keys.ts';
import { DEFAULT_TIME_ZONE } from '../plant-time.ts';

/** A site as anyone allowed to see it sees it. */
export interface SiteView {
  id: string;
  name: string;
  /** IANA time zone of the plant (server/plant-time.ts). */
  timeZone: string;
  /** The file airlock's rules (release, downloads, size and type limits): the vendor's screen shows them. */
  files?: SiteFiles;
}

/** A site as the admin edits it: with its retention, when it sets one, and the version an edit must name (If-Match). */
export interface SiteAdminView extends SiteView {
  retentionDays?: number;
  version: number;
}

export interface CompanyView {
  id: string;
  name: string;
  sites: string[];
}

/** A company as the admin edits it: with the version an edit must name (If-Match). */
export interface CompanyAdminView extends CompanyView {
  version: number;
}

/** What anyone allowed to see a machine sees: never its address, port or credential. */
export interface MachineView {
  id: string;
  name: string;
  siteId: string;
  siteName: string;
  siteTimeZone: string;
  protocol: Protocol;
  tags: string[];
  maxWindowMinutes: number;
  requiredApprovals: 1 | 2;
  policy: Policy;
  /** Opening a session needs a sign-in with a second factor at most this many minutes old; null: no step-up. */
  stepUpMinutes: number | null;
  /** `required`: the vendor's input is held until a plant observer of the site watches the session. */
  observer: NonNullable<Machine['observer']>;
  /** Required observer: seconds the session may run unobserved from its start (0: held from the start). */
  observerGraceSeconds: number;
  /** Required observer: minutes the session may wait, held, for an observer before it ends. */
  observerLimitMinutes: number;
}

/** The admin's view: how the portal reaches the machine, and whether a credential is set (never which). */
export interface MachineAdminView extends MachineView {
  host: string;
  port: number;
  guacd: string;
  rdpSecurity: NonNullable<Machine['rdpSecurity']> | null;
  chatDecision: Machine['chatDecision'];
  hasCredential: boolean;
  /** SSH: the pinned host key (`type base64`) and its SHA256 fingerprint, or null. */
  hostKey: string | null;
  hostKeyFingerprint: string | null;
  /** SSH: `any` when the machine accepts every host key (shown in red); null otherwise. */
  hostKeyPolicy: NonNullable<Machine['hostKeyPolicy']> | null;
  /** The version an edit must name (If-Match). */
  version: number;
}

export const presentSite = (s: Site): SiteView => ({ id: s.id, name: s.name, timeZone: s.timeZone, files: s.files ?? DEFAULT_SITE_FILES });

export const presentAdminSite = (s: Site, version: number): SiteAdminView => ({
  id: s.id,
  name: s.name,
  timeZone: s.timeZone,
  ...(s.retentionDays === undefined ? {} : { retentionDays: s.retentionDays }),
  ...(s.files === undefined ? {} : { files: s.files }),
  version,
});

export const presentAdminCompany = (c: Company, version: number): CompanyAdminView => ({ id: c.id, name: c.name, sites: c.sites, version });

/** A company as screens name it (GET /api/companies): which sites it may request is the admin's business. */
export interface CompanyNameView {
  id: string;
  name: string;
}
export const presentCompanyName = (c: Company): CompanyNameView => ({ id: c.id, name: c.name });

export function presentMachine(m: Machine, sites: ReadonlyMap<string, Site>): MachineView {
  return {
    id: m.id,
    name: m.name,
    siteId: m.siteId,
    siteName: sites.get(m.siteId)?.name ?? m.siteId,
    siteTimeZone: sites.get(m.siteId)?.timeZone ?? DEFAULT_TIME_ZONE,
    protocol: m.protocol,
    tags: m.tags,
    maxWindowMinutes: m.maxWindowMinutes,
    requiredApprovals: m.requiredApprovals,
    policy: m.policy,
    stepUpMinutes: m.stepUpMinutes ?? null,
    observer: observerSettings(m).observer,
    observerGraceSeconds: observerSettings(m).graceSeconds,
    observerLimitMinutes: observerSettings(m).limitMinutes,
  };
}

export function presentAdminMachine(m: Machine, sites: ReadonlyMap<string, Site>, hasCredential: boolean, version: number): MachineAdminView {
  return {
    ...presentMachine(m, sites),
    host: m.host,
    port: m.port,
    guacd: m.guacd,
    rdpSecurity: m.rdpSecurity ?? null,
    chatDecision: m.chatDecision,
    hasCredential,
    hostKey: m.hostKey ?? null,
    hostKeyFingerprint: m.hostKey === undefined ? null : hostKeyFingerprint(m.hostKey),
    hostKeyPolicy: m.hostKeyPolicy ?? null,
    version,
  };
}
