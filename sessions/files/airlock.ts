// The file airlock: files into the plant land in quarantine (never on the machine), are hashed
// and scanned by clamd, then released (automatically or by a plant manager, per site) or blocked,
// and the instance holding the session delivers released ones into it (sessions/files/streams.ts).
// Files out of the plant are taken off the relay, hashed, kept with the recording and, where the
// site asks, held until a plant manager releases them. Every step is audited on the session (so
// it is in the recording's timeline) and the records go into the session's evidence.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { AppError, errorMessage, forbidden, notFound, conflict, unavailable } from '../../server/errors.ts';
import type { AuditLog } from '../../server/audit/store.ts';
import type { EventBus } from '../../server/events/bus.ts';
import type { InventoryStore } from '../../server/inventory/store.ts';
import type { AirlockFile, FileControl } from '../../server/plugins/contract.ts';
import { DEFAULT_SITE_FILES, type Policy, type SiteFiles } from '../../server/inventory/schema.ts';
import { assertMayDecideFile, assertMayTransferFiles, maySeeSessionFiles, maySeeSiteFiles, type FileSubject } from '../../server/policies.ts';
import type { AirlockUser } from '../../server/user.ts';
import { SpoolFiles } from '../../recordings/layout.ts';
import type { SessionRegistry, LiveSessionRecord } from '../registry.ts';
import { ScannerError, type ClamdScanner, type ScanVerdict } from './clamd.ts';
import { FileRecords, type FileRecord, type FileState } from './records.ts';
import { DELIVERY_READ_BYTES, DeliveryError, SessionFileStreams, type ReceivedFile } from './streams.ts';

/** Protocols whose machines can take files: SSH through guacd's SFTP, RDP through its redirected drive. */
const FILE_PROTOCOLS = new Set(['ssh', 'rdp']);
export const UNSUPPORTED_MESSAGE: Record<string, string> = {
  vnc: 'File transfer is not supported for VNC machines: VNC has no file channel. Ask the plant for another way.',
  telnet: 'File transfer is not supported for Telnet machines: Telnet has no file channel.',
};
/** Bytes buffered for clamd while it reads the upload: a few of its chunks, so neither side waits on the other. */
const SCAN_FEED_BYTES = 4 * 1024 * 1024;
/** Longest file name the airlock keeps (and guacd's SFTP path limit leaves room for). */
const MAX_NAME_LENGTH = 200;
/** How long a file blocked as infected stays on the plant's file screen (the audit log keeps it for good). */
export const BLOCKED_SHOWN_MS = 24 * 3_600_000;
/** Where a scan error's file waits for nobody: its bytes are deleted at once (nothing unscanned stays). */
const PROBLEMS = {
  infected: (signature: string) => ({ code: 'file_infected', message: `The virus scanner found ${signature}; the file was blocked and never reached the machine.` }),
  denied: { code: 'file_denied', message: 'A plant manager did not release this file.' },
  sessionEnded: { code: 'session_ended', message: 'The session ended before the file was delivered.' },
} as const;

/** What the session screen and the plant see of a file: the fields integrations see too (AirlockFile), and more. */
export interface FileView extends Pick<AirlockFile, 'id' | 'sessionId' | 'direction' | 'name' | 'bytes' | 'sha256'> {
  state: FileState;
  scan: FileRecord['scan'];
  decision: FileRecord['decision'];
  by: FileRecord['by'];
  createdAt: string;
  deliveredAt: string | null;
  problem: FileRecord['problem'];
  machine: { id: string; siteId: string; protocol: string };
}

/** What the plant's file screen shows of a file: the file, and the machine's and the session's names. */
export interface PlantFileView extends FileView {
  machineName: string;
  /** The vendor's company (null: unknown once the session is over). */
  vendorCompany: string | null;
  /** Whether the session still runs (Watch makes sense). */
  sessionLive: boolean;
}

export const presentFile = (r: FileRecord): FileView => ({
  id: r.id,
  sessionId: r.sessionId,
  direction: r.direction,
  name: r.name,
  bytes: r.bytes,
  sha256: r.sha256,
  state: r.state,
  scan: r.scan,
  decision: r.decision,
  by: r.by,
  createdAt: r.createdAt,
  deliveredAt: r.deliveredAt,
  problem: r.problem,
  machine: { id: r.machineId, siteId: r.siteId, protocol: r.protocol },
});

/** Whether a session on this protocol, under this policy, may move files at all, and if not, why. */
export function fileCapability(protocol: string, policy: Policy): { supported: boolean; reason: string | null } {
  if (!FILE_PROTOCOLS.has(protocol)) return { supported: false, reason: UNSUPPORTED_MESSAGE[protocol] ?? 'File transfer is not supported for this machine.' };
  if (!policy.fileTransfer) return { supported: false, reason: 'This grant does not allow file transfer.' };
  return { supported: true, reason: null };
}

export interface FileAirlockDeps {
  log: Logger;
  records: FileRecords;
  scanner: ClamdScanner;
  audit: AuditLog;
  events: EventBus;
  inventory: InventoryStore;
  registry: SessionRegistry;
  spool: string;
  quarantineDir: string;
}

/** The live session's side, on the instance holding it. */
interface LocalFiles {
  streams: SessionFileStreams;
  facts: SessionFacts;
}

export interface SessionFacts {
  sessionId: string;
  requestId: string;
  machine: { id: string; siteId: string; protocol: string };
  user: { id: string; name: string };
}

/** A file name as the machine will get it: its last path part, no control characters, bounded. */
export function cleanFileName(raw: string): string | undefined {
  const base = raw.split(/[\\/]/).pop()?.trim() ?? '';
  // eslint-disable-next-line no-control-regex
  if (base === '' || base === '.' || base === '..' || /[\u0000-\u001f\u007f]/.test(base) || [...base].length > MAX_NAME_LENGTH) return undefined;
  return base;
}

const extensionOf = (name: string): string => {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
};

export class FileAirlock implements FileControl {
  private readonly deps: FileAirlockDeps;
  private readonly local = new Map<string, LocalFiles>();
  private offEvents: (() => void) | undefined;
  /** Per session, the rewrite of its spool record in flight (serialised: the last one wins). */
  private readonly spoolWrites = new Map<string, Promise<void>>();

  constructor(deps: FileAirlockDeps) {
    this.deps = deps;
  }

  start(): void {
    // A file released anywhere (an approval on another instance) is delivered by the one holding its session.
    this.offEvents = this.deps.events.on((event) => {
      if (event.type !== 'session.file' || event.fileId === undefined || event.sessionId === undefined || !this.local.has(event.sessionId)) return;
      if (event.state === 'released') void this.deliver(event.fileId);
      else void this.writeSpoolRecord(event.sessionId);
    });
  }

  stop(): void {
    this.offEvents?.();
  }

  // ---- the live session's side ----

  /** Called by LiveSession as it opens: the streams it hands guacd's instructions to (undefined: no files on this grant). */
  openSession(facts: SessionFacts, policy: Policy): SessionFileStreams | undefined {
    if (!fileCapability(facts.machine.protocol, policy).supported) return undefined;
    const streams = new SessionFileStreams({
      open: (name, mimetype) => {
        const id = randomUUID();
        const file = this.quarantined(facts.sessionId, id);
        return { file, done: (received, problem) => void this.received(facts, id, name, mimetype, received, problem) };
      },
    });
    this.local.set(facts.sessionId, { streams, facts });
    // The quarantine folder of the session exists before any download starts.
    void mkdir(path.dirname(this.quarantined(facts.sessionId, 'x')), { recursive: true, mode: 0o700 }).catch(() => undefined);
    return streams;
  }

  /**
   * The session ended: deliveries in flight fail, files waiting for it are failed (they belong
   * to this session) and their bytes deleted; the record of every file goes into the spool
   * beside the recording before the finaliser takes it.
   */
  async closeSession(sessionId: string): Promise<void> {
    const entry = this.local.get(sessionId);
    if (entry === undefined) return;
    this.local.delete(sessionId);
    entry.streams.close();
    try {
      for (const r of await this.deps.records.ofSession(sessionId)) {
        if (r.direction !== 'in' || !['quarantined', 'scanning', 'awaiting_approval', 'released'].includes(r.state)) continue;
        const next: FileRecord = { ...r, state: 'failed', problem: PROBLEMS.sessionEnded, updatedAt: new Date().toISOString() };
        if (await this.deps.records.transition(next, [r.state])) {
          await rm(this.quarantined(sessionId, r.id), { force: true });
          await this.auditFile(next, 'file.delivery_failed', null, 'session_ended');
        }
      }
    } catch (err) {
      this.deps.log.warn({ sessionId, err: { message: errorMessage(err) } }, 'file airlock: could not close the files of an ended session');
    }
    await this.writeSpoolRecord(sessionId);
  }

  // ---- the API's side ----

  /**
   * PUT /api/sessions/:id/files: the vendor's upload, streamed into quarantine while hashed,
   * then scanned; answers with the file's record once the scan decided (or failed: 503).
   */
  async upload(user: AirlockUser, sessionId: string, rawName: string, declaredBytes: number | undefined, body: Readable, mimetype: string): Promise<FileView> {
    const session = await this.liveSession(sessionId);
    assertMayTransferFiles(user, session);
    const capability = fileCapability(session.machine.protocol, session.policy);
    if (!capability.supported) throw new AppError(session.policy.fileTransfer ? 422 : 403, session.policy.fileTransfer ? 'files_unsupported' : 'file_transfer_disabled', capability.reason ?? '');
    const rules = await this.rules(session.machine.siteId);
    const name = cleanFileName(rawName);
    if (name === undefined) throw new AppError(400, 'bad_file_name', `A file name of 1–${MAX_NAME_LENGTH} characters without folders or control characters is needed.`);
    const ext = extensionOf(name);
    if (rules.blockedTypes.includes(ext) || (rules.allowedTypes.length > 0 && !rules.allowedTypes.includes(ext))) {
      await this.refused(user, session, name, 'file_type_not_allowed');
      throw new AppError(415, 'file_type_not_allowed', `Files of type "${ext || '(none)'}" may not enter this plant${rules.allowedTypes.length > 0 ? `; allowed: ${rules.allowedTypes.join(', ')}` : ''}.`);
    }
    const tooLarge = (): AppError => new AppError(413, 'file_too_large', `Files for this plant may be at most ${formatBytes(rules.maxBytes)}.`);
    if (declaredBytes !== undefined && declaredBytes > rules.maxBytes) {
      await this.refused(user, session, name, 'file_too_large');
      body.resume();
      throw tooLarge();
    }

    const id = randomUUID();
    const file = this.quarantined(sessionId, id);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const hash = createHash('sha256');
    let bytes = 0;
    // clamd reads the upload as it arrives (into quarantine at the same time): the verdict is
    // there moments after the last byte, instead of a second pass over the file. It still
    // decides before anything is released.
    const toScanner = new PassThrough({ highWaterMark: SCAN_FEED_BYTES });
    const scanning = this.startScan(toScanner);
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > rules.maxBytes) return done(tooLarge());
        hash.update(chunk);
        // A scanner that already failed reads nothing more: the upload goes on, its verdict is known.
        if (toScanner.destroyed || toScanner.write(chunk)) return done(null, chunk);
        const go = (): void => {
          toScanner.off('drain', go);
          toScanner.off('close', go);
          done(null, chunk);
        };
        toScanner.once('drain', go);
        toScanner.once('close', go);
      },
      flush(done) {
        toScanner.end();
        done();
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      toScanner.destroy();
      await scanning;
      await rm(file, { force: true });
      if (err instanceof AppError) {
        await this.refused(user, session, name, err.code);
        throw err;
      }
      throw new AppError(400, 'upload_incomplete', 'The upload broke off before the whole file arrived.', { cause: err });
    }
    const now = new Date().toISOString();
    let record: FileRecord = {
      id,
      sessionId,
      requestId: session.requestId,
      machineId: session.machine.id,
      siteId: session.machine.siteId,
      protocol: session.machine.protocol,
      direction: 'in',
      name,
      mimetype: /^[\w.+-]+\/[\w.+-]+$/.test(mimetype) ? mimetype : 'application/octet-stream',
      bytes,
      sha256: hash.digest('hex'),
      state: 'quarantined',
      by: { id: user.id, name: user.name },
      createdAt: now,
      updatedAt: now,
      scan: null,
      decision: null,
      deliveredAt: null,
      problem: null,
    };
    await this.deps.records.create(record);
    await this.auditFile(record, 'file.uploaded', record.by, null);
    record = await this.move(record, { state: 'scanning' }, ['quarantined']);
    return presentFile(await this.scan(record, rules, file, scanning));
  }

  /** GET /api/sessions/:id/files: the session's files, for its vendor and the plant overseeing it. */
  async list(user: AirlockUser, sessionId: string): Promise<{ files: FileView[]; supported: boolean; reason: string | null; rules: SiteFiles }> {
    const session = await this.deps.registry.get(sessionId);
    const records = await this.deps.records.ofSession(sessionId);
    const subject = session ?? (records[0] === undefined ? undefined : { user: records[0].by, machine: { siteId: records[0].siteId } });
    if (subject === undefined || !maySeeSessionFiles(user, subject)) throw notFound('unknown_session', 'No such session.');
    const capability = session === undefined ? { supported: false, reason: 'The session has ended.' } : fileCapability(session.machine.protocol, session.policy);
    return { files: records.map(presentFile), ...capability, rules: await this.rules(subject.machine.siteId) };
  }

  /**
   * The plant's file screen: files waiting for a plant manager of the user's sites, across the
   * live sessions they oversee, and the files blocked as infected there in the last day.
   */
  async pending(user: AirlockUser): Promise<{ files: PlantFileView[]; blocked: PlantFileView[] }> {
    const live = await this.deps.registry.all();
    const byId = new Map(live.map((s) => [s.id, s]));
    const machineNames = new Map<string, string>();
    const present = async (r: FileRecord): Promise<PlantFileView> => {
      const session = byId.get(r.sessionId);
      let machineName = session?.machine.name ?? machineNames.get(r.machineId);
      if (machineName === undefined) {
        machineName = (await this.deps.inventory.machine(r.machineId))?.name ?? r.machineId;
        machineNames.set(r.machineId, machineName);
      }
      return { ...presentFile(r), machineName, vendorCompany: session?.user.company ?? null, sessionLive: session !== undefined };
    };
    const files: PlantFileView[] = [];
    for (const s of live) {
      if (!maySeeSessionFiles(user, s) || s.user.id === user.id) continue;
      for (const r of await this.deps.records.ofSession(s.id)) if (r.state === 'awaiting_approval') files.push(await present(r));
    }
    const blocked: PlantFileView[] = [];
    const since = Date.now() - BLOCKED_SHOWN_MS;
    for (const site of await this.deps.inventory.sites()) {
      if (!maySeeSiteFiles(user, site.id)) continue;
      for (const r of await this.deps.records.blockedOfSite(site.id, since)) if (r.by.id !== user.id) blocked.push(await present(r));
    }
    return { files, blocked };
  }

  /** One file as chat shows it (the notifier reads it by the id its event names). */
  async file(fileId: string): Promise<PlantFileView | undefined> {
    const record = await this.deps.records.get(fileId);
    if (record === undefined) return undefined;
    const session = await this.deps.registry.get(record.sessionId);
    const machineName = session?.machine.name ?? (await this.deps.inventory.machine(record.machineId))?.name ?? record.machineId;
    return { ...presentFile(record), machineName, vendorCompany: session?.user.company ?? null, sessionLive: session !== undefined };
  }

  /** A plant manager releases or denies a file waiting for them (into the plant, or out of it). */
  async decide(user: AirlockUser, fileId: string, outcome: 'released' | 'denied', reason: string | undefined): Promise<FileView> {
    const record = await this.deps.records.get(fileId);
    if (record === undefined) throw notFound('unknown_file', 'No such file.');
    assertMayDecideFile(user, fileSubject(record));
    if (record.state !== 'awaiting_approval') throw conflict('file_not_waiting', `This file is ${record.state.replace('_', ' ')}, not waiting for a decision.`);
    const decision = { by: { id: user.id, name: user.name }, at: new Date().toISOString(), outcome, reason: reason ?? null };
    const next: FileRecord = { ...record, state: outcome, decision, problem: outcome === 'denied' ? PROBLEMS.denied : null, updatedAt: decision.at };
    if (!(await this.deps.records.transition(next, ['awaiting_approval']))) throw conflict('file_not_waiting', 'Someone else decided this file a moment ago.');
    if (outcome === 'denied' && record.direction === 'in') await rm(this.quarantined(record.sessionId, record.id), { force: true });
    await this.auditFile(next, outcome === 'released' ? 'file.released' : 'file.denied', decision.by, reason ?? null);
    await this.announce(next);
    return presentFile(next);
  }

  /** GET /api/files/:id/content: a file out of the plant, to its vendor, once released. */
  async content(user: AirlockUser, fileId: string): Promise<{ stream: Readable; name: string; bytes: number; mimetype: string }> {
    const record = await this.deps.records.get(fileId);
    if (record === undefined || record.direction !== 'out' || !maySeeSessionFiles(user, fileSubject(record))) throw notFound('unknown_file', 'No such file.');
    if (record.by.id !== user.id) throw forbidden('not_session_vendor', 'Only the vendor of the session downloads its files.');
    if (record.state !== 'released') throw conflict('file_not_released', record.state === 'awaiting_approval' ? 'A plant manager has not released this file yet.' : `This file is ${record.state}.`);
    const file = this.quarantined(record.sessionId, record.id);
    await stat(file).catch(() => {
      throw new AppError(410, 'file_gone', 'The file is no longer kept for download; the plant has it with the session recording.');
    });
    await this.auditFile(record, 'file.downloaded', { id: user.id, name: user.name }, null);
    return { stream: createReadStream(file), name: record.name, bytes: record.bytes, mimetype: record.mimetype };
  }

  // ---- the steps ----

  /** The scan of an upload, fed as it arrives; settles with the verdict or the scanner's error (never rejects). */
  private startScan(feed: PassThrough): Promise<{ verdict: ScanVerdict; ms: number } | { error: unknown; ms: number }> {
    const started = performance.now();
    return this.deps.scanner.scan(feed).then(
      (verdict) => ({ verdict, ms: Math.round(performance.now() - started) }),
      (error: unknown) => {
        // Nobody reads the feed any more: let the upload run on into quarantine.
        feed.destroy();
        return { error, ms: Math.round(performance.now() - started) };
      },
    );
  }

  private async scan(record: FileRecord, rules: SiteFiles, file: string, scanning: ReturnType<FileAirlock['startScan']>): Promise<FileRecord> {
    const at = (): string => new Date().toISOString();
    const outcome = await scanning;
    const ms = outcome.ms;
    try {
      if ('error' in outcome) throw outcome.error;
      const verdict = outcome.verdict;
      const scan = { result: verdict.result, signature: verdict.result === 'infected' ? verdict.signature : null, error: null, engine: 'clamd' as const, ms, at: at() };
      if (verdict.result === 'infected') {
        await rm(file, { force: true });
        const blocked = await this.move(record, { state: 'blocked', scan, problem: PROBLEMS.infected(verdict.signature) }, ['scanning']);
        await this.auditFile(blocked, 'file.blocked', null, verdict.signature, 'refused');
        // The plant is told: its file screen lists it (and chat posts it, from the event below).
        await this.deps.records.noteBlocked(blocked, BLOCKED_SHOWN_MS);
        await this.announce(blocked);
        return blocked;
      }
      const clean = rules.release === 'auto' ? { state: 'released' as const, scan, decision: { by: null, at: at(), outcome: 'released' as const, reason: 'site releases clean files automatically' } } : { state: 'awaiting_approval' as const, scan };
      const next = await this.move(record, clean, ['scanning']);
      await this.auditFile(next, 'file.scanned', null, null);
      if (next.state === 'released') await this.auditFile(next, 'file.released', null, 'auto');
      await this.announce(next);
      if (next.state === 'released' && this.local.has(next.sessionId)) void this.deliver(next.id);
      return next;
    } catch (err) {
      // No verdict, no release: the bytes go, the vendor is told why, and may try again later.
      await rm(file, { force: true });
      const problem = err instanceof ScannerError ? { code: err.code, message: err.message } : { code: 'scanner_error', message: 'The virus scanner could not scan the file, so it was not released.' };
      const scan = { result: 'error' as const, signature: null, error: problem.code, engine: 'clamd' as const, ms, at: at() };
      const failed = await this.move(record, { state: 'failed', scan, problem }, ['scanning']);
      await this.auditFile(failed, 'file.scan_failed', null, problem.code, 'refused');
      await this.announce(failed);
      throw unavailable(problem.code, `${problem.message} Nothing was released.`, err);
    }
  }

  /** Delivers a released file into its live session (only on the instance holding it; once, whoever asks). */
  async deliver(fileId: string): Promise<void> {
    const record = await this.deps.records.get(fileId);
    const entry = record === undefined ? undefined : this.local.get(record.sessionId);
    if (record === undefined || entry === undefined || record.direction !== 'in' || record.state !== 'released') return;
    const delivering: FileRecord = { ...record, state: 'delivering', updatedAt: new Date().toISOString() };
    if (!(await this.deps.records.transition(delivering, ['released']))) return;
    await this.announce(delivering);
    const file = this.quarantined(record.sessionId, record.id);
    try {
      // Kept with the recording first: a file that reached the machine is always in the evidence,
      // and a delivered state always has its audit event (a keep that failed after the move left
      // a delivered file with neither).
      await this.keepWithRecording(record.sessionId, record.id, file);
      await entry.streams.deliver(record.name, record.mimetype, createReadStream(file, { highWaterMark: DELIVERY_READ_BYTES }));
      const delivered = await this.move(delivering, { state: 'delivered', deliveredAt: new Date().toISOString() }, ['delivering']);
      await this.auditFile(delivered, 'file.delivered', null, null);
      await this.announce(delivered);
    } catch (err) {
      const problem = err instanceof DeliveryError ? { code: err.code, message: err.message } : { code: 'delivery_failed', message: 'The file could not be delivered.' };
      const failed = await this.move(delivering, { state: 'failed', problem }, ['delivering']).catch(() => undefined);
      if (failed !== undefined) {
        await this.auditFile(failed, 'file.delivery_failed', null, problem.code, 'refused').catch(() => undefined);
        await this.announce(failed);
      }
    } finally {
      await rm(file, { force: true }).catch(() => undefined);
    }
  }

  /** A download from the machine arrived whole (or broke off): recorded, kept, held or released per site. */
  private async received(facts: SessionFacts, id: string, rawName: string, mimetype: string, received: ReceivedFile | undefined, problem: string | undefined): Promise<void> {
    const now = new Date().toISOString();
    const name = cleanFileName(rawName) ?? 'download';
    try {
      const rules = await this.rules(facts.machine.siteId);
      const base: FileRecord = {
        id,
        sessionId: facts.sessionId,
        requestId: facts.requestId,
        machineId: facts.machine.id,
        siteId: facts.machine.siteId,
        protocol: facts.machine.protocol,
        direction: 'out',
        name,
        mimetype: /^[\w.+-]+\/[\w.+-]+$/.test(mimetype) ? mimetype : 'application/octet-stream',
        bytes: received?.bytes ?? 0,
        sha256: received?.sha256 ?? '',
        state: 'failed',
        by: facts.user,
        createdAt: now,
        updatedAt: now,
        scan: null,
        decision: null,
        deliveredAt: null,
        problem: received === undefined ? { code: 'download_incomplete', message: problem ?? 'The download broke off.' } : null,
      };
      if (received === undefined) {
        await rm(this.quarantined(facts.sessionId, id), { force: true });
        await this.deps.records.create(base);
        await this.auditFile(base, 'file.download_failed', null, 'download_incomplete', 'refused');
        await this.announce(base);
        return;
      }
      await this.keepWithRecording(facts.sessionId, id, received.file);
      const record: FileRecord =
        rules.downloads === 'direct'
          ? { ...base, state: 'released', decision: { by: null, at: now, outcome: 'released', reason: 'site lets downloads through' } }
          : { ...base, state: 'awaiting_approval' };
      await this.deps.records.create(record);
      await this.auditFile(record, 'file.received', null, null);
      if (record.state === 'released') await this.auditFile(record, 'file.released', null, 'auto');
      await this.announce(record);
    } catch (err) {
      this.deps.log.error({ sessionId: facts.sessionId, err: { message: errorMessage(err) } }, 'file airlock: could not record a download');
    }
  }

  /** A copy of the bytes beside the recording (a hard link where the spool shares the disk), for the finaliser to take. */
  private async keepWithRecording(sessionId: string, fileId: string, file: string): Promise<void> {
    const spooled = new SpoolFiles(this.deps.spool, sessionId);
    const to = spooled.transferFile(fileId);
    await mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    await link(file, to).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return;
      await copyFile(file, to);
    });
  }

  /** The session's file records as JSON beside its recording (rewritten whole; the finaliser signs the last). */
  private writeSpoolRecord(sessionId: string): Promise<void> {
    const previous = this.spoolWrites.get(sessionId) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        const records = await this.deps.records.ofSession(sessionId);
        if (records.length === 0) return;
        const target = new SpoolFiles(this.deps.spool, sessionId).file('transfers');
        await writeFile(`${target}.new`, `${JSON.stringify(records.map(presentFile), null, 2)}\n`, { mode: 0o600 });
        await rename(`${target}.new`, target);
      } catch (err) {
        this.deps.log.warn({ sessionId, err: { message: errorMessage(err) } }, 'file airlock: could not write the session’s file record');
      }
    });
    this.spoolWrites.set(sessionId, next);
    void next.finally(() => {
      if (this.spoolWrites.get(sessionId) === next) this.spoolWrites.delete(sessionId);
    });
    return next;
  }

  private async move(record: FileRecord, change: Partial<FileRecord> & { state: FileState }, from: FileState[]): Promise<FileRecord> {
    const next: FileRecord = { ...record, ...change, updatedAt: new Date().toISOString() };
    if (!(await this.deps.records.transition(next, from))) throw conflict('file_state_changed', 'The file changed state meanwhile.');
    return next;
  }

  private async announce(record: FileRecord): Promise<void> {
    if (this.local.has(record.sessionId)) void this.writeSpoolRecord(record.sessionId);
    await this.deps.events
      .publish({ type: 'session.file', requestId: record.requestId, state: record.state, siteId: record.siteId, requesterId: record.by.id, actorId: record.decision?.by?.id ?? null, at: record.updatedAt, sessionId: record.sessionId, fileId: record.id })
      .catch((err: unknown) => this.deps.log.warn({ fileId: record.id, err: { message: errorMessage(err) } }, 'file airlock: could not announce a file'));
  }

  private auditFile(record: FileRecord, action: string, actor: { id: string; name: string } | null, reason: string | null, outcome: 'ok' | 'refused' = 'ok'): Promise<unknown> {
    return this.deps.audit.append({
      actor,
      action,
      target: { type: 'session', id: record.sessionId },
      outcome,
      reason,
      details: {
        requestId: record.requestId,
        fileId: record.id,
        direction: record.direction,
        name: record.name,
        bytes: record.bytes,
        sha256: record.sha256,
        state: record.state,
        ...(record.scan === null ? {} : { scan: record.scan.result, ...(record.scan.signature === null ? {} : { signature: record.scan.signature }), ...(record.scan.error === null ? {} : { scanError: record.scan.error }) }),
      },
      site: record.siteId,
    });
  }

  private refused(user: AirlockUser, session: LiveSessionRecord, name: string, code: string): Promise<unknown> {
    return this.deps.audit.append({
      actor: { id: user.id, name: user.name },
      action: 'file.refused',
      target: { type: 'session', id: session.id },
      outcome: 'refused',
      reason: code,
      details: { requestId: session.requestId, name, direction: 'in' },
      site: session.machine.siteId,
    });
  }

  private async liveSession(sessionId: string): Promise<LiveSessionRecord> {
    const session = await this.deps.registry.get(sessionId);
    if (session === undefined) throw notFound('unknown_session', 'No such live session.');
    return session;
  }

  private async rules(siteId: string): Promise<SiteFiles> {
    return (await this.deps.inventory.site(siteId))?.files ?? DEFAULT_SITE_FILES;
  }

  private quarantined(sessionId: string, fileId: string): string {
    return path.join(this.deps.quarantineDir, sessionId, fileId);
  }
}

const fileSubject = (r: FileRecord): FileSubject => ({ user: r.by, machine: { siteId: r.siteId } });

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}
