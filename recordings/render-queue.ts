// The renderer worker's queue in Redis: the finaliser puts each finalised recording in it; a
// worker (worker.ts) takes them one at a time. Kept apart from the worker so that the finaliser
// does not load the renderer (Chromium) with it.
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';

/** Recordings queued at most: a portal without a worker must not grow the list forever. */
const MAX_QUEUED = 100_000;

/** Puts a finalised recording in the renderer worker's queue. */
export async function enqueueRender(redis: RedisClient, sessionId: string): Promise<void> {
  await redis.multi().lPush(keys.recordings.renderQueue, sessionId).lTrim(keys.recordings.renderQueue, 0, MAX_QUEUED - 1).exec();
}
