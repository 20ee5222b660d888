// Video export API (docs/api.md, "Recordings"): ask for an export of a recording or a time range
// of it (a background job for the renderer worker), follow the job's progress, download the file.
// Who may export is who may replay (policies.ts through RecordingService.summary).
import path from 'node:path';
import { Router } from 'express';
import { z } from 'zod';
import { route } from '../server/http/validate.ts';
import { AppError, badRequest, conflict, notFound, unavailable } from '../server/errors.ts';
import type { RedisClient } from '../server/redis.ts';
import { checkDerived } from './derived.ts';
import { EXPORT_FORMATS, exportFileName, ExportJobs, type ExportJob } from './export.ts';
import { readFrames } from './frames.ts';
import { EXPORTS_DIR, STORE_FILE_NAMES } from './layout.ts';
import type { RecordingSummary } from './catalog.ts';
import type { RecordingService } from './service.ts';

const sessionParam = z.strictObject({ id: z.uuid() });
const jobParam = z.strictObject({ id: z.uuid(), job: z.uuid() });
/** ms from the recording's first frame, as the player shows positions. */
const position = z.number().int().nonnegative().max(366 * 86_400_000);
const exportBody = z.strictObject({ from: position.optional(), to: position.optional(), format: z.enum(EXPORT_FORMATS).default('mp4') });

/** What the API shows of a job. */
export interface PresentedExport {
  id: string;
  state: ExportJob['state'];
  progress: number;
  from: number;
  to: number | null;
  format: ExportJob['format'];
  requestedAt: string;
  finishedAt: string | null;
  sha256: string | null;
  bytes: number | null;
  durationMs: number | null;
  /** How long the worker took to make it (ms). */
  encodeMs: number | null;
  error: string | null;
  /** Where the file is once the job is done. */
  fileUrl: string | null;
}

function present(job: ExportJob): PresentedExport {
  return {
    id: job.id,
    state: job.state,
    progress: job.progress,
    from: job.from,
    to: job.to,
    format: job.format,
    requestedAt: job.requestedAt,
    finishedAt: job.finishedAt ?? null,
    sha256: job.sha256 ?? null,
    bytes: job.bytes ?? null,
    durationMs: job.durationMs ?? null,
    encodeMs: job.encodeMs ?? null,
    error: job.error ?? null,
    fileUrl: job.state === 'done' ? `/api/recordings/${job.sessionId}/exports/${job.id}/file` : null,
  };
}

export function exportRoutes(service: RecordingService, redis: RedisClient): Router {
  const router = Router();
  const jobs = new ExportJobs(redis);

  /** The recording's length (ms from its first frame): from its keyframe index, else by reading it. */
  async function duration(summary: RecordingSummary): Promise<number> {
    const dir = service.dirOf(summary);
    const manifest = await service.manifest(summary);
    const check = await checkDerived(dir, manifest.files.find((f) => f.kind === 'recording')?.sha256, service.publicKeyPem(), false);
    if (check.ok) return check.index.duration;
    let first: number | undefined;
    let last = 0;
    for await (const frame of readFrames(path.join(dir, STORE_FILE_NAMES.recording))) {
      if (frame.partial === true) break;
      first ??= frame.sync;
      last = Math.max(last, frame.sync - first);
    }
    if (first === undefined) throw conflict('recording_empty', 'This recording has no frames to export.');
    return last;
  }

  async function jobOf(summary: RecordingSummary, jobId: string): Promise<ExportJob> {
    const job = await jobs.get(jobId);
    if (job === undefined || job.sessionId !== summary.sessionId) throw notFound('unknown_export', 'No such export of this recording.');
    return job;
  }

  router.post(
    '/api/recordings/:id/exports',
    route(
      { params: sessionParam, body: exportBody },
      async ({ user, params, body }): Promise<{ export: PresentedExport }> => {
        const summary = await service.summary(user, params.id);
        const from = body.from ?? 0;
        if (body.to !== undefined && body.to <= from) throw badRequest('invalid_range', 'to: must be after from');
        const length = await duration(summary);
        if (from >= Math.max(1, length)) throw badRequest('invalid_range', `from: the recording is only ${length} ms long`);
        if (body.to !== undefined && body.to > length + 1000) throw badRequest('invalid_range', `to: the recording is only ${length} ms long`);
        const to = body.to === undefined ? length : Math.min(body.to, length);
        let job: ExportJob;
        try {
          job = await jobs.enqueue({ sessionId: summary.sessionId, from, to, format: body.format, requestedBy: { id: user.id, name: user.name } });
        } catch (err) {
          throw unavailable('export_queue_full', 'Too many exports are waiting; try again later.', err);
        }
        await service.recordAccess(user, summary, 'recording.export_requested', { jobId: job.id, from, to, format: job.format });
        return { export: present(job) };
      },
      202,
    ),
  );

  router.get(
    '/api/recordings/:id/exports/:job',
    route({ params: jobParam }, async ({ user, params }) => ({ export: present(await jobOf(await service.summary(user, params.id), params.job)) })),
  );

  router.get(
    '/api/recordings/:id/exports/:job/file',
    route({ params: jobParam }, async ({ user, params, res }) => {
      const summary = await service.summary(user, params.id);
      const job = await jobOf(summary, params.job);
      if (job.state !== 'done') throw conflict('export_not_ready', job.state === 'failed' ? `This export failed: ${job.error ?? 'unknown error'}` : 'This export is not finished yet.');
      await service.recordAccess(user, summary, 'recording.downloaded', { file: 'export', jobId: job.id, sha256: job.sha256 });
      res.attachment(`${summary.sessionId}-${job.from}-${job.to ?? 'end'}.${job.format}`);
      await new Promise<void>((resolve, reject) => {
        res.sendFile(exportFileName(job), { root: path.join(service.dirOf(summary), EXPORTS_DIR), dotfiles: 'deny', headers: { 'Cache-Control': 'private, no-store', 'Content-Type': `video/${job.format}` } }, (err) => {
          if (err === undefined || res.headersSent) resolve();
          else if ((err as { status?: number }).status === 404) reject(new AppError(410, 'export_missing', 'This export’s file is no longer in the store.'));
          else reject(err);
        });
      });
      return undefined;
    }),
  );
  return router;
}
