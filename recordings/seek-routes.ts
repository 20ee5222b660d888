// The player's seek data (docs/api.md, "Recordings"): a recording's keyframe index and activity
// strip, one keyframe's client state, one keyframe's thumbnail. Served only when the derived data
// checks out against its signature and the recording's signed manifest (derived.ts); otherwise
// the answer says why, the player replays from the start as before, and the recording is queued
// for the renderer worker again (once per process), since derived data can always be rebuilt.
import { open } from 'node:fs/promises';
import { Router } from 'express';
import { z } from 'zod';
import { route } from '../server/http/validate.ts';
import { conflict, notFound } from '../server/errors.ts';
import type { RedisClient } from '../server/redis.ts';
import { checkDerived, derivedStamp, DERIVED_PROBLEMS, type DerivedCheck, type DerivedIndex } from './derived.ts';
import type { RecordingSummary } from './catalog.ts';
import type { RecordingService } from './service.ts';
import { enqueueRender } from './render-queue.ts';

const sessionParam = z.strictObject({ id: z.uuid() });
const keyframeParam = z.strictObject({ id: z.uuid(), n: z.coerce.number().int().min(0).max(1_000_000) });
/** Checks kept per process (the data file is hashed again only when it changed). */
const CHECK_CACHE_ENTRIES = 1_000;
/** A recording finalised less than this ago is in the worker's queue (the finaliser put it there). */
const RECENTLY_FINALISED_MS = 10 * 60_000;

/** What the player needs to seek: no byte ranges of the data file (the server's business). */
export interface SeekIndex {
  duration: number;
  firstSync: number;
  width: number;
  height: number;
  recordingBytes: number;
  keyframes: Array<{ t: number; at: number }>;
  activity: DerivedIndex['activity'];
}

export function seekRoutes(service: RecordingService, redis: RedisClient): Router {
  const router = Router();
  const checks = new Map<string, { stamp: string; check: DerivedCheck }>();
  const requeued = new Map<string, string>();

  async function derived(summary: RecordingSummary): Promise<DerivedCheck & { ok: true }> {
    const dir = service.dirOf(summary);
    const stamp = await derivedStamp(dir);
    let check = checks.get(summary.sessionId)?.stamp === stamp ? checks.get(summary.sessionId)?.check : undefined;
    if (check === undefined) {
      const manifest = await service.manifest(summary);
      check = await checkDerived(dir, manifest.files.find((f) => f.kind === 'recording')?.sha256, service.publicKeyPem());
      if (checks.size >= CHECK_CACHE_ENTRIES) checks.delete(checks.keys().next().value ?? '');
      checks.set(summary.sessionId, { stamp, check });
    }
    if (check.ok) return check;
    // Queued again once per state of the folder; a recording finalised moments ago is queued already.
    const fresh = check.problem === 'missing' && Date.now() - Date.parse(summary.finalisedAt ?? '') < RECENTLY_FINALISED_MS;
    if (!fresh && requeued.get(summary.sessionId) !== stamp) {
      if (requeued.size >= CHECK_CACHE_ENTRIES) requeued.delete(requeued.keys().next().value ?? '');
      requeued.set(summary.sessionId, stamp);
      await enqueueRender(redis, summary.sessionId).catch(() => undefined);
    }
    const message = `Seeking replays from the start: ${DERIVED_PROBLEMS[check.problem]}.`;
    throw check.problem === 'missing' ? notFound('keyframes_missing', message) : conflict('keyframes_invalid', message);
  }

  async function slice(file: string, [from, length]: [number, number]): Promise<Buffer> {
    const fd = await open(file, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fd.read(buf, 0, length, from);
      return buf.subarray(0, bytesRead);
    } finally {
      await fd.close();
    }
  }

  router.get(
    '/api/recordings/:id/seek',
    route({ params: sessionParam }, async ({ user, params }): Promise<{ seek: SeekIndex }> => {
      const { index } = await derived(await service.summary(user, params.id));
      return {
        seek: {
          duration: index.duration,
          firstSync: index.firstSync,
          width: index.width,
          height: index.height,
          recordingBytes: index.recordingBytes,
          keyframes: index.keyframes.map(({ t, at }) => ({ t, at })),
          activity: index.activity,
        },
      };
    }),
  );

  for (const part of ['state', 'thumb'] as const) {
    router.get(
      `/api/recordings/:id/seek/:n/${part}`,
      route({ params: keyframeParam }, async ({ user, params, res }) => {
        const { index, dataFile } = await derived(await service.summary(user, params.id));
        const keyframe = index.keyframes[params.n];
        if (keyframe === undefined) throw notFound('unknown_keyframe', 'This recording has no such keyframe.');
        const bytes = await slice(dataFile, keyframe[part]);
        res.set('Cache-Control', 'private, no-store');
        res.type(part === 'state' ? 'application/json' : 'image/jpeg').send(bytes);
        return undefined;
      }),
    );
  }
  return router;
}
