// The file airlock's API (docs/api.md, "File airlock"): the vendor uploads into a live session
// (the body is the file itself, streamed into quarantine), everyone concerned lists a session's
// files, plant managers release or deny what waits for them, and the vendor downloads files out
// of the plant once released. The browser's own Guacamole file streams never reach guacd.
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { route } from '../../server/http/validate.ts';
import type { FileAirlock, FileView, PlantFileView } from './airlock.ts';

/** What the browser reads (client/src/api.ts imports these types). */
export type FileListView = Awaited<ReturnType<FileAirlock['list']>>;
export type { FileView, PlantFileView };

const sessionParam = z.strictObject({ id: z.uuid() });
const fileParam = z.strictObject({ id: z.uuid() });
const uploadQuery = z.strictObject({ name: z.string().min(1).max(1024) });
const decideBody = z.strictObject({ reason: z.string().trim().max(2000).optional() });

export function fileRoutes(files: FileAirlock, fresh: RequestHandler): Router {
  const router = Router();
  router.put(
    '/api/sessions/:id/files',
    fresh,
    route({ params: sessionParam, query: uploadQuery }, async ({ user, params, query, req }) => {
      const length = req.get('content-length');
      const declared = length === undefined || !/^\d{1,15}$/.test(length) ? undefined : Number(length);
      return { file: await files.upload(user, params.id, query.name, declared, req, req.get('content-type') ?? 'application/octet-stream') };
    }, 201),
  );
  router.get('/api/sessions/:id/files', route({ params: sessionParam }, async ({ user, params }) => files.list(user, params.id)));
  router.get('/api/files/pending', route({}, async ({ user }) => files.pending(user)));
  router.post(
    '/api/files/:id/release',
    fresh,
    route({ params: fileParam, body: decideBody }, async ({ user, params, body }) => ({ file: await files.decide(user, params.id, 'released', body.reason) })),
  );
  router.post(
    '/api/files/:id/deny',
    fresh,
    route({ params: fileParam, body: decideBody }, async ({ user, params, body }) => ({ file: await files.decide(user, params.id, 'denied', body.reason) })),
  );
  router.get(
    '/api/files/:id/content',
    route({ params: fileParam }, async ({ user, params, res }) => {
      const file = await files.content(user, params.id);
      res.status(200);
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('content-length', String(file.bytes));
      res.setHeader('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`);
      res.setHeader('x-content-type-options', 'nosniff');
      file.stream.pipe(res);
      await new Promise<void>((resolve) => res.once('close', () => resolve()));
      return undefined;
    }),
  );
  return router;
}
