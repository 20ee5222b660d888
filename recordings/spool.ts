// The recording spool's health: no recording, no session, so a ticket and an upgrade are refused
// while the spool cannot be written or its disk is nearly full.
import { constants } from 'node:fs';
import { access, mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';

export type SpoolProblem = 'spool_unwritable' | 'disk_low';

/** A healthy spool is re-checked at most this often (each check writes and deletes a file). */
const SPOOL_OK_CACHE_MS = 1_000;
const lastHealthy = new Map<string, number>();

/**
 * Can a session be recorded now? The spool must exist (it is created if missing), accept a new
 * file — a real write, because root passes every permission check — and have enough free space.
 */
export async function spoolProblem(spool: string, minFreeBytes: number): Promise<SpoolProblem | undefined> {
  if (Date.now() - (lastHealthy.get(`${spool}|${minFreeBytes}`) ?? 0) < SPOOL_OK_CACHE_MS) return undefined;
  const problem = await checkSpool(spool, minFreeBytes);
  if (problem === undefined) lastHealthy.set(`${spool}|${minFreeBytes}`, Date.now());
  return problem;
}

async function checkSpool(spool: string, minFreeBytes: number): Promise<SpoolProblem | undefined> {
  try {
    await mkdir(spool, { recursive: true, mode: 0o700 });
    await access(spool, constants.W_OK);
    const probe = path.join(spool, `.probe-${randomUUID()}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch {
    return 'spool_unwritable';
  }
  try {
    const fs = await statfs(spool);
    if (fs.bavail * fs.bsize < minFreeBytes) return 'disk_low';
  } catch {
    return 'spool_unwritable';
  }
  return undefined;
}

/** What the vendor is told when the spool refuses a session. */
export const SPOOL_MESSAGES: Record<SpoolProblem, string> = {
  spool_unwritable: 'Sessions are unavailable: the recording storage cannot be written. No recording, no session.',
  disk_low: 'Sessions are unavailable: the recording disk is nearly full. No recording, no session.',
};
