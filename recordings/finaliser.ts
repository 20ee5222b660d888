// The finaliser: when a session ends (cleanly, terminated, expired, or its instance died), its
// files move from the spool to the store (<site>/<yyyy>/<mm>/<dd>/<session>/), each is hashed, a
// manifest with the request's context is written and signed, and the session is indexed for
// search. A session whose recording is incomplete is marked so, never dropped.
//
// Idempotent and resumable, one owner at a time: under a short, renewed lock (finalise-lock.ts)
// it first writes its intent (the end reason and time, into the session's context in the
// spool), then moves, hashes, signs, indexes and audits; the context is deleted last. Whoever
// runs next (a retry, the orphan sweep, another instance) finds the intent and finishes the
// same recording with the same end; a file already moved is taken from the store.
// The store (store.ts) decides where the files are gathered: in place for the filesystem store,
// in a staging folder in the spool for S3, uploaded after signing and kept until the store holds
// them intact (a failed upload fails the attempt, audited once; the retry resumes it).
import { copyFile, mkdir, readFile, readdir, readlink, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import { errorMessage } from '../server/errors.ts';
import type { AuditLog } from '../server/audit/store.ts';
import { MAX_AT_DRIFT_MS } from '../server/audit/store.ts';
import type { EventBus } from '../server/events/bus.ts';
import type { RequestService } from '../server/requests/service.ts';
import { machineSummarySchema, policySchema } from '../server/inventory/schema.ts';
import { parseManifest, sha256File, transferSchema, type Manifest, type Transfer } from './manifest.ts';
import { contextSessionId, MANIFEST_FILE, SIGNATURE_FILE, spoolEntry, SpoolFiles, storeDir, STORE_FILE_NAMES, TRANSFER_KIND, TRANSFER_STORE_NAME, transferStoreName } from './layout.ts';
import type { RecordingStore } from './store.ts';
import type { RetentionPolicy } from './retention.ts';
import { verifySignature, type ManifestSigner } from './signing.ts';
import type { RecordingCatalog } from './catalog.ts';
import { findFinalised } from './binding.ts';
import { FinaliseLock } from './finalise-lock.ts';
import { stripTerminal, typedLines } from './text.ts';
import { enqueueRender } from './render-queue.ts';

/** The finaliser's intent, written into the context before anything moves: how the session ended. */
const intentSchema = z.object({
  endedAt: z.string(),
  endReason: z.string(),
  /** Set just before the audit event is appended: only then can a resumed attempt find one. */
  auditAt: z.string().optional(),
  /** The first failed upload to the store (audited once; the spool copy stays until a retry succeeds). */
  storeFailedAt: z.string().optional(),
});

/** Written by the broker into the spool when a session starts: enough to finalise an orphan. */
export const sessionContextSchema = z.object({
  sessionId: z.string(),
  requestId: z.string(),
  machine: machineSummarySchema,
  user: z.object({ id: z.string(), name: z.string(), company: z.string().nullable() }),
  policy: policySchema,
  startedAt: z.string(),
  instance: z.string(),
  /** guacd shares the spool and writes the SSH/Telnet typescript (absent in contexts from before: it did). */
  typescript: z.boolean().optional(),
  /** Set by the first finalise attempt; every later attempt finishes with this end. */
  end: intentSchema.optional(),
});
export type SessionContext = z.infer<typeof sessionContextSchema>;

/**
 * A session file in the spool with no context beside it (a set-up that stopped before the
 * context was written) is deleted once it is empty, closed and this old: nothing was recorded.
 */
const STRAY_GRACE_MS = 60_000;
/** Typed and shown text indexed per session, at most: enough for search, bounded for a flood. */
const MAX_INDEXED_TEXT = 4 * 1024 * 1024;

/**
 * guacd's child may still flush the last instructions after the browser is gone; a file is
 * taken once its size has not changed for SETTLE_QUIET_MS (checked every SETTLE_POLL_MS), or
 * after SETTLE_MAX_MS whatever happens (a recording that keeps growing is a guacd left hanging).
 */
const SETTLE_POLL_MS = 100;
const SETTLE_QUIET_MS = 500;
const SETTLE_MAX_MS = 5_000;

/** An audit append takes at most a few Redis command timeouts; a minute bounds the look-up for one. */
const AUDIT_APPEND_SLACK_MS = 60_000;

/** Longest wait for guacd to close a recording after the session ended. */
const RELEASE_MAX_MS = 15_000;

/** True while any process on this host holds one of `files` open (guacd still writing). */
async function heldOpen(files: Set<string>): Promise<boolean> {
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (files.has(target)) return true;
    }
  }
  return false;
}

/** Waits until guacd (on this host) has closed the files, then until their sizes settle. */
async function released(files: string[]): Promise<void> {
  const open = new Set(files);
  const deadline = Date.now() + RELEASE_MAX_MS;
  while (Date.now() < deadline && (await heldOpen(open))) await delay(SETTLE_POLL_MS);
  await settled(files);
}

async function settled(files: string[]): Promise<void> {
  const sizes = async () => (await Promise.all(files.map((f) => stat(f).then((s) => s.size, () => -1)))).join(',');
  let last = await sizes();
  let quietSince = Date.now();
  const deadline = Date.now() + SETTLE_MAX_MS;
  while (Date.now() - quietSince < SETTLE_QUIET_MS && Date.now() < deadline) {
    await delay(SETTLE_POLL_MS);
    const now = await sizes();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
}

const END_REASONS_THAT_BREAK_RECORDING = new Set(['recording_missing', 'recording_stalled', 'recording_write_failed', 'input_log_failed']);

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await unlink(from);
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export class Finaliser {
  /** Sessions started by this process (writeContext) and not finalised yet: never orphans to its sweep. */
  private readonly owned = new Set<string>();
  private readonly spool: string;
  private readonly store: RecordingStore;
  private readonly retention: RetentionPolicy;
  private readonly log: Logger;
  private readonly redis: RedisClient;
  private readonly audit: AuditLog;
  private readonly events: EventBus;
  private readonly catalog: RecordingCatalog;
  private readonly signer: ManifestSigner;
  private readonly requests: RequestService;

  constructor(deps: {
    spool: string;
    store: RecordingStore;
    retention: RetentionPolicy;
    log: Logger;
    redis: RedisClient;
    audit: AuditLog;
    events: EventBus;
    catalog: RecordingCatalog;
    signer: ManifestSigner;
    requests: RequestService;
  }) {
    this.spool = deps.spool;
    this.store = deps.store;
    this.retention = deps.retention;
    this.log = deps.log.child({ module: 'finaliser' });
    this.redis = deps.redis;
    this.audit = deps.audit;
    this.events = deps.events;
    this.catalog = deps.catalog;
    this.signer = deps.signer;
    this.requests = deps.requests;
  }

  /**
   * Written when a session starts. From then until it is finalised here, the session is this
   * process's: the orphan sweep leaves it alone, even in the moment between the session leaving
   * the local list and its end reaching `finalise` (else it was finalised as `orphaned`).
   */
  async writeContext(context: SessionContext): Promise<void> {
    this.owned.add(context.sessionId);
    try {
      await this.saveContext(context);
    } catch (err) {
      this.owned.delete(context.sessionId);
      await rm(new SpoolFiles(this.spool, context.sessionId).file('context'), { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Writes the context atomically (a draft renamed over it): a crash leaves the old one or the new one. */
  private async saveContext(context: SessionContext): Promise<void> {
    const files = new SpoolFiles(this.spool, context.sessionId);
    await writeFile(files.file('contextDraft'), JSON.stringify(context), { mode: 0o600 });
    await rename(files.file('contextDraft'), files.file('context'));
  }

  /**
   * Finalises one ended session, or finishes a finalise that stopped half-way. Returns its
   * manifest; undefined when there is nothing (left) to do or another finaliser holds the
   * session now. Throws when a step fails: the lock is released at once and the next call
   * (the lifecycle's retry, the orphan sweep) resumes where this one stopped.
   */
  async finalise(sessionId: string, end: { endedAt: Date; endReason: string }): Promise<Manifest | undefined> {
    const lock = await FinaliseLock.take(this.redis, sessionId);
    if (lock === undefined) {
      // Someone else finalises it; should they fail, the sweep may resume it: it is not ours to guard.
      this.owned.delete(sessionId);
      return undefined;
    }
    try {
      const manifest = await this.run(sessionId, end, lock);
      this.owned.delete(sessionId);
      return manifest;
    } finally {
      await lock.release().catch((err: unknown) => this.log.warn({ sessionId, err: { message: errorMessage(err) } }, 'could not release the finalise lock (it expires by itself)'));
    }
  }

  private async run(sessionId: string, end: { endedAt: Date; endReason: string }, lock: FinaliseLock): Promise<Manifest | undefined> {
    const spooled = new SpoolFiles(this.spool, sessionId);
    let raw: string;
    try {
      raw = await readFile(spooled.file('context'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // finalised already
      throw err;
    }
    let context: SessionContext;
    try {
      context = sessionContextSchema.parse(JSON.parse(raw));
    } catch {
      this.log.error({ sessionId }, 'the session context in the spool is unreadable: cannot finalise');
      return undefined;
    }
    // 1. Intent: the first attempt's end is the end, whoever finishes the job.
    const intent = context.end ?? { endedAt: end.endedAt.toISOString(), endReason: end.endReason };
    if (context.end === undefined) await this.saveContext({ ...context, end: intent });

    const relDir = storeDir(context.machine.siteId, new Date(context.startedAt), sessionId);
    const dir = this.store.stagingDir(relDir, sessionId);
    await mkdir(dir, { recursive: true, mode: 0o700 });

    // 2. Move (a file not in the spool any more was moved by an earlier attempt, or never existed).
    const incomplete: string[] = [];
    if (END_REASONS_THAT_BREAK_RECORDING.has(intent.endReason)) incomplete.push(`ended_by_${intent.endReason}`);
    const expected = spooled.expected(context.machine.protocol, context.typescript);
    const stillSpooled = (await Promise.all(expected.map(async (kind) => ((await exists(spooled.file(kind))) ? [spooled.file(kind)] : [])))).flat();
    if (stillSpooled.length > 0) await released(stillSpooled);
    const present: Array<(typeof expected)[number]> = [];
    for (const kind of expected) {
      const to = path.join(dir, STORE_FILE_NAMES[kind]);
      try {
        await moveFile(spooled.file(kind), to);
      } catch (err) {
        // Only a file that is nowhere is missing; any other failure (the store unwritable) is
        // a failed attempt to retry, not evidence to write off.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        if (!(await exists(to))) {
          incomplete.push(`${kind}_missing`);
          continue;
        }
      }
      present.push(kind);
    }

    // 3. Hash.
    const files: Manifest['files'] = [];
    for (const kind of present) {
      const { sha256, bytes } = await sha256File(path.join(dir, STORE_FILE_NAMES[kind]));
      if (kind === 'recording' && bytes === 0) incomplete.push('recording_empty');
      files.push({ kind, name: STORE_FILE_NAMES[kind], bytes, sha256 });
    }
    const transfers = await this.moveTransfers(spooled, dir);
    for (const name of transfers.names) files.push({ kind: name === STORE_FILE_NAMES.transfers ? 'transfers' : TRANSFER_KIND, name, ...(await sha256File(path.join(dir, name))) });

    // 4. Sign. An audit event written by an earlier attempt hashed the manifest on disk: keep that one.
    lock.assertHeld();
    const audited = intent.auditAt === undefined ? undefined : await this.finalisedEventOf(context, intent.auditAt);
    let manifest: Manifest;
    let manifestBytes: Buffer;
    if (audited !== undefined) {
      manifestBytes = await readFile(path.join(dir, MANIFEST_FILE));
      const kept = parseManifest(manifestBytes);
      if (kept === undefined) throw new Error(`the manifest of ${sessionId} was audited but is no longer readable`);
      manifest = kept;
    } else {
      manifest = await this.buildManifest(context, intent, files, incomplete, transfers.records);
      manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
      await writeFile(path.join(dir, MANIFEST_FILE), manifestBytes, { mode: 0o600 });
      await writeFile(path.join(dir, SIGNATURE_FILE), `${this.signer.sign(manifestBytes)}\n`, { mode: 0o600 });
    }
    const manifestSha256 = createHash('sha256').update(manifestBytes).digest('hex');

    // 5. Store (a no-op for the filesystem store: the files are in place).
    lock.assertHeld();
    const legalHold = this.store.legalHolds && (await this.retention.held(manifest.requestId, manifest.machine.id));
    await this.putInStore(context, intent, relDir, dir, manifest, legalHold);

    // 6. Index, then the audit event (once), then the context goes: the job is done.
    lock.assertHeld();
    await this.catalog.add(
      {
        sessionId,
        requestId: manifest.requestId,
        requester: manifest.requester,
        approvers: manifest.approvers.map(({ id, name }) => ({ id, name })),
        machine: manifest.machine,
        siteId: manifest.siteId,
        startedAt: manifest.startedAt,
        endedAt: manifest.endedAt,
        endReason: manifest.endReason,
        incomplete: manifest.incomplete,
        files: manifest.files.map(({ kind, name, bytes: size }) => ({ kind, name, bytes: size })),
        dir: relDir,
        manifestSha256,
        finalisedAt: manifest.finalisedAt,
      },
      await this.searchableText(dir, manifest.files),
    );
    if (audited === undefined) {
      lock.assertHeld();
      await this.saveContext({ ...context, end: { ...intent, auditAt: new Date().toISOString() } });
      await this.audit.append({
        actor: null,
        action: 'recording.finalised',
        target: { type: 'session', id: sessionId },
        outcome: 'ok',
        reason: manifest.incomplete.length > 0 ? manifest.incomplete.join(',') : null,
        details: {
          requestId: manifest.requestId,
          files: manifest.files.length,
          incomplete: manifest.incomplete.length > 0,
          endReason: manifest.endReason,
          // What binds the recording to its place: verification compares them with the folder.
          startedAt: manifest.startedAt,
          manifestSha256,
          ...(intent.storeFailedAt === undefined ? {} : { storedAfterRetry: true }),
        },
        site: manifest.siteId,
      });
    }
    // A hold placed while this was uploading found no index entry to apply to: apply it here
    // (after the audit event, so the index entry is not left without one any longer than before).
    if (this.store.legalHolds && !legalHold && (await this.retention.held(manifest.requestId, manifest.machine.id))) await this.store.setLegalHold(relDir, true);
    await rm(spooled.file('context'), { force: true });
    // The context is gone, so a staged copy left by a crash here is cleared by the sweep (clearStray).
    await this.store.release(relDir, dir);
    // Keyframes and the activity strip are the renderer worker's (derived data, worker.ts).
    await enqueueRender(this.redis, sessionId).catch((err: unknown) => this.log.warn({ sessionId, err: { message: errorMessage(err) } }, 'could not queue the recording for the renderer worker'));
    await this.events
      .publish({
        type: 'recording.ready',
        requestId: manifest.requestId,
        state: 'ended',
        siteId: manifest.siteId,
        requesterId: manifest.requester.id,
        actorId: null,
        at: manifest.finalisedAt,
        sessionId,
        ...(manifest.incomplete.length > 0 ? { reason: 'incomplete' } : {}),
      })
      .catch((err: unknown) => this.log.warn({ sessionId, err: { message: errorMessage(err) } }, 'could not announce the finalised recording'));
    return manifest;
  }

  /**
   * Puts the signed recording into the store. Fails closed: a failed upload throws (the staged
   * copy stays, the lifecycle's retry or the sweep resumes); the first failure is audited.
   */
  private async putInStore(context: SessionContext, intent: z.infer<typeof intentSchema>, relDir: string, dir: string, manifest: Manifest, legalHold: boolean): Promise<void> {
    const files = [...manifest.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes })), { name: MANIFEST_FILE }, { name: SIGNATURE_FILE }];
    try {
      await this.store.put(relDir, dir, files, { retainUntil: await this.retention.retainUntil(manifest.siteId, new Date(manifest.endedAt)), legalHold });
    } catch (err) {
      this.log.error({ sessionId: context.sessionId, store: this.store.kind, err: { message: errorMessage(err) } }, 'could not put the recording into the store; the spool copy stays and the finalise will be retried');
      if (intent.storeFailedAt === undefined) {
        await this.saveContext({ ...context, end: { ...intent, storeFailedAt: new Date().toISOString() } });
        const code = (err as { code?: unknown }).code;
        await this.audit.append({
          actor: null,
          action: 'recording.store_failed',
          target: { type: 'session', id: context.sessionId },
          outcome: 'ok',
          reason: 'the recording store did not take the recording; it stays in the spool and is retried',
          // The error's class only: its message may name the endpoint or bucket.
          details: { requestId: context.requestId, store: this.store.kind, error: typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown' },
          site: context.machine.siteId,
        });
      }
      throw err;
    }
  }

  /**
   * The files that went through the airlock (sessions/files), when there were any: their record
   * (transfers.json) and the bytes kept, moved beside the recording. Optional: most sessions
   * have none, and their absence is not a gap. Returns the store names present and the records.
   */
  private async moveTransfers(spooled: SpoolFiles, dir: string): Promise<{ names: string[]; records: Transfer[] | undefined }> {
    const moves: Array<[string, string]> = [[spooled.file('transfers'), path.join(dir, STORE_FILE_NAMES.transfers)]];
    for (const fileId of await readdir(spooled.transferDir()).catch(() => [] as string[])) moves.push([spooled.transferFile(fileId), path.join(dir, transferStoreName(fileId))]);
    for (const [from, to] of moves) {
      await moveFile(from, to).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await rm(spooled.transferDir(), { recursive: true, force: true });
    const names = (await readdir(dir)).filter((n) => n === STORE_FILE_NAMES.transfers || TRANSFER_STORE_NAME.test(n)).sort();
    if (!names.includes(STORE_FILE_NAMES.transfers)) return { names, records: undefined };
    const raw = await readFile(path.join(dir, STORE_FILE_NAMES.transfers), 'utf8');
    const parsed = z.array(z.looseObject({})).safeParse(JSON.parse(raw));
    if (!parsed.success) return { names, records: undefined };
    const records = parsed.data.flatMap((r) => {
      const id = String(r['id'] ?? '');
      const t = transferSchema.safeParse({ ...r, at: r['createdAt'], storedAs: names.includes(transferStoreName(id)) ? transferStoreName(id) : null });
      return t.success ? [t.data] : [];
    });
    return { names, records };
  }

  private async buildManifest(context: SessionContext, intent: z.infer<typeof intentSchema>, files: Manifest['files'], incomplete: string[], transfers?: Transfer[]): Promise<Manifest> {
    const request = await this.requests.lookup(context.requestId);
    return {
      version: 1,
      sessionId: context.sessionId,
      requestId: context.requestId,
      requester: { id: context.user.id, name: context.user.name, company: context.user.company },
      approvers: request?.approvals.map((a) => ({ id: a.by.id, name: a.by.name, at: a.at })) ?? [],
      reason: request?.reason ?? '',
      workOrder: request?.workOrder ?? null,
      machine: context.machine,
      siteId: context.machine.siteId,
      policy: context.policy,
      grant: { start: request?.grant?.start ?? '', end: request?.grant?.end ?? '' },
      startedAt: context.startedAt,
      endedAt: intent.endedAt,
      endReason: intent.endReason,
      files,
      ...(transfers === undefined ? {} : { transfers }),
      incomplete,
      finalisedAt: new Date().toISOString(),
      signer: { algorithm: 'Ed25519', keyId: this.signer.keyId },
    };
  }

  /**
   * A resumed finalise whose earlier attempt was about to append the audit event at `auditAt`:
   * did it (with a manifest that still verifies)? The event, if any, is within moments of it.
   */
  private async finalisedEventOf(context: SessionContext, auditAt: string): Promise<true | undefined> {
    const at = Date.parse(auditAt);
    const found = await findFinalised(this.audit, context.sessionId, { from: new Date(at - MAX_AT_DRIFT_MS), to: new Date(at + MAX_AT_DRIFT_MS + AUDIT_APPEND_SLACK_MS) });
    if (found === null) return undefined;
    if (found === 'unknown') throw new Error(`cannot tell whether ${context.sessionId} was audited already (the audit log is too long to search)`);
    const dir = this.store.stagingDir(storeDir(context.machine.siteId, new Date(context.startedAt), context.sessionId), context.sessionId);
    const bytes = await readFile(path.join(dir, MANIFEST_FILE)).catch(() => undefined);
    const signature = await readFile(path.join(dir, SIGNATURE_FILE), 'utf8').catch(() => '');
    const onDisk = bytes === undefined ? undefined : createHash('sha256').update(bytes).digest('hex');
    if (bytes === undefined || !verifySignature(bytes, signature.trim(), this.signer.publicKey) || (found.manifestSha256 !== undefined && found.manifestSha256 !== onDisk)) {
      // Audited, then damaged before the context went: finishing would hide it; a human must look.
      throw new Error(`${context.sessionId} was audited as finalised but its manifest no longer verifies`);
    }
    return true;
  }

  private async searchableText(dir: string, files: Manifest['files']): Promise<string> {
    const parts: string[] = [];
    for (const f of files) {
      if (f.kind !== 'typescript' && f.kind !== 'events') continue;
      const text = (await readFile(path.join(dir, f.name), 'utf8')).slice(0, MAX_INDEXED_TEXT);
      parts.push(f.kind === 'typescript' ? stripTerminal(text) : typedLines(text).map((l) => l.text).join('\n'));
    }
    return parts.join('\n');
  }

  /**
   * Finalises sessions left in the spool by an instance that died (its context names an
   * instance that no longer heartbeats, or this one, which no longer holds it), and resumes
   * finalises that stopped half-way. Sessions this process started and has not finalised yet
   * are never orphans here. Also clears empty files of set-ups that never got a context.
   * Returns how many it finalised.
   */
  async pickUpOrphans(isOrphan: (context: SessionContext) => Promise<boolean>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.spool);
    } catch {
      return 0;
    }
    let count = 0;
    const contexts = new Set(names.flatMap((n) => contextSessionId(n) ?? []));
    for (const name of names) {
      const sessionId = contextSessionId(name);
      if (sessionId === undefined) {
        await this.clearStray(name, contexts);
        continue;
      }
      if (this.owned.has(sessionId)) continue;
      let context: SessionContext;
      try {
        context = sessionContextSchema.parse(JSON.parse(await readFile(path.join(this.spool, name), 'utf8')));
      } catch {
        continue;
      }
      if (!(await isOrphan(context))) continue;
      // The predicate awaited: the session may have been started here meanwhile (not possible
      // for a context already on disk, but cheap to rule out).
      if (this.owned.has(sessionId)) continue;
      const spooled = new SpoolFiles(this.spool, sessionId);
      const last = await stat(spooled.file('recording')).catch(() => stat(spooled.file('context')));
      if ((await this.finalise(sessionId, { endedAt: last.mtime, endReason: 'orphaned' })) !== undefined) count++;
    }
    return count;
  }

  /** Deletes a session's spool file that has no context, once it is empty, closed and old (nothing was recorded). */
  private async clearStray(name: string, contexts: Set<string>): Promise<void> {
    const entry = spoolEntry(name);
    if (entry === undefined || contexts.has(entry.sessionId) || this.owned.has(entry.sessionId) || entry.kind === 'context') return;
    const file = path.join(this.spool, name);
    const info = await stat(file).catch(() => undefined);
    if (entry.kind === 'staged' && info?.isDirectory() === true) {
      // A staged copy whose context is gone: its finalise stored it and finished (the context goes only after).
      await rm(file, { recursive: true, force: true });
      this.log.info({ sessionId: entry.sessionId }, 'removed the staged copy of a recording that is in the store');
      return;
    }
    if (info === undefined || !info.isFile() || info.size > 0 || Date.now() - info.mtimeMs < STRAY_GRACE_MS) return;
    if (await heldOpen(new Set([file]))) return;
    await rm(file, { force: true });
    this.log.info({ sessionId: entry.sessionId, file: name }, 'removed an empty spool file of a session that never started');
  }
}
