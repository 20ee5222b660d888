// A finalised session's manifest: who, what, when, under which grant, how it ended, and the
// SHA-256 of every file. Signed as written (manifest.json + manifest.sig); verification needs
// only the folder and the public key, so it works offline on an evidence bundle too.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { machineSummarySchema, policySchema } from '../server/inventory/schema.ts';
import { verifySignature } from './signing.ts';
import { isDerivedEntry, FILE_KINDS, MANIFEST_FILE, SIGNATURE_FILE, TRANSFER_KIND } from './layout.ts';
import { localFolder, type StoredFolder } from './folder.ts';

export { sha256File } from './folder.ts';

export const fileKindSchema = z.enum([...FILE_KINDS, TRANSFER_KIND]);

const person = z.object({ id: z.string(), name: z.string() });

/**
 * A file that went through the airlock during the session (sessions/files): what it was, its
 * hash, what the scanner said, who decided and where it ended; `storedAs` names its bytes in the
 * folder (null: not kept, such as a blocked file, whose bytes were deleted).
 */
export const transferSchema = z.object({
  id: z.string(),
  direction: z.enum(['in', 'out']),
  name: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  state: z.string(),
  by: person,
  at: z.string(),
  scan: z.object({ result: z.string(), signature: z.string().nullable(), error: z.string().nullable(), at: z.string() }).nullable(),
  decision: z.object({ by: person.nullable(), outcome: z.string(), at: z.string() }).nullable(),
  storedAs: z.string().nullable(),
});
export type Transfer = z.infer<typeof transferSchema>;


export const manifestSchema = z.object({
  version: z.literal(1),
  sessionId: z.string(),
  requestId: z.string(),
  requester: person.extend({ company: z.string().nullable() }),
  approvers: z.array(person.extend({ at: z.string() })),
  reason: z.string(),
  workOrder: z.string().nullable(),
  machine: machineSummarySchema,
  siteId: z.string(),
  policy: policySchema,
  grant: z.object({ start: z.string(), end: z.string() }),
  startedAt: z.string(),
  endedAt: z.string(),
  endReason: z.string(),
  files: z.array(z.object({ kind: fileKindSchema, name: z.string(), bytes: z.number(), sha256: z.string() })),
  /** Files through the airlock (absent: none, or a manifest from before the airlock). */
  transfers: z.array(transferSchema).optional(),
  /** Why the recording cannot be trusted to be whole (missing file, ended by a recording failure…). */
  incomplete: z.array(z.string()),
  finalisedAt: z.string(),
  signer: z.object({ algorithm: z.literal('Ed25519'), keyId: z.string() }),
});
export type Manifest = z.infer<typeof manifestSchema>;

export interface FileCheck {
  name: string;
  ok: boolean;
  problem: 'missing' | 'hash_mismatch' | null;
}

/** A cross-check against a record kept elsewhere: 'missing' it has none, 'unchecked' it was not consulted (offline). */
export type CrossCheck = 'ok' | 'missing' | 'mismatch' | 'unchecked';

export interface RecordingVerification {
  sessionId: string;
  ok: boolean;
  signature: 'valid' | 'invalid' | 'missing';
  manifest: 'ok' | 'missing' | 'malformed';
  files: FileCheck[];
  /** Files in the folder the manifest does not list (e.g. planted later). */
  unexpected: string[];
  incomplete: string[];
  /**
   * Does the manifest belong where it is: its session, site and start date against the folder
   * (in a bundle: its session and request). A validly signed manifest copied into another
   * session's folder, or a folder moved, fails here.
   */
  place: 'ok' | 'mismatch' | 'unchecked';
  /** The session's index entry (what search and the API list) against the manifest. */
  index: CrossCheck;
  /** The audit log's `recording.finalised` event of the session (request, site, start, manifest SHA-256). */
  audit: CrossCheck;
  /** Each disagreement of place, index or audit log, in words (never a store path). */
  mismatches: string[];
}

/** What a folder holds, checked against its own manifest and signature only. */
export interface FolderInspection {
  verification: Pick<RecordingVerification, 'signature' | 'manifest' | 'files' | 'unexpected' | 'incomplete'>;
  /** The manifest, when it parses (signed or not). */
  manifest: Manifest | undefined;
  /** SHA-256 of manifest.json's exact bytes, when it exists. */
  manifestSha256: string | undefined;
}

/** Hashes the files of one recording folder (a local directory, or a folder of a store) against its manifest and checks the signature. */
export async function inspectFolder(where: string | StoredFolder, publicKeyPem: string): Promise<FolderInspection> {
  const folder = typeof where === 'string' ? localFolder(where) : where;
  const verification: FolderInspection['verification'] = { signature: 'missing', manifest: 'missing', files: [], unexpected: [], incomplete: [] };
  let bytes: Buffer;
  try {
    bytes = await folder.read(MANIFEST_FILE);
  } catch {
    return { verification, manifest: undefined, manifestSha256: undefined };
  }
  const manifestSha256 = createHash('sha256').update(bytes).digest('hex');
  try {
    const signature = (await folder.read(SIGNATURE_FILE)).toString('utf8').trim();
    verification.signature = verifySignature(bytes, signature, publicKeyPem) ? 'valid' : 'invalid';
  } catch {
    verification.signature = 'missing';
  }
  const parsed = parseManifest(bytes);
  if (parsed === undefined) {
    verification.manifest = 'malformed';
    return { verification, manifest: undefined, manifestSha256 };
  }
  verification.manifest = 'ok';
  verification.incomplete = parsed.incomplete;
  for (const f of parsed.files) {
    try {
      const actual = await folder.sha256(f.name);
      const ok = actual.sha256 === f.sha256 && actual.bytes === f.bytes;
      verification.files.push({ name: f.name, ok, problem: ok ? null : 'hash_mismatch' });
    } catch {
      verification.files.push({ name: f.name, ok: false, problem: 'missing' });
    }
  }
  // The derived folder (keyframes) is checked on its own (derived.ts): it is not evidence.
  const listed = new Set([MANIFEST_FILE, SIGNATURE_FILE, ...parsed.files.map((f) => f.name)]);
  verification.unexpected = (await folder.names()).filter((n) => !listed.has(n) && !isDerivedEntry(n));
  return { verification, manifest: parsed, manifestSha256 };
}

/** A manifest's bytes as a Manifest, or undefined when they are not one. */
export function parseManifest(bytes: Buffer): Manifest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = manifestSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
