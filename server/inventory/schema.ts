// Sites, vendor companies and machines: the zod schemas (shared by the YAML file and the admin
// API) and their types.
import { z } from 'zod';
import { MAX_HOST_KEY_LENGTH, parseHostKey } from './host-keys.ts';
import { DEFAULT_TIME_ZONE, isTimeZone } from '../plant-time.ts';

export const PROTOCOLS = ['rdp', 'vnc', 'ssh', 'telnet'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const RDP_SECURITY = ['any', 'nla', 'tls', 'rdp'] as const;

/** Longest window any machine may allow: a week. Longer access is a standing VPN, not JIT. */
export const MAX_WINDOW_MINUTES_CAP = 7 * 24 * 60;

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" and "-" (max 63)');
const displayName = z.string().trim().min(1).max(120);

/** Where guacd dials a machine: a host name or IP address (no user input reaches a shell: see host-key-scan.ts). */
export const hostSchema = z.string().trim().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address');
export const portSchema = z.number().int().min(1).max(65535);

/** A pinned SSH host key, normalised to `type base64` (see host-keys.ts for what is accepted). */
const hostKey = z
  .string()
  .max(MAX_HOST_KEY_LENGTH)
  .transform((text, ctx) => {
    const parsed = parseHostKey(text);
    if (parsed.ok) return parsed.key;
    ctx.addIssue({ code: 'custom', message: `expected ${parsed.message}` });
    return z.NEVER;
  });

/** `any`: the machine accepts whatever host key answers (guacd verifies nothing); the admin screen shows it in red. */
export const HOST_KEY_POLICIES = ['pinned', 'any'] as const;

/** `required`: a session's input is held until a plant observer of the site watches it (sessions/observer-gate.ts). */
export const OBSERVER_MODES = ['none', 'required'] as const;
/** How long a required-observer session may run unobserved from its start (0: held from the start). */
export const OBSERVER_GRACE_SECONDS = { min: 0, max: 3_600, default: 0 } as const;
/**
 * How long a required-observer session may wait, held, for an observer before it ends. Minutes,
 * fractions allowed (0.5 = 30 s); at least 3 s so the vendor sees why before it ends.
 */
export const OBSERVER_LIMIT_MINUTES = { min: 0.05, max: 24 * 60, default: 15 } as const;

export const policySchema = z.strictObject({
  clipboardCopy: z.boolean(),
  clipboardPaste: z.boolean(),
  fileTransfer: z.boolean(),
  readOnly: z.boolean(),
});
export type Policy = z.infer<typeof policySchema>;

/** What a machine allows when its entry says nothing: paste in, nothing out, no files. */
export const DEFAULT_POLICY: Policy = Object.freeze({ clipboardCopy: false, clipboardPaste: true, fileTransfer: false, readOnly: false });

/** Largest file a site may let through the file airlock: what one session can reasonably carry. */
export const MAX_FILE_BYTES_CAP = 2 * 1024 * 1024 * 1024;
/** A file type as the airlock checks it: the name's extension, lower-case, with its dot. */
const extension = z.string().trim().toLowerCase().regex(/^\.[a-z0-9][a-z0-9._-]{0,15}$/, 'an extension with its dot, such as .txt');

/**
 * What the file airlock lets into and out of a site's machines (sessions/files). `release`:
 * clean uploads go to the machine at once (`auto`) or wait for a plant manager (`approval`);
 * `downloads`: files from the machine reach the vendor at once (`direct`) or once a plant
 * manager releases them (`approval`). Absent: approval both ways, 100 MB, any type.
 */
export const siteFilesSchema = z.strictObject({
  release: z.enum(['auto', 'approval']).default('approval'),
  downloads: z.enum(['direct', 'approval']).default('approval'),
  maxBytes: z.number().int().min(1).max(MAX_FILE_BYTES_CAP).default(100 * 1024 * 1024),
  /** Only these types may come in; empty: any type not blocked. */
  allowedTypes: z.array(extension).max(100).default([]),
  /** These types never come in. */
  blockedTypes: z.array(extension).max(100).default([]),
});
export type SiteFiles = z.infer<typeof siteFilesSchema>;
export const DEFAULT_SITE_FILES: SiteFiles = Object.freeze({ release: 'approval', downloads: 'approval', maxBytes: 100 * 1024 * 1024, allowedTypes: [], blockedTypes: [] });

export const siteSchema = z.strictObject({
  id,
  name: displayName,
  /** The file airlock's rules for the site's machines; absent: DEFAULT_SITE_FILES. */
  files: siteFilesSchema.optional(),
  /** Days recordings of this site are kept; absent: AIRLOCK_RETENTION_DAYS. */
  retentionDays: z.number().int().min(1).max(36_500).optional(),
  /** The plant's IANA time zone: every time about the site is shown in it. */
  timeZone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Paris').default(DEFAULT_TIME_ZONE),
});
export type Site = z.infer<typeof siteSchema>;

export const companySchema = z.strictObject({ id, name: displayName, sites: z.array(id).max(500) });
export type Company = z.infer<typeof companySchema>;

export const machineSchema = z
  .strictObject({
    id,
    name: displayName,
    siteId: id,
    protocol: z.enum(PROTOCOLS),
    /** Which guacd serves this machine (see AIRLOCK_GUACD); "default" unless the plant has several. */
    guacd: id.default('default'),
    host: hostSchema,
    port: portSchema,
    maxWindowMinutes: z.number().int().min(5).max(MAX_WINDOW_MINUTES_CAP).default(240),
    requiredApprovals: z.union([z.literal(1), z.literal(2)]).default(1),
    policy: policySchema.default(DEFAULT_POLICY),
    tags: z.array(z.string().trim().min(1).max(40)).max(20).default([]),
    /** RDP only: `rdp` reaches pre-NLA hosts such as Windows XP. */
    rdpSecurity: z.enum(RDP_SECURITY).optional(),
    /** `web-only` for safety-critical machines: chat shows "Review in Airlock" only. */
    chatDecision: z.enum(['allowed', 'web-only']).default('allowed'),
    /** SSH only: the host key guacd must find (`ssh-ed25519 AAAA…`); a session to any other is refused. */
    hostKey: hostKey.optional(),
    /** SSH only: absent or `pinned` needs `hostKey` outside demo/test mode; `any` accepts every host key, loudly. */
    hostKeyPolicy: z.enum(HOST_KEY_POLICIES).optional(),
    /**
     * Step-up: opening a session needs a sign-in with a second factor at most this many minutes
     * old (server/auth/step-up.ts); absent: the sign-in alone is enough. At least 5 minutes, so
     * that a step-up just done always satisfies it.
     */
    stepUpMinutes: z.number().int().min(5).max(24 * 60).optional(),
    /** Required observer: `required` holds the vendor's input until a plant observer of the site watches; absent: `none`. */
    observer: z.enum(OBSERVER_MODES).optional(),
    /** Required observer: absent means OBSERVER_GRACE_SECONDS.default (held from the start). */
    observerGraceSeconds: z.number().int().min(OBSERVER_GRACE_SECONDS.min).max(OBSERVER_GRACE_SECONDS.max).optional(),
    /** Required observer: absent means OBSERVER_LIMIT_MINUTES.default. */
    observerLimitMinutes: z.number().min(OBSERVER_LIMIT_MINUTES.min).max(OBSERVER_LIMIT_MINUTES.max).optional(),
  })
  // The cross-field rules run even when a field is wrong, so a form learns every problem at once.
  .superRefine(
    (m, ctx) => {
      const issue = (field: string, message: string): void => ctx.addIssue({ code: 'custom', message, path: [field] });
      if (m.rdpSecurity !== undefined && m.protocol !== 'rdp') issue('rdpSecurity', 'rdpSecurity applies to rdp machines only');
      if (m.hostKey !== undefined && m.protocol !== 'ssh') issue('hostKey', 'hostKey applies to ssh machines only');
      if (m.hostKeyPolicy !== undefined && m.protocol !== 'ssh') issue('hostKeyPolicy', 'hostKeyPolicy applies to ssh machines only');
      if (m.hostKeyPolicy === 'any' && m.hostKey !== undefined) {
        issue('hostKeyPolicy', 'a pinned hostKey and hostKeyPolicy "any" contradict each other: remove one');
      }
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  );
export type Machine = z.infer<typeof machineSchema>;

/** A machine's required-observer settings with their defaults filled in. */
export function observerSettings(m: Pick<Machine, 'observer' | 'observerGraceSeconds' | 'observerLimitMinutes'>): { observer: (typeof OBSERVER_MODES)[number]; graceSeconds: number; limitMinutes: number } {
  return { observer: m.observer ?? 'none', graceSeconds: m.observerGraceSeconds ?? OBSERVER_GRACE_SECONDS.default, limitMinutes: m.observerLimitMinutes ?? OBSERVER_LIMIT_MINUTES.default };
}

/**
 * A machine as the records about it name it (live sessions, the recordings index, manifests):
 * what and where, never how to reach it. `protocol` is read as a plain string because stored
 * records (signed manifests above all) outlive the list of protocols.
 */
export const machineSummarySchema = z.object({ id: z.string(), name: z.string(), siteId: z.string(), protocol: z.string() });
export type MachineSummary = z.infer<typeof machineSummarySchema>;

export const inventoryFileSchema = z.strictObject({
  sites: z.array(siteSchema).default([]),
  companies: z.array(companySchema).default([]),
  machines: z.array(machineSchema).default([]),
});
export type InventoryFile = z.infer<typeof inventoryFileSchema>;

export const credentialSchema = z
  .strictObject({
    username: z.string().min(1).max(256),
    password: z.string().min(1).max(1024).optional(),
    privateKey: z.string().min(1).max(16_384).optional(),
  })
  .refine((c) => c.password !== undefined || c.privateKey !== undefined, { message: 'a password or a private key is required' });
export type Credential = z.infer<typeof credentialSchema>;

/**
 * An admin's change that takes access away: the request workflow ends what it invalidates
 * (live grants revoked, pending requests cancelled). Inventory names the change; it does not
 * know about requests (app/ wires the two).
 */
export type InventoryChange =
  | { kind: 'machine_deleted'; machineId: string }
  | { kind: 'machine_moved'; machineId: string; fromSite: string; toSite: string }
  | { kind: 'company_deleted'; companyId: string }
  | { kind: 'company_sites_removed'; companyId: string; sites: readonly string[] }
  | { kind: 'site_deleted'; siteId: string };

/** What ending the invalidated access did, for the admin's audit event. */
export interface InvalidatedAccess {
  revoked: string[];
  cancelled: string[];
}
