// Offline verification, for the CLI and for evidence bundles: every recording folder (of a store,
// on disk or in S3, or of an unpacked bundle) against
// its manifest and signature and against its place (binding.ts); with the index and the audit
// log at hand (the CLI's --redis, a bundle's audit events), every recording they list must be
// there too, so a deleted folder is reported, not silently left out of the count. Every audit
// line of a bundle is checked against its own hash.
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extract } from 'tar';
import { chainHash, parseExportLine } from '../server/audit/store.ts';
import { inspectFolder, type FolderInspection, type RecordingVerification } from './manifest.ts';
import { FilesystemStore, recordingFolders, type RecordingStore } from './store.ts';
import type { StoredFolder } from './folder.ts';
import { bindVerification, finalisedFact, type FinalisedFact, type FolderPlace } from './binding.ts';
import type { RecordingSummary } from './catalog.ts';

export { recordingFolders } from './store.ts';

/** What the index and the audit log say exists: the CLI reads them from Redis, a bundle carries its audit events. */
export interface RecordedSessions {
  /** Index entries by session; undefined: the index was not consulted (a bundle). */
  summaries: Map<string, RecordingSummary> | undefined;
  /** The latest `recording.finalised` event of each session. */
  finalised: Map<string, FinalisedFact>;
  /** Sessions whose recording the retention purge deleted (`recording.purged`): not missing. */
  purged: Set<string>;
}

/** The finalised and purged sessions of a sequence of audit export lines. */
export async function recordedInAudit(lines: AsyncIterable<string> | Iterable<string>): Promise<Pick<RecordedSessions, 'finalised' | 'purged'>> {
  const finalised = new Map<string, FinalisedFact>();
  const purged = new Set<string>();
  for await (const line of lines) {
    const json = parseExportLine(line).event;
    if (json === undefined) continue;
    let event: { action?: unknown; target?: { type?: unknown; id?: unknown } | null };
    try {
      event = JSON.parse(json) as typeof event;
    } catch {
      continue; // a damaged line: the chain check reports it
    }
    const fact = finalisedFact(event);
    if (fact !== undefined) finalised.set(fact.sessionId, fact);
    else if (event.action === 'recording.purged' && event.target?.type === 'session' && typeof event.target.id === 'string') purged.add(event.target.id);
  }
  return { finalised, purged };
}

const NO_FOLDER: FolderInspection = { verification: { signature: 'missing', manifest: 'missing', files: [], unexpected: [], incomplete: [] }, manifest: undefined, manifestSha256: undefined };

/**
 * Every folder below `root` against its manifest, signature and place; with `recorded`, also
 * against the index and the audit log, plus one failed entry per session they list that has no
 * folder (deleted, or moved out of the store).
 */
export async function verifyFolders(root: string, publicKeyPem: string, placeOf: (dir: string) => FolderPlace, recorded?: RecordedSessions): Promise<RecordingVerification[]> {
  return verifyListed((await recordingFolders(root)).map((dir) => ({ place: placeOf(dir), folder: dir })), publicKeyPem, recorded);
}

async function verifyListed(listed: Array<{ place: FolderPlace; folder: string | StoredFolder }>, publicKeyPem: string, recorded: RecordedSessions | undefined): Promise<RecordingVerification[]> {
  const results: RecordingVerification[] = [];
  const found = new Set<string>();
  for (const { place, folder } of listed) {
    found.add(place.sessionId);
    results.push(
      bindVerification(await inspectFolder(folder, publicKeyPem), {
        place,
        index: recorded?.summaries === undefined ? undefined : (recorded.summaries.get(place.sessionId) ?? null),
        audit: recorded === undefined ? undefined : (recorded.finalised.get(place.sessionId) ?? null),
      }),
    );
  }
  if (recorded !== undefined) {
    const listed = new Set([...(recorded.summaries?.keys() ?? []), ...recorded.finalised.keys()]);
    for (const sessionId of [...listed].sort()) {
      if (found.has(sessionId) || recorded.purged.has(sessionId)) continue;
      results.push(
        bindVerification(NO_FOLDER, {
          place: { sessionId },
          index: recorded.summaries === undefined ? undefined : (recorded.summaries.get(sessionId) ?? null),
          audit: recorded.finalised.get(sessionId) ?? null,
        }),
      );
    }
  }
  return results;
}

/** A store (a directory: the filesystem store's root): each folder's place is its path below the root (site/yyyy/mm/dd/session). */
export async function verifyStore(store: string | RecordingStore, publicKeyPem: string, recorded?: RecordedSessions): Promise<RecordingVerification[]> {
  const s = typeof store === 'string' ? new FilesystemStore(store) : store;
  return verifyListed((await s.folders()).map((rel) => ({ place: { sessionId: path.basename(rel), storeDir: rel }, folder: s.folder(rel) })), publicKeyPem, recorded);
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

/** The bundle's top folder is named after the request it is the evidence of. */
const BUNDLE_ROOT = /^airlock-request-(.+)$/;

export async function verifyBundle(file: string, publicKeyPem: string | undefined): Promise<BundleVerification> {
  const work = await mkdtemp(path.join(tmpdir(), 'airlock-verify-'));
  try {
    await extract({ file, cwd: work, strict: true });
    const [root] = await readdir(work);
    if (root === undefined) throw new Error('the bundle is empty');
    const base = path.join(work, root);
    const requestId = BUNDLE_ROOT.exec(root)?.[1];
    const bundledKey = await readFile(path.join(base, 'public-key.pem'), 'utf8').catch(() => '');
    const key = publicKeyPem ?? bundledKey;
    const auditText = await readFile(path.join(base, 'audit-events.jsonl'), 'utf8').catch(() => '');
    const auditLines = auditText.split('\n').filter((l) => l.trim() !== '');
    const recorded: RecordedSessions = { summaries: undefined, ...(await recordedInAudit(auditLines)) };
    const recordings = await verifyFolders(path.join(base, 'sessions'), key, (dir) => ({ sessionId: path.basename(dir), ...(requestId === undefined ? {} : { requestId }) }), recorded);
    const audit = verifyAuditLines(auditText);
    const keyMismatch = publicKeyPem !== undefined && bundledKey.trim() !== publicKeyPem.trim();
    return { ok: recordings.length > 0 && recordings.every((r) => r.ok) && audit.every((a) => a.ok) && !keyMismatch, recordings, audit, keyMismatch };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function describeRecording(r: RecordingVerification): string {
  if (r.ok) return `${r.sessionId}: OK (${r.files.length} files, signature valid${r.incomplete.length > 0 ? `; marked incomplete: ${r.incomplete.join(', ')}` : ''})`;
  const problems = [
    ...(r.manifest === 'malformed' ? ['manifest malformed'] : []),
    // No manifest: the mismatch line says the recording is missing; a missing signature is implied.
    ...(r.manifest !== 'missing' && r.signature !== 'valid' ? [`signature ${r.signature}`] : []),
    ...r.files.filter((f) => !f.ok).map((f) => `${f.name} ${f.problem ?? 'bad'}`),
    ...r.unexpected.map((n) => `${n} unexpected`),
    ...r.mismatches,
  ];
  return `${r.sessionId}: FAILED — ${problems.join('; ')}`;
}
