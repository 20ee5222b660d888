// What ties a recording to its place. The signature proves a manifest was written by Airlock,
// not that it belongs where it is: another session's signed files copied into a folder verify
// on their own. So the manifest's session, request, site and start are checked against the
// folder it sits in, the index entry of that session and the audit log's `recording.finalised`
// event (which also holds the manifest's SHA-256); a swapped, moved or deleted recording shows.
import path from 'node:path';
import { z } from 'zod';
import type { AuditLog } from '../server/audit/store.ts';
import type { RecordingSummary } from './catalog.ts';
import { storeDir } from './layout.ts';
import type { CrossCheck, FolderInspection, Manifest, RecordingVerification } from './manifest.ts';

/** Where a folder was found: its name is its session's id; in a store, its path below the root; in a bundle, its request. */
export interface FolderPlace {
  sessionId: string;
  storeDir?: string;
  requestId?: string;
}

/** What the audit log recorded when the session was finalised. */
export interface FinalisedFact {
  sessionId: string;
  at: string;
  site: string | null;
  requestId: string;
  /** Absent on events written before manifests were bound to their place. */
  startedAt?: string | undefined;
  manifestSha256?: string | undefined;
}

const finalisedDetailsSchema = z.looseObject({
  requestId: z.string(),
  startedAt: z.string().optional(),
  manifestSha256: z.string().optional(),
});

/** The `recording.finalised` facts of an audit event (as stored or exported), or undefined if it is not one. */
export function finalisedFact(event: { action?: unknown; target?: unknown; at?: unknown; site?: unknown; details?: unknown }): FinalisedFact | undefined {
  if (event.action !== 'recording.finalised') return undefined;
  const target = z.object({ type: z.literal('session'), id: z.string() }).safeParse(event.target);
  const details = finalisedDetailsSchema.safeParse(event.details);
  if (!target.success || !details.success) return undefined;
  return {
    sessionId: target.data.id,
    at: typeof event.at === 'string' ? event.at : '',
    site: typeof event.site === 'string' ? event.site : null,
    requestId: details.data.requestId,
    startedAt: details.data.startedAt,
    manifestSha256: details.data.manifestSha256,
  };
}

/** Pages of the audit log one look-up reads at most (10,000 entries each); beyond, the check says 'unchecked'. */
const MAX_AUDIT_PAGES = 20;

/**
 * The session's `recording.finalised` event, searched between `from` and `to` (bounds on the
 * event's time, so the scan is short); null when the log has none there, 'unknown' when the
 * window holds more than the look-up may read.
 */
export async function findFinalised(audit: AuditLog, sessionId: string, window: { from: Date; to?: Date | undefined }): Promise<FinalisedFact | null | 'unknown'> {
  let before: string | undefined;
  for (let page = 0; page < MAX_AUDIT_PAGES; page++) {
    const found = await audit.query({ target: { type: 'session', id: sessionId }, action: 'recording.finalised', from: window.from, to: window.to, before, limit: 1 });
    const fact = found.events.map(finalisedFact).find((f) => f !== undefined);
    if (fact !== undefined) return fact;
    if (found.nextBefore === null) return null;
    before = found.nextBefore;
  }
  return 'unknown';
}

const datePart = (dir: string): string => dir.split(path.sep).slice(1, 4).join('/');
const sitePart = (dir: string): string => dir.split(path.sep)[0] ?? '';

/** The manifest against the folder it was found in. */
export function placeMismatches(m: Manifest, place: FolderPlace): string[] {
  const out: string[] = [];
  if (m.sessionId !== place.sessionId) out.push(`the manifest is session ${m.sessionId}'s, not this folder's (${place.sessionId})`);
  if (place.storeDir !== undefined) {
    const here = path.normalize(place.storeDir);
    const expected = Number.isNaN(Date.parse(m.startedAt)) ? '' : storeDir(m.siteId, new Date(m.startedAt), m.sessionId);
    if (here !== expected) {
      const where = [
        ...(sitePart(here) !== m.siteId ? [`it is under site ${sitePart(here)}, its manifest says site ${m.siteId}`] : []),
        ...(expected === '' || datePart(here) !== datePart(expected) ? [`it is dated ${datePart(here)}, its manifest's start ${m.startedAt}`] : []),
      ];
      out.push(`the folder is not where its manifest places it${where.length > 0 ? ` (${where.join('; ')})` : ''}`);
    }
  }
  if (place.requestId !== undefined && m.requestId !== place.requestId) out.push(`the manifest is for request ${m.requestId}, not ${place.requestId}`);
  return out;
}

function differences(what: string, pairs: Array<[string, string | undefined, string]>): string[] {
  return pairs.filter(([, recorded, actual]) => recorded !== undefined && recorded !== actual).map(([field, recorded, actual]) => `${what} has ${field} ${recorded}, the manifest ${actual}`);
}

/** The index entry of the session against the manifest found for it. */
export function indexMismatches(m: Manifest, manifestSha256: string | undefined, s: RecordingSummary): string[] {
  const expectedDir = Number.isNaN(Date.parse(m.startedAt)) ? '' : storeDir(m.siteId, new Date(m.startedAt), m.sessionId);
  return [
    ...differences('the index', [
      ['session', s.sessionId, m.sessionId],
      ['request', s.requestId, m.requestId],
      ['site', s.siteId, m.siteId],
      ['start', s.startedAt, m.startedAt],
    ]),
    ...(path.normalize(s.dir) !== expectedDir ? ['the index keeps the recording in another folder than its manifest places it'] : []),
    ...(s.manifestSha256 !== undefined && s.manifestSha256 !== manifestSha256 ? ['the index recorded another manifest (SHA-256 differs)'] : []),
  ];
}

/** The audit log's finalised event against the manifest found for that session. */
export function auditMismatches(m: Manifest, manifestSha256: string | undefined, f: FinalisedFact): string[] {
  return [
    ...differences("the audit log's recording.finalised event", [
      ['session', f.sessionId, m.sessionId],
      ['request', f.requestId, m.requestId],
      ['site', f.site ?? undefined, m.siteId],
      ['start', f.startedAt, m.startedAt],
    ]),
    ...(f.manifestSha256 !== undefined && f.manifestSha256 !== manifestSha256 ? ["the audit log's recording.finalised event recorded another manifest (SHA-256 differs)"] : []),
  ];
}

/**
 * The verification of a folder with its cross-checks. `index`/`audit`: the record found (null:
 * none exists; undefined: not consulted; 'unknown': could not be looked up in full).
 */
export function bindVerification(
  inspection: FolderInspection,
  checks: { place: FolderPlace; index?: RecordingSummary | null | undefined; audit?: FinalisedFact | null | 'unknown' | undefined },
): RecordingVerification {
  const { verification: v, manifest: m, manifestSha256 } = inspection;
  const mismatches: string[] = [];
  let place: RecordingVerification['place'] = 'unchecked';
  let index: CrossCheck = checks.index === undefined ? 'unchecked' : checks.index === null ? 'missing' : 'ok';
  let audit: CrossCheck = checks.audit === undefined || checks.audit === 'unknown' ? 'unchecked' : checks.audit === null ? 'missing' : 'ok';
  if (m !== undefined) {
    const here = placeMismatches(m, checks.place);
    place = here.length > 0 ? 'mismatch' : 'ok';
    mismatches.push(...here);
    if (checks.index !== undefined && checks.index !== null) {
      const found = indexMismatches(m, manifestSha256, checks.index);
      if (found.length > 0) index = 'mismatch';
      mismatches.push(...found);
    }
    if (checks.audit !== undefined && checks.audit !== null && checks.audit !== 'unknown') {
      const found = auditMismatches(m, manifestSha256, checks.audit);
      if (found.length > 0) audit = 'mismatch';
      mismatches.push(...found);
    }
  }
  if (v.manifest === 'missing') mismatches.push('the recording folder or its manifest is missing from the store');
  if (index === 'missing') mismatches.push('the index has no entry for this session');
  if (audit === 'missing') mismatches.push('the audit log has no recording.finalised event for this session');
  const ok =
    v.signature === 'valid' &&
    v.manifest === 'ok' &&
    v.files.every((f) => f.ok) &&
    v.unexpected.length === 0 &&
    place === 'ok' &&
    index !== 'missing' &&
    index !== 'mismatch' &&
    audit !== 'missing' &&
    audit !== 'mismatch';
  return { sessionId: checks.place.sessionId, ok, ...v, place, index, audit, mismatches };
}
