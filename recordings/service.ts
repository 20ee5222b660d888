// What auditors and plant managers do with recordings: find them, read their manifest and
// timeline, stream their files, verify them, bundle a request's evidence, place legal holds, and
// purge by retention. Who may see what is policies.ts's to say (auditors and admins every site,
// plant managers their own sites, vendors none); this service asks it before every read.
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { create as createTar } from 'tar';
import type { AirlockUser } from '../server/user.ts';
import { AppError, conflict, notFound } from '../server/errors.ts';
import { assertMayHoldRecordings, assertMayReadRecordings, mayReadRecording, recordingSites } from '../server/policies.ts';
import { MAX_AT_DRIFT_MS, parseExportLine, type AuditLog } from '../server/audit/store.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import type { InventoryStore } from '../server/inventory/store.ts';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import type { RecordingCatalog, RecordingSummary, SearchQuery } from './catalog.ts';
import { inspectFolder, parseManifest, type FolderInspection, type Manifest, type RecordingVerification } from './manifest.ts';
import { bindVerification, findFinalised, type FinalisedFact } from './binding.ts';
import { MANIFEST_FILE, STORE_FILE_NAMES } from './layout.ts';
import { WARN_MINUTES } from '../server/domain.ts';
import type { ManifestSigner } from './signing.ts';
import { typedLines } from './text.ts';
import { readOcr } from './ocr.ts';

export interface TimelineEntry {
  /** Milliseconds from the session start. */
  t: number;
  kind: 'connect' | 'command' | 'clipboard' | 'warning' | 'revoked' | 'terminated' | 'disconnect' | 'watch' | 'screen';
  label: string;
}

export interface Hold {
  kind: 'request' | 'machine';
  id: string;
  by: { id: string; name: string };
  at: string;
  reason: string;
}

/** Audit actions that mark moments of a session. */
const SESSION_MOMENTS: Record<string, TimelineEntry['kind']> = {
  'session.started': 'connect',
  'session.watch_started': 'watch',
  'session.terminated': 'terminated',
  'session.ended': 'disconnect',
};

/** Verification results kept per process (a 100 MB recording takes ~0.25 s to hash). */
const VERIFY_CACHE_ENTRIES = 1_000;

/**
 * The `recording.finalised` event follows the index entry within seconds; an hour covers a
 * finalise slowed by a Redis outage and still keeps the audit look-up a short scan.
 */
const FINALISED_EVENT_SLACK_MS = 60 * 60 * 1000;
/**
 * Recordings indexed before the index kept `finalisedAt`: their event is looked for this long
 * after the session's end (an orphan is finalised at the next start), and not finding it there
 * leaves the check 'unchecked' rather than failed.
 */
const LEGACY_EVENT_WINDOW_MS = 7 * 86_400_000;

export class RecordingService {
  private readonly verified = new Map<string, { stamp: string; inspection: FolderInspection }>();
  /** `recording.finalised` events found (the log is append-only: found once, found for good). */
  private readonly finalised = new Map<string, FinalisedFact>();
  private readonly store: string;
  private readonly redis: RedisClient;
  private readonly catalog: RecordingCatalog;
  private readonly audit: AuditLog;
  private readonly signer: ManifestSigner;
  private readonly inventory: InventoryStore;
  private readonly defaultRetentionDays: number;

  constructor(deps: { store: string; redis: RedisClient; catalog: RecordingCatalog; audit: AuditLog; signer: ManifestSigner; inventory: InventoryStore; defaultRetentionDays: number }) {
    this.store = deps.store;
    this.redis = deps.redis;
    this.catalog = deps.catalog;
    this.audit = deps.audit;
    this.signer = deps.signer;
    this.inventory = deps.inventory;
    this.defaultRetentionDays = deps.defaultRetentionDays;
  }

  publicKeyPem(): string {
    return this.signer.publicKeyPem();
  }

  async search(user: AirlockUser, q: Omit<SearchQuery, 'sites'>): Promise<{ recordings: RecordingSummary[]; total: number }> {
    return this.catalog.search({ ...q, sites: recordingSites(user) });
  }

  /** A recording the user may read; others look missing, and vendors are refused outright. */
  async summary(user: AirlockUser, sessionId: string): Promise<RecordingSummary> {
    assertMayReadRecordings(user);
    const summary = await this.catalog.get(sessionId);
    if (summary === undefined || !mayReadRecording(user, summary)) throw notFound('unknown_recording', 'No such recording.');
    return summary;
  }

  dirOf(summary: RecordingSummary): string {
    return path.join(this.store, summary.dir);
  }

  /** The recording's manifest; a recording whose folder is gone or damaged is an error that says so. */
  async manifest(summary: RecordingSummary): Promise<Manifest> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(this.dirOf(summary), MANIFEST_FILE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new AppError(410, 'recording_missing', 'This recording is missing from the store, so it fails verification. Tell your Airlock administrator.', { report: true });
    }
    const manifest = parseManifest(bytes);
    if (manifest === undefined) throw conflict('recording_damaged', "This recording's manifest is damaged, so it fails verification. Tell your Airlock administrator.");
    return manifest;
  }

  /**
   * Verifies a recording: its folder against the manifest and signature, and the manifest
   * against its place, the index entry and the audit log (binding.ts). Files are re-hashed only
   * when one of the folder changed since the last check: the stamp includes each file's ctime,
   * which no one can set back (unlike mtime), so any write shows. The cross-checks run every
   * time (cheap). The CLI always re-hashes everything.
   */
  async verify(summary: RecordingSummary): Promise<RecordingVerification> {
    const dir = this.dirOf(summary);
    const names = (await readdir(dir).catch(() => [] as string[])).sort();
    const stamp = (await Promise.all(names.map((n) => stat(path.join(dir, n)).then((s) => `${n}:${s.size}:${s.ctimeMs}`, () => n)))).join('|');
    const cached = this.verified.get(summary.sessionId);
    let inspection: FolderInspection;
    if (cached !== undefined && cached.stamp === stamp) inspection = cached.inspection;
    else {
      inspection = await inspectFolder(dir, this.publicKeyPem());
      if (this.verified.size >= VERIFY_CACHE_ENTRIES) this.verified.delete(this.verified.keys().next().value ?? '');
      this.verified.set(summary.sessionId, { stamp, inspection });
    }
    // Without a manifest the recording has failed already; there is nothing to compare the event with.
    const audit = inspection.manifest === undefined ? undefined : await this.finalisedEvent(summary);
    return bindVerification(inspection, { place: { sessionId: summary.sessionId, storeDir: summary.dir }, index: summary, audit });
  }

  private async finalisedEvent(summary: RecordingSummary): Promise<FinalisedFact | null | 'unknown'> {
    const known = this.finalised.get(summary.sessionId);
    if (known !== undefined) return known;
    const legacy = summary.finalisedAt === undefined;
    const found = await findFinalised(
      this.audit,
      summary.sessionId,
      legacy
        ? { from: new Date(Date.parse(summary.endedAt) - MAX_AT_DRIFT_MS), to: new Date(Date.parse(summary.endedAt) + LEGACY_EVENT_WINDOW_MS) }
        : { from: new Date(Date.parse(summary.finalisedAt ?? '') - MAX_AT_DRIFT_MS), to: new Date(Date.parse(summary.finalisedAt ?? '') + FINALISED_EVENT_SLACK_MS) },
    );
    if (found === null || found === 'unknown') return legacy ? 'unknown' : found;
    if (this.finalised.size >= VERIFY_CACHE_ENTRIES) this.finalised.delete(this.finalised.keys().next().value ?? '');
    this.finalised.set(summary.sessionId, found);
    return found;
  }

  fileName(kind: string): string | undefined {
    return (STORE_FILE_NAMES as Record<string, string>)[kind];
  }

  /** Playback and downloads are audit events (once per playback, not per Range request). */
  async recordAccess(user: AirlockUser, summary: RecordingSummary, action: 'recording.played' | 'recording.downloaded' | 'recording.bundle_downloaded' | 'recording.export_requested', details: Record<string, unknown>): Promise<void> {
    await this.audit.append({
      actor: { id: user.id, name: user.name },
      action,
      target: { type: 'session', id: summary.sessionId },
      outcome: 'ok',
      reason: null,
      details,
      site: summary.siteId,
    });
  }

  /** The moments of a session, for the player's timeline: connect, commands, clipboard, warnings, kills, end. */
  async timeline(summary: RecordingSummary): Promise<TimelineEntry[]> {
    const start = Date.parse(summary.startedAt);
    const entries: TimelineEntry[] = [];
    const eventsFile = summary.files.find((f) => f.kind === 'events');
    if (eventsFile !== undefined) {
      const text = await readFile(path.join(this.dirOf(summary), eventsFile.name), 'utf8').catch(() => '');
      for (const line of typedLines(text)) if (line.text.trim() !== '') entries.push({ t: line.t, kind: 'command', label: line.text.slice(0, 200) });
      for (const raw of text.split('\n')) {
        if (!raw.includes('"clipboard"')) continue;
        try {
          const e = JSON.parse(raw) as { t: number; type: string; text?: string };
          if (e.type === 'clipboard') entries.push({ t: e.t, kind: 'clipboard', label: `clipboard: ${(e.text ?? '').slice(0, 80)}` });
        } catch {
          // a torn last line: ignore
        }
      }
    }
    for (const e of await this.sessionAudit(summary)) {
      const kind = e.action === 'grant.revoked' ? 'revoked' : SESSION_MOMENTS[e.action];
      const t = Date.parse(e.at) - start;
      if (kind === undefined || t < 0) continue;
      entries.push({ t, kind, label: `${e.action}${e.reason ? ` (${e.reason})` : ''}${e.actor ? ` by ${e.actor.name}` : ''}` });
    }
    const manifest = await this.manifest(summary);
    // Graphical sessions: the words OCR read on the screen, at the moment they appeared.
    const ocr = await readOcr(this.dirOf(summary), manifest.files.find((f) => f.kind === 'recording')?.sha256, this.publicKeyPem());
    if (ocr !== undefined) for (const r of ocr.reads) entries.push({ t: Math.max(0, ocr.firstSync + r.t - start), kind: 'screen', label: `on screen: ${r.text}` });
    const grantEnd = Date.parse(manifest.grant.end);
    for (const minutes of WARN_MINUTES) {
      const at = grantEnd - minutes * 60_000 - start;
      if (at > 0 && at < Date.parse(summary.endedAt) - start) entries.push({ t: at, kind: 'warning', label: `${minutes} minutes left in the window` });
    }
    return entries.sort((a, b) => a.t - b.t);
  }

  private async sessionAudit(summary: RecordingSummary): Promise<AuditEvent[]> {
    const [bySession, byRequest] = await Promise.all([
      this.audit.query({ target: { type: 'session', id: summary.sessionId }, limit: 500 }),
      this.audit.query({ target: { type: 'request', id: summary.requestId }, action: 'grant.revoked', limit: 10 }),
    ]);
    return [...bySession.events, ...byRequest.events];
  }

  /** The evidence bundle of one access request: every session's folder, the request's audit events, the public key. */
  async bundle(user: AirlockUser, requestId: string): Promise<{ stream: Readable; fileName: string }> {
    const found = await this.catalog.search({ filters: { request: requestId }, text: undefined, from: undefined, to: undefined, sites: recordingSites(user), limit: 1000, offset: 0 });
    if (found.recordings.length === 0) throw notFound('unknown_request', 'No recordings for this request that you may read.');
    // The request's and its sessions' audit events, as export lines: each carries prev, seq and
    // hash, so it can be checked offline against its own hash. Sessions count by the request
    // their events name too, so a session the index lost still has its `recording.finalised`
    // event here, and the offline check reports its recording missing.
    const targets = new Set([`request:${requestId}`, ...found.recordings.map((r) => `session:${r.sessionId}`)]);
    const events: string[] = [];
    for await (const line of this.audit.exportLines()) {
      const event = parseExportLine(line).event;
      if (event === undefined) continue;
      const e = JSON.parse(event) as { target?: { type: string; id: string } | null; details?: { requestId?: unknown } };
      const target = e.target;
      if (target == null) continue;
      if (targets.has(`${target.type}:${target.id}`) || (target.type === 'session' && e.details?.requestId === requestId)) events.push(line);
    }
    const first = found.recordings[0];
    if (first !== undefined) await this.recordAccess(user, first, 'recording.bundle_downloaded', { requestId, sessions: found.recordings.length });
    const readme = [
      `Airlock evidence bundle for access request ${requestId}`,
      '',
      'sessions/<session id>/  one folder per session: recording.guac (Guacamole protocol dump),',
      '                        typescript.txt (+ .timing) for SSH/Telnet, events.jsonl (input the',
      '                        portal relayed), manifest.json (SHA-256 of each file) and manifest.sig',
      '                        (Ed25519 signature of manifest.json, base64).',
      '                        exports/ holds video exports made of it, if any: not evidence; each',
      '                        one\'s SHA-256 is in its recording.exported event below.',
      'audit-events.jsonl      the audit events about this request and its sessions.',
      'public-key.pem          the signing public key (compare it with the one your Airlock publishes',
      '                        at /api/recordings/public-key).',
      '',
      'Verify offline:  npm run airlock -- bundle verify THIS_FILE.tar.gz --public-key published-key.pem',
      'or by hand:      sha256sum each file against manifest.json, then',
      '                 base64 -d manifest.sig > sig.bin &&',
      '                 openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile sig.bin',
      '',
    ].join('\n');
    const staging = new Map<string, string>([
      ['README.txt', readme],
      ['public-key.pem', this.publicKeyPem()],
      ['audit-events.jsonl', `${events.join('\n')}\n`],
    ]);
    // tar archives files, so the bundle is assembled in a scratch folder first.
    const stream = new PassThrough();
    const work = await mkdtemp(path.join(tmpdir(), 'airlock-bundle-'));
    const root = path.join(work, `airlock-request-${requestId}`);
    await mkdir(path.join(root, 'sessions'), { recursive: true });
    for (const [name, content] of staging) await writeFile(path.join(root, name), content);
    for (const r of found.recordings) {
      // A folder that is gone is left out; the bundle's audit events still list it, so it shows as missing.
      await cp(this.dirOf(r), path.join(root, 'sessions', r.sessionId), { recursive: true }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
    }
    const archive = createTar({ gzip: true, cwd: work, portable: true }, [path.basename(root)]);
    archive.pipe(stream);
    archive.on('end', () => void rm(work, { recursive: true, force: true }));
    archive.on('error', (err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err))));
    return { stream, fileName: `airlock-request-${requestId}.tar.gz` };
  }

  // ---- legal holds and retention ----

  async holds(user: AirlockUser): Promise<Hold[]> {
    assertMayReadRecordings(user);
    const out: Hold[] = [];
    for (const kind of ['request', 'machine'] as const) {
      for (const [id, json] of Object.entries(await this.redis.hGetAll(keys.recordings.holds(kind)))) {
        const h = JSON.parse(json) as Omit<Hold, 'kind' | 'id'>;
        out.push({ kind, id, ...h });
      }
    }
    return out;
  }

  async placeHold(user: AirlockUser, kind: 'request' | 'machine', id: string, reason: string): Promise<Hold> {
    assertMayHoldRecordings(user, 'place');
    const hold: Hold = { kind, id, by: { id: user.id, name: user.name }, at: new Date().toISOString(), reason };
    await this.redis.hSet(keys.recordings.holds(kind), id, JSON.stringify({ by: hold.by, at: hold.at, reason }));
    await this.audit.append({ actor: hold.by, action: 'recording.hold_placed', target: { type: kind, id }, outcome: 'ok', reason, details: {}, site: null });
    return hold;
  }

  async releaseHold(user: AirlockUser, kind: 'request' | 'machine', id: string): Promise<void> {
    assertMayHoldRecordings(user, 'release');
    if ((await this.redis.hDel(keys.recordings.holds(kind), id)) === 0) throw notFound('unknown_hold', 'No such hold.');
    await this.audit.append({ actor: { id: user.id, name: user.name }, action: 'recording.hold_released', target: { type: kind, id }, outcome: 'ok', reason: null, details: {}, site: null });
  }

  private async held(summary: RecordingSummary): Promise<boolean> {
    const [byRequest, byMachine] = await Promise.all([
      this.redis.hExists(keys.recordings.holds('request'), summary.requestId),
      this.redis.hExists(keys.recordings.holds('machine'), summary.machine.id),
    ]);
    return byRequest === 1 || byMachine === 1;
  }

  /** Deletes recordings past their site's retention, except those on hold; audits each deletion. */
  async purge(now: Date = new Date()): Promise<{ purged: number; held: number }> {
    const sites = new Map((await this.inventory.sites()).map((s) => [s.id, s.retentionDays ?? this.defaultRetentionDays]));
    const shortest = Math.min(this.defaultRetentionDays, ...sites.values());
    let purged = 0;
    let held = 0;
    const candidates = await this.catalog.getMany(await this.catalog.endedBefore(new Date(now.getTime() - shortest * 86_400_000), 10_000));
    for (const summary of candidates) {
      const days = sites.get(summary.siteId) ?? this.defaultRetentionDays;
      if (Date.parse(summary.endedAt) > now.getTime() - days * 86_400_000) continue;
      if (await this.held(summary)) {
        held++;
        continue;
      }
      // Audited first: a crash after it leaves a recording to purge again, never one gone
      // without a word (verification reports a folder that vanished unaudited as missing).
      await this.audit.append({
        actor: null,
        action: 'recording.purged',
        target: { type: 'session', id: summary.sessionId },
        outcome: 'ok',
        reason: 'retention',
        details: { requestId: summary.requestId, machine: summary.machine.id, endedAt: summary.endedAt, retentionDays: days },
        site: summary.siteId,
      });
      await rm(this.dirOf(summary), { recursive: true, force: true });
      await this.catalog.remove(summary.sessionId);
      purged++;
    }
    return { purged, held };
  }
}
