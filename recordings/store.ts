// Where finalised recordings are kept: the RecordingStore contract and the filesystem store (the
// embedded default). The S3 store (s3-store.ts) keeps the same folders as object prefixes. Every
// reader of a finalised recording (service, routes, bundles, verification, retention) goes
// through a store; the folder names are layout.ts's (<site>/<yyyy>/<mm>/<dd>/<session>/).
import { cp, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { localFolder, type StoredFolder } from './folder.ts';
import { MANIFEST_FILE, STORE_DIR_DEPTH } from './layout.ts';

/** One file the finaliser hands to `put`, with the hash its manifest records (absent for the manifest and signature themselves). */
export interface StagedFile {
  name: string;
  sha256?: string | undefined;
  bytes?: number | undefined;
}

/** How long the store must keep what `put` writes, and whether a legal hold covers it already. */
export interface PutOptions {
  /** The session's retention date (its end plus its site's retention). */
  retainUntil: Date;
  legalHold: boolean;
}

/** Part of a stored file: an HTTP Range served by the store itself. */
export interface StoredRead {
  stream: Readable;
  /** 200 (whole file) or 206 (the range). */
  status: 200 | 206;
  bytes: number;
  contentRange: string | undefined;
}

/** Why the retention purge left a recording: the store will not delete it yet. */
export interface StoreLock {
  until: Date | undefined;
  legalHold: boolean;
}

export interface RecordingStore {
  readonly kind: 'filesystem' | 's3';
  /** The store keeps legal holds of its own (S3 Object Lock), which must follow the holds in Redis. */
  readonly legalHolds: boolean;
  /**
   * The local folder the finaliser moves a session's files into, hashes and signs them in,
   * before `put`. For the filesystem store it is the store folder itself; for object storage a
   * folder in the spool that stays until the finalise is done (the spool copy is kept until the
   * store holds the recording intact).
   */
  stagingDir(relDir: string, sessionId: string): string;
  /**
   * Stores the staged files (idempotent: a resumed finalise puts again). Resolves only once the
   * store holds each file intact; throws otherwise, and the staged copy stays for the retry.
   */
  put(relDir: string, staged: string, files: StagedFile[], opts: PutOptions): Promise<void>;
  /** The finalise is done: the staged copy may go (a no-op where staging is the store). */
  release(relDir: string, staged: string): Promise<void>;
  /** A stored recording's folder, for reading and verification. */
  folder(relDir: string): StoredFolder;
  /** Changes whenever any file of the folder is written: verification re-hashes only then. */
  fingerprint(relDir: string): Promise<string>;
  /** The folder as a local directory, when the store is one (express's sendFile serves Range and conditional GETs from it). */
  localDir(relDir: string): string | undefined;
  /** One file, whole or the byte range `range` asks for (an HTTP `bytes=` Range, passed to the store as is). */
  read(relDir: string, name: string, range: string | undefined): Promise<StoredRead>;
  /** Copies the folder's files into `dest` (created); false when the folder is not in the store. */
  copyTo(relDir: string, dest: string): Promise<boolean>;
  /** Every recording folder in the store (relative paths), sorted. */
  folders(): Promise<string[]>;
  /** Whether the store refuses to delete the folder at `now` (Object Lock retention or legal hold); undefined: it may go. */
  lockOf(relDir: string, now: Date): Promise<StoreLock | undefined>;
  /** Deletes the folder (the retention purge; only after `lockOf` said it may go). */
  remove(relDir: string): Promise<void>;
  /** Sets or clears the store's own legal hold on every file of the folder (a no-op where the store has none). */
  setLegalHold(relDir: string, on: boolean): Promise<void>;
}

/** A file or folder that is not in the store. */
export class NotInStoreError extends Error {
  constructor(what: string) {
    super(`${what} is not in the recording store`);
    this.name = 'NotInStoreError';
  }
}

/** The requested range starts beyond the file's end (HTTP 416). */
export class RangeNotSatisfiableError extends Error {
  constructor() {
    super('the requested range is outside the file');
    this.name = 'RangeNotSatisfiableError';
  }
}

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

/** The embedded default: a directory tree on a local (or mounted) disk. */
export class FilesystemStore implements RecordingStore {
  readonly kind = 'filesystem';
  readonly legalHolds = false;
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  stagingDir(relDir: string): string {
    return path.join(this.root, relDir);
  }

  async put(): Promise<void> {
    // The finaliser wrote the files in place: they are stored.
  }

  async release(): Promise<void> {}

  folder(relDir: string): StoredFolder {
    return localFolder(path.join(this.root, relDir));
  }

  /** Each file's size and ctime, which no one can set back (unlike mtime): any write shows. */
  async fingerprint(relDir: string): Promise<string> {
    const dir = path.join(this.root, relDir);
    const names = (await readdir(dir).catch(() => [] as string[])).sort();
    return (await Promise.all(names.map((n) => stat(path.join(dir, n)).then((s) => `${n}:${s.size}:${s.ctimeMs}`, () => n)))).join('|');
  }

  localDir(relDir: string): string {
    return path.join(this.root, relDir);
  }

  async read(): Promise<StoredRead> {
    throw new Error('the filesystem store is read through localDir');
  }

  async copyTo(relDir: string, dest: string): Promise<boolean> {
    try {
      await cp(path.join(this.root, relDir), dest, { recursive: true });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async folders(): Promise<string[]> {
    return (await recordingFolders(this.root)).map((dir) => path.relative(this.root, dir));
  }

  async lockOf(): Promise<StoreLock | undefined> {
    return undefined;
  }

  async remove(relDir: string): Promise<void> {
    await rm(path.join(this.root, relDir), { recursive: true, force: true });
  }

  async setLegalHold(): Promise<void> {
    // Holds live in Redis; the purge honours them. A directory has no lock of its own.
  }
}
