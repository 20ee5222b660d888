// Waiting on a condition with a deadline, polling briefly: for facts with no event to await
// (a server becoming reachable). Never a fixed sleep.
import { setTimeout as delay } from 'node:timers/promises';

/** Poll interval: short enough to react quickly, long enough not to spin. */
const POLL_MS = 50;

export async function waitFor(condition: () => Promise<boolean> | boolean, opts: { timeoutMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(condition).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    await delay(POLL_MS);
  }
}
