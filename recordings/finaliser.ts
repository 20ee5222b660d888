// The finaliser: when a session ends (cleanly, terminated, expired, or its instance died), its
// files move from the spool to the store (<site>/<yyyy>/<mm>/<dd>/<session>/), each is hashed, a
// manifest with the request's context is written and signed, and the session is indexed for
// search. A session whose recording is incomplete is marked so, never dropped.
import { copyFile, mkdir, readFile, readdir, readlink, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';
import type { AuditLog } from '../server/audit/store.ts';
import type { EventBus } from '../server/events/bus.ts';
import type { RequestService } from '../server/requests/service.ts';
import { machineSummarySchema, policySchema } from '../server/inventory/schema.ts';
import { sha256File, type Manifest } from './manifest.ts';
import { contextSessionId, MANIFEST_FILE, SIGNATURE_FILE, SpoolFiles, storeDir, STORE_FILE_NAMES } from './layout.ts';
import type { ManifestSigner } from './signing.ts';
import type { RecordingCatalog } from './catalog.ts';
import { stripTerminal, typedLines } from './text.ts';

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
});
export type SessionContext = z.infer<typeof sessionContextSchema>;


/** Seconds one instance holds the right to finalise a session. */
const LOCK_SECONDS = 300;
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

const END_REASONS_THAT_BREAK_RECORDING = new Set(['recording_missing', 'recording_stalled', 'input_log_failed']);

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await unlink(from);
  }
}

export class Finaliser {
  private readonly spool: string;
  private readonly store: string;
  private readonly log: Logger;
  private readonly redis: RedisClient;
  private readonly audit: AuditLog;
  private readonly events: EventBus;
  private readonly catalog: RecordingCatalog;
  private readonly signer: ManifestSigner;
  private readonly requests: RequestService;

  constructor(deps: {
    spool: string;
    store: string;
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
    this.log = deps.log.child({ module: 'finaliser' });
    this.redis = deps.redis;
    this.audit = deps.audit;
    this.events = deps.events;
    this.catalog = deps.catalog;
    this.signer = deps.signer;
    this.requests = deps.requests;
  }

  async writeContext(context: SessionContext): Promise<void> {
    await writeFile(new SpoolFiles(this.spool, context.sessionId).file('context'), JSON.stringify(context), { mode: 0o600 });
  }

  /** Finalises one ended session; returns its manifest, or undefined if another instance does it. */
  async finalise(sessionId: string, end: { endedAt: Date; endReason: string }): Promise<Manifest | undefined> {
    if ((await this.redis.set(keys.recordings.finaliseLock(sessionId), '1', { NX: true, EX: LOCK_SECONDS })) === null) return undefined;
    const spooled = new SpoolFiles(this.spool, sessionId);
    let context: SessionContext;
    try {
      context = sessionContextSchema.parse(JSON.parse(await readFile(spooled.file('context'), 'utf8')));
    } catch {
      this.log.error({ sessionId }, 'no session context in the spool: cannot finalise');
      return undefined;
    }
    const relDir = storeDir(context.machine.siteId, new Date(context.startedAt), sessionId);
    const dir = path.join(this.store, relDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });

    const incomplete: string[] = [];
    if (END_REASONS_THAT_BREAK_RECORDING.has(end.endReason)) incomplete.push(`ended_by_${end.endReason}`);
    const files: Manifest['files'] = [];
    const expected = spooled.expected(context.machine.protocol, context.typescript);
    await released(expected.map((kind) => spooled.file(kind)));
    for (const kind of expected) {
      const from = spooled.file(kind);
      const to = path.join(dir, STORE_FILE_NAMES[kind]);
      try {
        await moveFile(from, to);
      } catch {
        incomplete.push(`${kind}_missing`);
        continue;
      }
      const { sha256, bytes } = await sha256File(to);
      if (kind === 'recording' && bytes === 0) incomplete.push('recording_empty');
      files.push({ kind, name: STORE_FILE_NAMES[kind], bytes, sha256 });
    }

    const request = await this.requests.lookup(context.requestId);
    const manifest: Manifest = {
      version: 1,
      sessionId,
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
      endedAt: end.endedAt.toISOString(),
      endReason: end.endReason,
      files,
      incomplete,
      finalisedAt: new Date().toISOString(),
      signer: { algorithm: 'Ed25519', keyId: this.signer.keyId },
    };
    const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(path.join(dir, MANIFEST_FILE), bytes, { mode: 0o600 });
    await writeFile(path.join(dir, SIGNATURE_FILE), `${this.signer.sign(bytes)}\n`, { mode: 0o600 });

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
        incomplete,
        files: files.map(({ kind, name, bytes: size }) => ({ kind, name, bytes: size })),
        dir: relDir,
      },
      await this.searchableText(dir, files),
    );
    await rm(spooled.file('context'), { force: true });
    await this.audit.append({
      actor: null,
      action: 'recording.finalised',
      target: { type: 'session', id: sessionId },
      outcome: 'ok',
      reason: incomplete.length > 0 ? incomplete.join(',') : null,
      details: { requestId: manifest.requestId, files: files.length, incomplete: incomplete.length > 0, endReason: end.endReason },
      site: manifest.siteId,
    });
    await this.events.publish({
      type: 'recording.ready',
      requestId: manifest.requestId,
      state: 'ended',
      siteId: manifest.siteId,
      requesterId: manifest.requester.id,
      actorId: null,
      at: manifest.finalisedAt,
      sessionId,
      ...(incomplete.length > 0 ? { reason: 'incomplete' } : {}),
    });
    return manifest;
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
   * instance that no longer heartbeats, or this one, which no longer holds it). Returns how many.
   */
  async pickUpOrphans(isOrphan: (context: SessionContext) => Promise<boolean>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.spool);
    } catch {
      return 0;
    }
    let count = 0;
    for (const name of names) {
      const sessionId = contextSessionId(name);
      if (sessionId === undefined) continue;
      let context: SessionContext;
      try {
        context = sessionContextSchema.parse(JSON.parse(await readFile(path.join(this.spool, name), 'utf8')));
      } catch {
        continue;
      }
      if (!(await isOrphan(context))) continue;
      const spooled = new SpoolFiles(this.spool, sessionId);
      const last = await stat(spooled.file('recording')).catch(() => stat(spooled.file('context')));
      if ((await this.finalise(sessionId, { endedAt: last.mtime, endReason: 'orphaned' })) !== undefined) count++;
    }
    return count;
  }
}
