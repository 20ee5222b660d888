// What auditors and plant managers do with recordings: find them, read their manifest and
// timeline, stream their files, verify them, bundle a request's evidence, place legal holds, and
// purge by retention, whichever store keeps them (store.ts). Who may see what is policies.ts's to say (auditors and admins every site,
// plant managers their own sites, vendors none); this service asks it before every read.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { create as createTar } from 'tar';
import type { AirlockUser } from '../server/user.ts';
import { AppError, conflict, errorMessage, notFound } from '../server/errors.ts';
import { assertMayHoldRecordings, assertMayReadRecordings, mayReadRecording, recordingSites } from '../server/policies.ts';
import { MAX_AT_DRIFT_MS, parseExportLine, type AuditLog } from '../server/audit/store.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import type { RecordingCatalog, RecordingSummary, SearchQuery } from './catalog.ts';
import { inspectFolder, parseManifest, type FolderInspection, type Manifest, type RecordingVerification } from './manifest.ts';
import { bindVerification, findFinalised, type FinalisedFact } from './binding.ts';
import { MANIFEST_FILE, STORE_FILE_NAMES } from './layout.ts';
import { FilesystemStore, NotInStoreError, type StoredRead } from './store.ts';
import { WARN_MINUTES } from '../server/domain.ts';
import type { Logger } from 'pino';
import type { RecordingStore } from './store.ts';
import type { RetentionPolicy } from './retention.ts';
import type { ManifestSigner } from './signing.ts';
import { typedLines } from './text.ts';
import { OCR_LABEL_CHARS, readOcr } from './ocr.ts';
import { recordingStart } from './clock.ts';

export interface TimelineEntry {
  /** Milliseconds from the session start. */
  t: number;
  kind: 'connect' | 'command' | 'clipboard' | 'warning' | 'revoked' | 'terminated' | 'disconnect' | 'watch' | 'observer' | 'file' | 'screen';
  label: string;
  /** The whole text when the label shows only its start (a busy screen's words): the player's find searches it. */
  detail?: string;
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
  // The file airlock (sessions/files): every transfer, scan and decision on the session.
  'file.uploaded': 'file',
  'file.scanned': 'file',
  'file.scan_failed': 'file',
  'file.blocked': 'file',
  'file.released': 'file',
  'file.denied': 'file',
  'file.delivered': 'file',
  'file.delivery_failed': 'file',
  'file.refused': 'file',
  'file.received': 'file',
  'file.download_failed': 'file',
  'file.downloaded': 'file',
};

/** The required observer's moments in the events file (sessions/observer-gate.ts), as the timeline says them. */
const OBSERVER_MOMENTS: Record<string, (by: string) => string> = {
  waiting: () => 'waiting for a plant observer: input held',
  unconfirmed: () => 'observer unconfirmed (store unreachable): input held',
  grace: () => 'observer required: unobserved grace',
  joined: (by) => `observer joined: ${by}`,
  left: (by) => `observer left: ${by}`,
  paused: (by) => `vendor input paused by ${by}`,
  resumed: (by) => `vendor input resumed by ${by}`,
  control_taken: (by) => `controls taken by ${by}`,
  control_returned: (by) => `controls returned by ${by}`,
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
  readonly store: RecordingStore;
  private readonly redis: RedisClient;
  private readonly catalog: RecordingCatalog;
  private readonly audit: AuditLog;
  private readonly signer: ManifestSigner;
  private readonly retention: RetentionPolicy;
  private readonly log: Logger | undefined;

  constructor(deps: { store: RecordingStore; redis: RedisClient; catalog: RecordingCatalog; audit: AuditLog; signer: ManifestSigner; retention: RetentionPolicy; log?: Logger }) {
    this.store = deps.store;
    this.redis = deps.redis;
    this.catalog = deps.catalog;
    this.audit = deps.audit;
    this.signer = deps.signer;
    this.retention = deps.retention;
    this.log = deps.log?.child({ module: 'recordings' });
  }

  /**
   * The recording's folder on this machine's disk: the renderer's derived data (keyframes,
   * thumbnails, activity strip, screen text) lives beside it. Only a filesystem store has one;
   * on S3 seeking replays from the start and says why (keyframes_unavailable).
   */
  dirOf(summary: RecordingSummary): string {
    if (!(this.store instanceof FilesystemStore)) throw notFound('keyframes_unavailable', 'Seeking replays from the start: keyframes are kept only with a filesystem recording store.');
    return path.join(this.store.root, summary.dir);
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

  /** The recording's folder as a local directory, where the store is one (the routes serve it with sendFile). */
  localDirOf(summary: RecordingSummary): string | undefined {
    return this.store.localDir(summary.dir);
  }

  /** One file of a recording from the store, whole or the HTTP Range asked for. */
  async readFile(summary: RecordingSummary, name: string, range: string | undefined): Promise<StoredRead> {
    return this.store.read(summary.dir, name, range);
  }

  /** The recording's manifest; a recording whose folder is gone or damaged is an error that says so. */
  async manifest(summary: RecordingSummary): Promise<Manifest> {
    let bytes: Buffer;
    try {
      bytes = await this.store.folder(summary.dir).read(MANIFEST_FILE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof NotInStoreError)) throw err;
      throw new AppError(410, 'recording_missing', 'This recording is missing from the store, so it fails verification. Tell your Airlock administrator.', { report: true });
    }
    const manifest = parseManifest(bytes);
    if (manifest === undefined) throw conflict('recording_damaged', "This recording's manifest is damaged, so it fails verification. Tell your Airlock administrator.");
    return manifest;
  }

  /**
   * Verifies a recording: its folder against the manifest and signature, and the manifest
   * against its place, the index entry and the audit log (binding.ts). Files are re-hashed only
   * when one of the folder changed since the last check: the store's fingerprint (each file's
   * ctime on a disk, which no one can set back unlike mtime; each object's ETag and time in S3)
   * shows any write. The cross-checks run every time (cheap). The CLI always re-hashes everything.
   */
  async verify(summary: RecordingSummary): Promise<RecordingVerification> {
    const stamp = await this.store.fingerprint(summary.dir);
    const cached = this.verified.get(summary.sessionId);
    let inspection: FolderInspection;
    if (cached !== undefined && cached.stamp === stamp) inspection = cached.inspection;
    else {
      inspection = await inspectFolder(this.store.folder(summary.dir), this.publicKeyPem());
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

  /**
   * The moments of a session, for the player's timeline: connect, commands, clipboard, warnings,
   * kills, end — at ms since startedAt — and where the recording's first frame sits on that clock
   * (`recordingStart`, recordings/clock.ts; null when the recording does not say).
   */
  async timeline(summary: RecordingSummary): Promise<{ timeline: TimelineEntry[]; recordingStart: number | null }> {
    const start = Date.parse(summary.startedAt);
    const entries: TimelineEntry[] = [];
    const eventsFile = summary.files.find((f) => f.kind === 'events');
    const text =
      eventsFile === undefined
        ? ''
        : await this.store
            .folder(summary.dir)
            .read(eventsFile.name)
            .then((b) => b.toString('utf8'), () => '');
    if (eventsFile !== undefined) {
      // Who typed: the vendor's lines as typed, an observer's (holding the controls) named.
      for (const line of typedLines(text)) if (line.text.trim() !== '') entries.push({ t: line.t, kind: 'command', label: `${line.by === undefined ? '' : `${line.by.name}: `}${line.text}`.slice(0, 200) });
      for (const raw of text.split('\n')) {
        if (!raw.includes('"clipboard"') && !raw.includes('"observer"')) continue;
        try {
          const e = JSON.parse(raw) as { t: number; type: string; text?: string; event?: string; by?: { name?: string } };
          if (e.type === 'clipboard') entries.push({ t: e.t, kind: 'clipboard', label: `clipboard: ${(e.text ?? '').slice(0, 80)}` });
          const moment = e.type === 'observer' ? OBSERVER_MOMENTS[e.event ?? ''] : undefined;
          if (moment !== undefined) entries.push({ t: e.t, kind: 'observer', label: moment(e.by?.name ?? 'an observer') });
        } catch {
          // a torn last line: ignore
        }
      }
    }
    for (const e of await this.sessionAudit(summary)) {
      const kind = e.action === 'grant.revoked' ? 'revoked' : SESSION_MOMENTS[e.action];
      const t = Date.parse(e.at) - start;
      if (kind === undefined || t < 0) continue;
      const file = kind === 'file' && typeof e.details['name'] === 'string' ? ` ${e.details['name']}` : '';
      entries.push({ t, kind, label: `${e.action}${file}${e.reason ? ` (${e.reason})` : ''}${e.actor ? ` by ${e.actor.name}` : ''}` });
    }
    const manifest = await this.manifest(summary);
    // Graphical sessions: the words OCR read on the screen, at the moment they appeared.
    const ocr = await readOcr(this.dirOf(summary), manifest.files.find((f) => f.kind === 'recording')?.sha256, this.publicKeyPem());
    if (ocr !== undefined) {
      const first = recordingStart(text, summary.startedAt, ocr.firstSync) ?? 0;
      for (const r of ocr.reads) {
        const label = `on screen: ${r.text.slice(0, OCR_LABEL_CHARS)}`;
        entries.push(r.text.length > OCR_LABEL_CHARS ? { t: first + r.t, kind: 'screen', label, detail: r.text } : { t: first + r.t, kind: 'screen', label });
      }
    }
    const grantEnd = Date.parse(manifest.grant.end);
    for (const minutes of WARN_MINUTES) {
      const at = grantEnd - minutes * 60_000 - start;
      if (at > 0 && at < Date.parse(summary.endedAt) - start) entries.push({ t: at, kind: 'warning', label: `${minutes} minutes left in the window` });
    }
    return { timeline: entries.sort((a, b) => a.t - b.t), recordingStart: recordingStart(text, summary.startedAt) };
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
      await this.store.copyTo(r.dir, path.join(root, 'sessions', r.sessionId));
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
    await this.applyHolds(kind, id);
    return hold;
  }

  /**
   * The store's own legal hold (S3 Object Lock) follows the holds in Redis on every recording of
   * the request or machine: on while any hold covers it. The Redis hold is what the purge obeys,
   * so a store that cannot be told is an error to retry (placing or releasing again), not a gap.
   */
  private async applyHolds(kind: 'request' | 'machine', id: string): Promise<void> {
    if (!this.store.legalHolds) return;
    const found = await this.catalog.search({ filters: kind === 'request' ? { request: id } : { machine: id }, text: undefined, from: undefined, to: undefined, sites: undefined, limit: 10_000, offset: 0 });
    try {
      for (const r of found.recordings) await this.store.setLegalHold(r.dir, await this.retention.held(r.requestId, r.machine.id));
    } catch (err) {
      this.log?.error({ kind, id, err: { message: errorMessage(err) } }, 'could not set the legal hold in the recording store');
      throw new AppError(503, 'store_unavailable', 'The hold is recorded, but the recording store could not be told. Try again in a moment.', { report: true });
    }
  }

  async releaseHold(user: AirlockUser, kind: 'request' | 'machine', id: string): Promise<void> {
    assertMayHoldRecordings(user, 'release');
    if ((await this.redis.hDel(keys.recordings.holds(kind), id)) === 0) throw notFound('unknown_hold', 'No such hold.');
    await this.audit.append({ actor: { id: user.id, name: user.name }, action: 'recording.hold_released', target: { type: kind, id }, outcome: 'ok', reason: null, details: {}, site: null });
    await this.applyHolds(kind, id);
  }

  /**
   * Deletes recordings past their site's retention, except those on hold and those the store
   * still locks (S3 Object Lock: a site's retention shortened after they were written, or a hold
   * in the store); audits each deletion. `locked` counts what the store kept, and the log says until when.
   */
  async purge(now: Date = new Date()): Promise<{ purged: number; held: number; locked: number }> {
    const defaultDays = this.retention.defaultDays;
    const sites = await this.retention.daysBySite();
    const shortest = Math.min(defaultDays, ...sites.values());
    let purged = 0;
    let held = 0;
    let locked = 0;
    const candidates = await this.catalog.getMany(await this.catalog.endedBefore(new Date(now.getTime() - shortest * 86_400_000), 10_000));
    for (const summary of candidates) {
      const days = sites.get(summary.siteId) ?? defaultDays;
      if (Date.parse(summary.endedAt) > now.getTime() - days * 86_400_000) continue;
      if (await this.retention.held(summary.requestId, summary.machine.id)) {
        held++;
        continue;
      }
      const storeLock = await this.store.lockOf(summary.dir, now);
      if (storeLock !== undefined) {
        // Not even tried: a compliance-mode lock refuses every delete until its date.
        locked++;
        this.log?.info(
          { sessionId: summary.sessionId, lockedUntil: storeLock.until?.toISOString() ?? null, legalHold: storeLock.legalHold },
          'retention: the recording is past its retention but the store still locks it; it is kept until the lock ends',
        );
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
      await this.store.remove(summary.dir);
      await this.catalog.remove(summary.sessionId);
      purged++;
    }
    if (locked > 0) this.log?.warn({ locked }, 'retention: recordings past their retention are kept because the store still locks them');
    return { purged, held, locked };
  }
}
