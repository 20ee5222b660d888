// The files of a live session must stay where the finaliser will look for them: the portal's
// own recording (which it writes itself: a failed or stalled write ends the session at once, see
// recording-writer.ts) and, where guacd shares the spool, guacd's typescript. A file deleted or
// never created ends the session: no recording, no session.
import { stat } from 'node:fs/promises';

export async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

/** How often the watchdog looks at a session's files. */
export const WATCHDOG_INTERVAL_MS = 500;
/**
 * Once the first frame has reached the browser, every file must exist this long after. (Not
 * counted from `ready`: under load guacd 1.3 creates the typescript only after building the
 * terminal, seconds later.)
 */
export const RECORDING_APPEAR_MS = 1_000;

export type RecordingFailure = 'recording_missing';

/**
 * Watches that a session's files exist once output flows, and keep existing. Calls `fail` once,
 * within a second of a file going missing (interval + appear window).
 */
export class RecordingWatchdog {
  private readonly files: readonly string[];
  private readonly fail: (reason: RecordingFailure) => void;
  private timer: NodeJS.Timeout | undefined;
  private firstOutputAt = 0;
  /** Every file has been seen at least once (from then on, a missing one is gone, not late). */
  private allSeen = false;
  private failed = false;

  constructor(files: readonly string[], fail: (reason: RecordingFailure) => void) {
    this.files = files;
    this.fail = fail;
  }

  start(): void {
    if (this.files.length === 0) return;
    this.timer = setInterval(() => void this.check(), WATCHDOG_INTERVAL_MS);
    this.timer.unref();
  }

  /** Counts drawing sent to the browser (not keep-alives): the files must exist from the first frame on. */
  outputFlowed(): void {
    if (this.firstOutputAt === 0) this.firstOutputAt = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.failed || this.timer === undefined || this.firstOutputAt === 0) return;
    const sizes = await Promise.all(this.files.map(fileSize));
    if (sizes.every((s) => s !== undefined)) {
      this.allSeen = true;
      return;
    }
    if (this.allSeen || Date.now() - this.firstOutputAt >= RECORDING_APPEAR_MS) this.trip('recording_missing');
  }

  private trip(reason: RecordingFailure): void {
    if (this.failed) return;
    this.failed = true;
    this.stop();
    this.fail(reason);
  }
}
