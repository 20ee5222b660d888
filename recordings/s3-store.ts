// The S3 recording store: any S3-compatible object storage (AWS S3, MinIO, Ceph RGW). A folder of
// the filesystem store is a key prefix here (<prefix><site>/<yyyy>/<mm>/<dd>/<session>/<file>).
// With Object Lock (compliance mode) every object is written locked until its session's
// retention date, legal holds are the store's own, and the purge deletes nothing still locked.
// An upload counts only once the store holds each file intact: the SHA-256 goes with the upload
// (S3 rejects a body that does not match it) and is read back (checksum or MD5 ETag) after it.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  S3Client,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import type { S3StoreConfig } from '../server/config.ts';
import { sha256Stream, type StoredFolder } from './folder.ts';
import { MANIFEST_FILE, SpoolFiles, STORE_DIR_DEPTH } from './layout.ts';
import { NotInStoreError, RangeNotSatisfiableError, type PutOptions, type RecordingStore, type StagedFile, type StoreLock, type StoredRead } from './store.ts';

/** A store that does not answer within this long counts as down for that request (the finaliser retries). */
const REQUEST_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A single PUT takes up to 5 GiB (S3's limit); a recording beyond it would need a multipart upload. */
const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
const SESSION_FOLDER = /^[0-9a-f-]{36}$/;

/** The HTTP status of an SDK error, if it has one. */
function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(err) === 404;
}

/** The client for a store's settings; credentials from the settings or the SDK's default chain. */
export function s3Client(config: S3StoreConfig): S3Client {
  return new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    ...(config.credentials === undefined ? {} : { credentials: { accessKeyId: config.credentials.accessKeyId, secretAccessKey: config.credentials.secretAccessKey } }),
    // The store computes the SHA-256 itself and sends it; the SDK's own (CRC32, aws-chunked
    // trailers) would only add what some S3-compatible stores do not speak.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECT_TIMEOUT_MS },
  });
}

/** SHA-256 and MD5 of a local file in one pass: the first is sent and checked, the second is what a plain ETag is. */
async function digests(file: string): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes };
}

export class S3Store implements RecordingStore {
  readonly kind = 's3';
  readonly legalHolds: boolean;
  private readonly client: S3Client;
  private readonly config: S3StoreConfig;
  private readonly spool: string;

  constructor(config: S3StoreConfig, spool: string, client: S3Client = s3Client(config)) {
    this.config = config;
    this.legalHolds = config.objectLock === 'compliance';
    this.spool = spool;
    this.client = client;
  }

  private get bucket(): string {
    return this.config.bucket;
  }

  /** The key prefix of a folder (its relative path with '/' separators). */
  private folderKey(relDir: string): string {
    return `${this.config.prefix}${relDir.split(path.sep).join('/')}/`;
  }

  private key(relDir: string, name: string): string {
    return `${this.folderKey(relDir)}${name}`;
  }

  stagingDir(_relDir: string, sessionId: string): string {
    return new SpoolFiles(this.spool, sessionId).file('staged');
  }

  async put(relDir: string, staged: string, files: StagedFile[], opts: PutOptions): Promise<void> {
    for (const file of files) {
      const local = path.join(staged, file.name);
      // Verified before it leaves: what is uploaded is what the manifest hashed.
      const d = await digests(local);
      if ((file.sha256 !== undefined && d.sha256 !== file.sha256) || (file.bytes !== undefined && d.bytes !== file.bytes)) {
        throw new Error(`${file.name} of ${path.basename(relDir)} changed in the spool after it was hashed: not uploaded`);
      }
      if (d.bytes > MAX_SINGLE_PUT_BYTES) throw new Error(`${file.name} of ${path.basename(relDir)} is larger than one S3 upload takes (5 GiB)`);
      const key = this.key(relDir, file.name);
      // A resumed finalise finds what an earlier attempt stored intact, and leaves it (and its lock) be.
      const existing = await this.head(key);
      if (existing !== undefined && this.holds(existing, d)) continue;
      const sha256 = Buffer.from(d.sha256, 'hex').toString('base64');
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(local),
          ContentLength: d.bytes,
          ContentType: file.name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8',
          ChecksumSHA256: sha256,
          ...(this.config.objectLock === 'compliance'
            ? { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: opts.retainUntil, ObjectLockLegalHoldStatus: opts.legalHold ? 'ON' : 'OFF' }
            : {}),
        }),
      );
      // Read back: a store that kept other bytes than were sent (or none) fails the upload.
      const stored = await this.head(key);
      if (stored === undefined) throw new Error(`${file.name} of ${path.basename(relDir)} is not in the store after its upload`);
      if (!this.holds(stored, d) && !(await this.rehashMatches(key, d))) {
        throw new Error(`the store holds another ${file.name} of ${path.basename(relDir)} than was uploaded (size or checksum differs)`);
      }
    }
  }

  /** Does the object's size and checksum (or plain MD5 ETag) match the local file? */
  private holds(object: HeadObjectCommandOutput, d: { sha256: string; md5: string; bytes: number }): boolean {
    if (object.ContentLength !== d.bytes) return false;
    if (object.ChecksumSHA256 !== undefined && !object.ChecksumSHA256.includes('-')) return Buffer.from(object.ChecksumSHA256, 'base64').toString('hex') === d.sha256;
    const etag = object.ETag?.replaceAll('"', '');
    if (etag !== undefined && /^[0-9a-f]{32}$/.test(etag)) return etag === d.md5;
    return false;
  }

  /** No checksum and no plain ETag to compare (SSE-KMS, multipart): read the object back and hash it. */
  private async rehashMatches(key: string, d: { sha256: string; bytes: number }): Promise<boolean> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const actual = await sha256Stream(object.Body as Readable);
    return actual.sha256 === d.sha256 && actual.bytes === d.bytes;
  }

  private async head(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async release(_relDir: string, staged: string): Promise<void> {
    await rm(staged, { recursive: true, force: true });
  }

  /** The objects directly in a folder (name, size, ETag, time), or [] when it has none. */
  private async list(relDir: string): Promise<Array<{ name: string; size: number; etag: string; modified: string }>> {
    const prefix = this.folderKey(relDir);
    const out: Array<{ name: string; size: number; etag: string; modified: string }> = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        out.push({ name: o.Key.slice(prefix.length), size: o.Size ?? 0, etag: o.ETag ?? '', modified: o.LastModified?.toISOString() ?? '' });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  private async getBody(key: string, range?: string): Promise<{ body: Readable; bytes: number; contentRange: string | undefined }> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }));
      return { body: object.Body as Readable, bytes: object.ContentLength ?? 0, contentRange: object.ContentRange };
    } catch (err) {
      if (isNotFound(err)) throw new NotInStoreError(path.basename(key));
      if ((err as { name?: string }).name === 'InvalidRange' || statusOf(err) === 416) throw new RangeNotSatisfiableError();
      throw err;
    }
  }

  folder(relDir: string): StoredFolder {
    return {
      read: async (name) => Buffer.concat(await (await this.getBody(this.key(relDir, name))).body.toArray()),
      sha256: async (name) => sha256Stream((await this.getBody(this.key(relDir, name))).body),
      names: async () => {
        const names = (await this.list(relDir)).map((o) => o.name);
        // A folder is only its objects' common prefix: none, no folder (as readdir would fail).
        if (names.length === 0) throw new NotInStoreError(path.basename(relDir));
        return names;
      },
    };
  }

  /** Each object's size, ETag and time: an overwrite changes the ETag and the time. */
  async fingerprint(relDir: string): Promise<string> {
    return (await this.list(relDir)).map((o) => `${o.name}:${o.size}:${o.etag}:${o.modified}`).join('|');
  }

  localDir(): undefined {
    return undefined;
  }

  async read(relDir: string, name: string, range: string | undefined): Promise<StoredRead> {
    const { body, bytes, contentRange } = await this.getBody(this.key(relDir, name), range);
    return { stream: body, status: contentRange === undefined ? 200 : 206, bytes, contentRange };
  }

  async copyTo(relDir: string, dest: string): Promise<boolean> {
    const objects = await this.list(relDir);
    if (objects.length === 0) return false;
    await mkdir(dest, { recursive: true });
    for (const o of objects) await pipeline((await this.getBody(this.key(relDir, o.name))).body, createWriteStream(path.join(dest, o.name)));
    return true;
  }

  async folders(): Promise<string[]> {
    const dirs = new Map<string, boolean>();
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.config.prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const rel = o.Key?.slice(this.config.prefix.length);
        if (rel === undefined || !rel.includes('/')) continue;
        const dir = rel.slice(0, rel.lastIndexOf('/'));
        dirs.set(dir, (dirs.get(dir) ?? false) || rel.endsWith(`/${MANIFEST_FILE}`));
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    // As the filesystem store's walk: a folder with a manifest, or one where a session's folder belongs.
    return [...dirs]
      .filter(([dir, manifest]) => manifest || (dir.split('/').length > STORE_DIR_DEPTH && SESSION_FOLDER.test(dir.split('/').at(-1) ?? '')))
      .map(([dir]) => dir.split('/').join(path.sep))
      .sort();
  }

  async lockOf(relDir: string, now: Date): Promise<StoreLock | undefined> {
    if (this.config.objectLock === 'off') return undefined;
    let until: Date | undefined;
    let legalHold = false;
    for (const o of await this.list(relDir)) {
      const head = await this.head(this.key(relDir, o.name));
      const retain = head?.ObjectLockRetainUntilDate;
      if (retain !== undefined && retain.getTime() > now.getTime() && (until === undefined || retain > until)) until = retain;
      if (head?.ObjectLockLegalHoldStatus === 'ON') legalHold = true;
    }
    return until !== undefined || legalHold ? { until, legalHold } : undefined;
  }

  /**
   * Deletes each object's current version by its id where the bucket is versioned (as Object
   * Lock buckets are): a plain delete there only adds a delete marker and keeps the data.
   */
  async remove(relDir: string): Promise<void> {
    for (const o of await this.list(relDir)) {
      const key = this.key(relDir, o.name);
      const versionId = (await this.head(key))?.VersionId;
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId === undefined || versionId === 'null' ? {} : { VersionId: versionId }) }));
    }
  }

  async setLegalHold(relDir: string, on: boolean): Promise<void> {
    if (this.config.objectLock === 'off') return;
    for (const o of await this.list(relDir)) {
      await this.client.send(new PutObjectLegalHoldCommand({ Bucket: this.bucket, Key: this.key(relDir, o.name), LegalHold: { Status: on ? 'ON' : 'OFF' } }));
    }
  }

  /** For `airlock doctor`: the bucket answers, and with Object Lock configured it has it enabled (which needs versioning). */
  async check(): Promise<string[]> {
    const problems: string[] = [];
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    if (this.config.objectLock === 'compliance') {
      const lock = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket })).catch(() => undefined);
      if (lock?.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') problems.push('the bucket does not have Object Lock enabled (it can only be enabled when the bucket is created)');
      const versioning = await this.client.send(new GetBucketVersioningCommand({ Bucket: this.bucket })).catch(() => undefined);
      if (versioning?.Status !== 'Enabled') problems.push('the bucket is not versioned (Object Lock needs versioning)');
    }
    return problems;
  }

  destroy(): void {
    this.client.destroy();
  }
}

