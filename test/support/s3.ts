// A local S3 for the suites that use the S3 recording store: s3rver (speaks S3's wire protocol,
// keeps objects in a temporary folder) behind a recording HTTP proxy. s3rver has no Object Lock
// (LAB.md), so the proxy records what Airlock sends (the lock headers, the legal-hold calls) and
// stands in for what a locking store enforces: it answers PutObjectLegalHold, adds an object's
// lock to HEAD/GET answers and refuses to delete a locked object. It can also play the store
// being down, or flip a byte of an upload in flight (a store that silently kept other bytes).
import http from 'node:http';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { S3Client } from '@aws-sdk/client-s3';

/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface SeenRequest {
  method: string;
  /** The path, decoded, without the query. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Lock {
  mode: string | undefined;
  until: Date | undefined;
  legalHold: boolean;
}

export interface LocalS3 {
  /** The proxy's URL: what Airlock is configured with. */
  readonly endpoint: string;
  /** s3rver itself, behind no proxy (a test changing an object behind Airlock's back). */
  readonly directEndpoint: string;
  readonly bucket: string;
  readonly requests: SeenRequest[];
  /** The lock the proxy saw set on each key (by upload or PutObjectLegalHold). */
  readonly locks: Map<string, Lock>;
  /** The time the emulated lock is judged at (a test moves it past a retention date). */
  clock: () => Date;
  /** While down, every connection is cut at once (the store unreachable). */
  setDown(down: boolean): void;
  /** The next upload of a key ending in `suffix` reaches the store with one byte flipped. */
  corruptNextUpload(suffix: string): void;
  /** A client straight to s3rver. */
  directClient(): S3Client;
  /** The env settings for a portal or the CLI on this store. */
  env(prefix?: string): Record<string, string>;
  close(): Promise<void>;
}

function xmlError(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

export async function startLocalS3(bucket = 'airlock-recordings'): Promise<LocalS3> {
  const directory = mkdtempSync(path.join(tmpdir(), 'airlock-s3rver-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port: upstreamPort } = (await s3rver.run()) as { port: number };
  const requests: SeenRequest[] = [];
  const locks = new Map<string, Lock>();
  const sockets = new Set<Socket>();
  let down = false;
  let corrupt: string | undefined;
  const local: LocalS3 = {
    endpoint: '',
    directEndpoint: `http://127.0.0.1:${upstreamPort}`,
    bucket,
    requests,
    locks,
    clock: () => new Date(),
    setDown(d) {
      down = d;
      if (d) for (const s of sockets) s.destroy();
    },
    corruptNextUpload(suffix) {
      corrupt = suffix;
    },
    directClient: () => new S3Client({ endpoint: `http://127.0.0.1:${upstreamPort}`, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS }),
    env: (prefix = 'airlock/') => ({
      AIRLOCK_RECORDING_BACKEND: 's3',
      AIRLOCK_S3_ENDPOINT: local.endpoint,
      AIRLOCK_S3_BUCKET: bucket,
      AIRLOCK_S3_REGION: 'us-east-1',
      AIRLOCK_S3_PREFIX: prefix,
      AIRLOCK_S3_FORCE_PATH_STYLE: 'true',
      AIRLOCK_S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AIRLOCK_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AIRLOCK_S3_OBJECT_LOCK: 'compliance',
    }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3rver.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };

  const lockOf = (key: string): Lock => locks.get(key) ?? { mode: undefined, until: undefined, legalHold: false };
  const lockedNow = (key: string): boolean => {
    const l = lockOf(key);
    return l.legalHold || (l.until !== undefined && l.until.getTime() > local.clock().getTime());
  };

  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const key = decodeURIComponent(url.pathname);
      let body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', path: key, query: url.searchParams, headers: req.headers, body });
      if (req.method === 'PUT' && url.searchParams.has('legal-hold')) {
        locks.set(key, { ...lockOf(key), legalHold: /<Status>ON<\/Status>/.test(body.toString('utf8')) });
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      }
      if (req.method === 'DELETE' && lockedNow(key)) {
        xmlError(res, 403, 'AccessDenied', 'Access Denied because object protected by object lock.');
        return;
      }
      const isUpload = req.method === 'PUT' && ![...url.searchParams.keys()].some((k) => k !== 'x-id');
      if (isUpload) {
        const until = req.headers['x-amz-object-lock-retain-until-date'];
        locks.set(key, {
          mode: req.headers['x-amz-object-lock-mode'] as string | undefined,
          until: typeof until === 'string' ? new Date(until) : undefined,
          legalHold: req.headers['x-amz-object-lock-legal-hold'] === 'ON',
        });
        if (corrupt !== undefined && key.endsWith(corrupt) && body.length > 0) {
          corrupt = undefined;
          body = Buffer.from(body);
          body[0] = (body[0] ?? 0) ^ 0x01;
        }
      }
      const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const headers = { ...answer.headers };
        const l = locks.get(key);
        if ((req.method === 'HEAD' || req.method === 'GET') && l !== undefined && (answer.statusCode ?? 500) < 300) {
          if (l.mode !== undefined) headers['x-amz-object-lock-mode'] = l.mode;
          if (l.until !== undefined) headers['x-amz-object-lock-retain-until-date'] = l.until.toISOString();
          headers['x-amz-object-lock-legal-hold'] = l.legalHold ? 'ON' : 'OFF';
        }
        if (req.method === 'DELETE' && (answer.statusCode ?? 500) < 300) locks.delete(key);
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  proxy.on('connection', (socket: Socket) => {
    if (down) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
  (local as { endpoint: string }).endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  return local;
}
