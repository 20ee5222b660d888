// Offline verification, for the CLI and for evidence bundles: every recording folder against
// its manifest and signature, and every audit line of a bundle against its own hash.
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extract } from 'tar';
import { chainHash, parseExportLine } from '../server/audit/store.ts';
import { verifyFolder, type RecordingVerification } from './manifest.ts';
import { MANIFEST_FILE, STORE_DIR_DEPTH } from './layout.ts';

/** Every folder below `root` that holds a manifest (or should: store layout site/y/m/d/session). */
export async function recordingFolders(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const names = entries.map((e) => e.name);
    if (names.includes(MANIFEST_FILE) || (depth >= STORE_DIR_DEPTH && /^[0-9a-f-]{36}$/.test(path.basename(dir)))) {
      out.push(dir);
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name), depth + 1);
  }
  await walk(root, 0);
  return out.sort();
}

export async function verifyStore(root: string, publicKeyPem: string): Promise<RecordingVerification[]> {
  const results: RecordingVerification[] = [];
  for (const dir of await recordingFolders(root)) results.push(await verifyFolder(dir, publicKeyPem));
  return results;
}

export interface AuditLineCheck {
  line: number;
  id: string | null;
  ok: boolean;
}

/** Each exported audit line must hash to what it says (prev + seq + the event's exact bytes). */
export function verifyAuditLines(text: string): AuditLineCheck[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const e = parseExportLine(l);
      const ok = e.prev !== undefined && e.seq !== undefined && e.event !== undefined && e.hash === chainHash(e.prev, e.seq, e.event);
      return { line: i + 1, id: e.id ?? null, ok };
    });
}

export interface BundleVerification {
  ok: boolean;
  recordings: RecordingVerification[];
  audit: AuditLineCheck[];
  /** The bundle's own public key differs from the one given: whoever made it used another key. */
  keyMismatch: boolean;
}

export async function verifyBundle(file: string, publicKeyPem: string | undefined): Promise<BundleVerification> {
  const work = await mkdtemp(path.join(tmpdir(), 'airlock-verify-'));
  try {
    await extract({ file, cwd: work, strict: true });
    const [root] = await readdir(work);
    if (root === undefined) throw new Error('the bundle is empty');
    const base = path.join(work, root);
    const bundledKey = await readFile(path.join(base, 'public-key.pem'), 'utf8').catch(() => '');
    const key = publicKeyPem ?? bundledKey;
    const recordings = await verifyStore(path.join(base, 'sessions'), key);
    const audit = verifyAuditLines(await readFile(path.join(base, 'audit-events.jsonl'), 'utf8').catch(() => ''));
    const keyMismatch = publicKeyPem !== undefined && bundledKey.trim() !== publicKeyPem.trim();
    return { ok: recordings.length > 0 && recordings.every((r) => r.ok) && audit.every((a) => a.ok) && !keyMismatch, recordings, audit, keyMismatch };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function describeRecording(r: RecordingVerification): string {
  if (r.ok) return `${r.sessionId}: OK (${r.files.length} files, signature valid${r.incomplete.length > 0 ? `; marked incomplete: ${r.incomplete.join(', ')}` : ''})`;
  const problems = [
    ...(r.manifest !== 'ok' ? [`manifest ${r.manifest}`] : []),
    ...(r.signature !== 'valid' ? [`signature ${r.signature}`] : []),
    ...r.files.filter((f) => !f.ok).map((f) => `${f.name} ${f.problem ?? 'bad'}`),
    ...r.unexpected.map((n) => `${n} unexpected`),
  ];
  return `${r.sessionId}: FAILED — ${problems.join('; ')}`;
}
