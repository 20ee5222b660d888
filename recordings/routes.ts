// Recordings API (docs/api.md, "Recordings"): search, details with verification, authorised
// streaming with HTTP Range, the timeline, evidence bundles, the public key, and legal holds.
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { route } from '../server/http/validate.ts';
import { AppError, badRequest, notFound } from '../server/errors.ts';
import { presentRecording, presentRecordingDetails, type RecordingPage } from './presenter.ts';
import type { RecordingService } from './service.ts';
import type { RecordingSummary } from './catalog.ts';
import { NotInStoreError, RangeNotSatisfiableError } from './store.ts';

const isoTime = z.iso.datetime({ offset: true });
const searchSchema = z.strictObject({
  vendor: z.string().max(300).optional(),
  company: z.string().max(100).optional(),
  machine: z.string().max(100).optional(),
  site: z.string().max(100).optional(),
  approver: z.string().max(300).optional(),
  protocol: z.enum(['rdp', 'vnc', 'ssh', 'telnet']).optional(),
  reason: z.string().max(100).optional(),
  request: z.uuid().optional(),
  q: z.string().max(200).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d{1,9}$/).optional(),
});
const sessionParam = z.strictObject({ id: z.uuid() });
const fileParam = z.strictObject({ id: z.uuid(), kind: z.enum(['recording', 'typescript', 'typescriptTiming', 'events', 'transfers']) });
const requestParam = z.strictObject({ id: z.uuid() });
const holdParam = z.strictObject({ kind: z.enum(['request', 'machine']), id: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/) });
const holdBody = z.strictObject({ reason: z.string().trim().min(1, 'a reason is required').max(2000) });

/** A Range that starts after byte 0 continues a playback (seek, resume); it is not a new one. */
function startsPlayback(req: Request): boolean {
  const range = req.get('range');
  return range === undefined || /^bytes=0-/.test(range);
}

/** One byte range, as players and browsers ask; anything else (several ranges, junk) gets the whole file, as RFC 9110 allows. */
const SINGLE_RANGE = /^bytes=(\d+-\d*|-\d+)$/;

/** Serves a file from an object store: its Range goes to the store, its answer (206 and Content-Range) back. */
async function streamFromStore(service: RecordingService, summary: RecordingSummary, name: string, req: Request, res: Response, headers: Record<string, string>): Promise<void> {
  const asked = req.get('range')?.trim();
  const range = asked !== undefined && SINGLE_RANGE.test(asked) ? asked : undefined;
  let read;
  try {
    read = await service.readFile(summary, name, range);
  } catch (err) {
    if (err instanceof RangeNotSatisfiableError) throw new AppError(416, 'range_not_satisfiable', 'The requested range is outside the file.');
    if (err instanceof NotInStoreError) throw new AppError(410, 'recording_missing', 'This recording is missing from the store, so it fails verification. Tell your Airlock administrator.', { report: true });
    throw err;
  }
  res.status(read.status);
  res.set({ ...headers, 'Accept-Ranges': 'bytes', 'Content-Length': String(read.bytes), ...(read.contentRange === undefined ? {} : { 'Content-Range': read.contentRange }) });
  await pipeline(read.stream, res).catch((err: unknown) => {
    // The browser went away mid-file (a seek, a closed tab): nothing to answer.
    if (!res.writableEnded) res.destroy(err instanceof Error ? err : undefined);
  });
}

/** `fresh` re-validates the user with the IdP (identity freshness) before legal-hold changes. */
export function recordingRoutes(service: RecordingService, fresh: RequestHandler): Router {
  const router = Router();

  router.get('/api/recordings/public-key', (_req, res) => {
    res.type('application/x-pem-file').send(service.publicKeyPem());
  });

  router.get(
    '/api/recordings',
    route({ query: searchSchema }, async ({ user, query }): Promise<RecordingPage> => {
      const { limit, cursor, q, from, to, ...filters } = query;
      if (from !== undefined && to !== undefined && Date.parse(from) > Date.parse(to)) throw badRequest('invalid_input', 'from: must not be after to');
      const offset = Number(cursor ?? 0);
      const { recordings, total } = await service.search(user, {
        filters,
        text: q,
        from: from === undefined ? undefined : new Date(from),
        to: to === undefined ? undefined : new Date(to),
        limit,
        offset,
      });
      return { recordings: recordings.map(presentRecording), total, nextCursor: offset + recordings.length < total ? String(offset + recordings.length) : null };
    }),
  );

  router.get(
    '/api/recordings/:id',
    route({ params: sessionParam }, async ({ user, params }) => {
      const summary = await service.summary(user, params.id);
      const [manifest, verification] = await Promise.all([service.manifest(summary), service.verify(summary)]);
      return { recording: presentRecordingDetails(summary, manifest, verification) };
    }),
  );

  router.get(
    '/api/recordings/:id/verify',
    route({ params: sessionParam }, async ({ user, params }) => ({ verification: await service.verify(await service.summary(user, params.id)) })),
  );

  router.get(
    '/api/recordings/:id/timeline',
    route({ params: sessionParam }, async ({ user, params }) => service.timeline(await service.summary(user, params.id))),
  );

  // Streaming: express's sendFile answers Range requests (206) and conditional GETs itself from a
  // local store; an object store gets the Range passed on and answers it.
  router.get(
    '/api/recordings/:id/files/:kind',
    route({ params: fileParam }, async ({ user, params, req, res }) => {
      const summary = await service.summary(user, params.id);
      const name = service.fileName(params.kind);
      if (name === undefined || !summary.files.some((f) => f.name === name)) throw notFound('unknown_file', 'This recording has no such file.');
      if (startsPlayback(req)) {
        await service.recordAccess(user, summary, req.query['download'] === undefined ? 'recording.played' : 'recording.downloaded', { file: params.kind });
      }
      if (req.query['download'] !== undefined) res.attachment(`${summary.sessionId}-${name}`);
      const headers = { 'Cache-Control': 'private, no-store', 'Content-Type': 'text/plain; charset=utf-8' };
      const root = service.localDirOf(summary);
      if (root === undefined) {
        await streamFromStore(service, summary, name, req, res, headers);
        return undefined;
      }
      await new Promise<void>((resolve, reject) => {
        res.sendFile(name, { root, dotfiles: 'deny', headers }, (err) => {
          if (err === undefined || res.headersSent) resolve();
          else if ((err as { status?: number }).status === 416) reject(new AppError(416, 'range_not_satisfiable', 'The requested range is outside the file.'));
          else reject(err);
        });
      });
      return undefined;
    }),
  );

  router.get(
    '/api/requests/:id/bundle',
    route({ params: requestParam }, async ({ user, params, res }) => {
      const { stream, fileName } = await service.bundle(user, params.id);
      res.attachment(fileName);
      res.type('application/gzip');
      stream.pipe(res);
      await new Promise<void>((resolve) => res.on('close', () => resolve()));
      return undefined;
    }),
  );

  router.get('/api/holds', route({}, async ({ user }) => ({ holds: await service.holds(user) })));
  router.put(
    '/api/holds/:kind/:id',
    fresh,
    route({ params: holdParam, body: holdBody }, async ({ user, params, body }) => ({ hold: await service.placeHold(user, params.kind, params.id, body.reason) })),
  );
  router.delete(
    '/api/holds/:kind/:id',
    fresh,
    route({ params: holdParam }, async ({ user, params }) => {
      await service.releaseHold(user, params.kind, params.id);
      return undefined;
    }),
  );

  return router;
}
