// A finalised session's manifest: who, what, when, under which grant, how it ended, and the
// SHA-256 of every file. Signed as written (manifest.json + manifest.sig); verification needs
// only the folder and the public key, so it works offline on an evidence bundle too.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { machineSummarySchema, policySchema } from '../server/inventory/schema.ts';
import { verifySignature } from './signing.ts';
import { FILE_KINDS, MANIFEST_FILE, SIGNATURE_FILE } from './layout.ts';

export const fileKindSchema = z.enum(FILE_KINDS);

const person = z.object({ id: z.string(), name: z.string() });

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
  /** Why the recording cannot be trusted to be whole (missing file, ended by a recording failure…). */
  incomplete: z.array(z.string()),
  finalisedAt: z.string(),
  signer: z.object({ algorithm: z.literal('Ed25519'), keyId: z.string() }),
});
export type Manifest = z.infer<typeof manifestSchema>;

export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export interface FileCheck {
  name: string;
  ok: boolean;
  problem: 'missing' | 'hash_mismatch' | null;
}

export interface RecordingVerification {
  sessionId: string;
  ok: boolean;
  signature: 'valid' | 'invalid' | 'missing';
  manifest: 'ok' | 'missing' | 'malformed';
  files: FileCheck[];
  /** Files in the folder the manifest does not list (e.g. planted later). */
  unexpected: string[];
  incomplete: string[];
}

/** Verifies one recording folder against its manifest and signature. */
export async function verifyFolder(dir: string, publicKeyPem: string, sessionId = path.basename(dir)): Promise<RecordingVerification> {
  const result: RecordingVerification = { sessionId, ok: false, signature: 'missing', manifest: 'missing', files: [], unexpected: [], incomplete: [] };
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, MANIFEST_FILE));
  } catch {
    return result;
  }
  try {
    const signature = (await readFile(path.join(dir, SIGNATURE_FILE), 'utf8')).trim();
    result.signature = verifySignature(bytes, signature, publicKeyPem) ? 'valid' : 'invalid';
  } catch {
    result.signature = 'missing';
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    result.manifest = 'malformed';
    return result;
  }
  result.manifest = 'ok';
  result.incomplete = parsed.data.incomplete;
  for (const f of parsed.data.files) {
    try {
      const actual = await sha256File(path.join(dir, f.name));
      const ok = actual.sha256 === f.sha256 && actual.bytes === f.bytes;
      result.files.push({ name: f.name, ok, problem: ok ? null : 'hash_mismatch' });
    } catch {
      result.files.push({ name: f.name, ok: false, problem: 'missing' });
    }
  }
  const listed = new Set([MANIFEST_FILE, SIGNATURE_FILE, ...parsed.data.files.map((f) => f.name)]);
  result.unexpected = (await readdir(dir)).filter((n) => !listed.has(n));
  result.ok = result.signature === 'valid' && result.files.every((f) => f.ok) && result.unexpected.length === 0;
  return result;
}
