// No recording, no session: guacd fails open on recording (it logs and carries on when it cannot
// write: LAB.md), so the portal watches every file of a live session and ends it when one is
// missing or stops growing while output flows. (The spool check before a session: recordings/spool.ts.)
import { stat } from 'node:fs/promises';

export async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

/** How often the watchdog looks at a session's recording. */
export const WATCHDOG_INTERVAL_MS = 500;
/**
 * Once the first frame has reached the browser, guacd has recorded it: this long after, every
 * file must exist. (Not counted from `ready`: under load guacd 1.3 creates the typescript only
 * after building the terminal, seconds later.)
 */
export const RECORDING_APPEAR_MS = 1_000;
/** Output flowing while the file does not grow for this long means the recording is failing. */
export const RECORDING_STALL_MS = 1_500;

export type RecordingFailure = 'recording_missing' | 'recording_stalled';

/**
 * Watches one recording: it must appear soon after the first frame and keep growing while output flows
 * to the browser. Calls `fail` once, within 2 s of the problem (interval + stall window).
 */
export class RecordingWatchdog {
  private readonly files: readonly string[];
  private readonly fail: (reason: RecordingFailure) => void;
  private timer: NodeJS.Timeout | undefined;
  private firstOutputAt = 0;
  private lastSize = -1;
  private lastGrowth = 0;
  private outputAtLastGrowth = 0;
  private output = 0;
  private failed = false;

  /** `files[0]` is the Guacamole recording (must grow); the others (typescript) must exist. */
  constructor(files: readonly string[], fail: (reason: RecordingFailure) => void) {
    this.files = files;
    this.fail = fail;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), WATCHDOG_INTERVAL_MS);
    this.timer.unref();
  }

  /** Counts recorded bytes sent to the browser (guacd's drawing, not keep-alives). */
  outputFlowed(bytes: number): void {
    if (this.output === 0) {
      this.firstOutputAt = Date.now();
      this.lastGrowth = this.firstOutputAt;
    }
    this.output += bytes;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.failed || this.timer === undefined || this.output === 0) return;
    const now = Date.now();
    const sizes = await Promise.all(this.files.map(fileSize));
    if (sizes.some((s) => s === undefined)) {
      if (now - this.firstOutputAt >= RECORDING_APPEAR_MS || this.lastSize >= 0) this.trip('recording_missing');
      return;
    }
    const size = sizes[0] ?? 0;
    if (size > this.lastSize) {
      this.lastSize = size;
      this.lastGrowth = now;
      this.outputAtLastGrowth = this.output;
      return;
    }
    if (this.output > this.outputAtLastGrowth && now - this.lastGrowth >= RECORDING_STALL_MS) this.trip('recording_stalled');
  }

  private trip(reason: RecordingFailure): void {
    if (this.failed) return;
    this.failed = true;
    this.stop();
    this.fail(reason);
  }
}
