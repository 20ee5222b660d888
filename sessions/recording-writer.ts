// The portal's own recording of a session, written from the stream it relays: every guacd →
// browser instruction of the owner's connection and the key events it relayed, in guacd's
// recording format (a Guacamole protocol dump; keys as `key,<keysym>,<pressed>,<timestamp>`,
// as guacd's `recording-include-keys` writes them), so the player and guacd's tools read it.
// Keys carry guacd's clock, as guacd writes them: its `sync` timestamps are its monotonic clock
// (libguac's guac_timestamp_current), not the epoch, so the writer maps Date.now() onto the
// clock of the first sync it relays, and says when that was (`onClock`) for the timeline.
// Fail closed by construction: a write that errors, or that the disk has not taken within
// RECORDING_STALL_MS, ends the session at once.
import { createWriteStream, type WriteStream } from 'node:fs';
import { encodeInstruction } from './tunnel/protocol.ts';

/** Output queued but not on disk for this long means the recording disk stalled: the session ends. */
export const RECORDING_STALL_MS = 1_000;

export type RecordingWriteFailure = 'recording_write_failed' | 'recording_stalled';

export class RecordingWriter {
  private readonly out: WriteStream;
  private readonly onFail: (reason: RecordingWriteFailure, detail: string) => void;
  private readonly onClock: ((sync: number) => void) | undefined;
  /** guacd's clock minus Date.now(), from the first sync relayed (0 until then). */
  private clockShift: number | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private failed = false;
  /** Bytes handed to the disk so far. */
  bytes = 0;

  /** `onClock(sync)`: the first sync was relayed now (its timestamp on guacd's clock). */
  constructor(file: string, onFail: (reason: RecordingWriteFailure, detail: string) => void, onClock?: (sync: number) => void) {
    this.onFail = onFail;
    this.onClock = onClock;
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.out.on('error', (err) => this.fail('recording_write_failed', err.message));
    this.out.on('drain', () => {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    });
  }

  /** Records what was relayed to the browser (one or more whole instructions). */
  output(data: string): void {
    this.write(data);
  }

  /** The first sync is being relayed now (the connection saw it: its first frame): the clocks' link. */
  firstSync(sync: number): void {
    if (this.clockShift !== undefined || !Number.isFinite(sync)) return;
    this.clockShift = sync - Date.now();
    this.onClock?.(sync);
  }

  /** Now, on guacd's clock (the epoch until the first sync). */
  private now(): string {
    return String(Date.now() + (this.clockShift ?? 0));
  }

  /**
   * Records a key event, as guacd's recording-include-keys does. The vendor's keys have guacd's
   * four elements; another typist's (an observer holding the controls) add a fifth, who typed:
   * guacd's tools and the player read the first four and ignore the rest.
   */
  key(keysym: string, pressed: string, typist?: string): void {
    this.write(typist === undefined ? encodeInstruction('key', keysym, pressed, this.now()) : encodeInstruction('key', keysym, pressed, this.now(), typist));
  }

  private write(data: string): void {
    if (this.failed) return;
    this.bytes += data.length;
    if (!this.out.write(data) && this.stallTimer === undefined) {
      this.stallTimer = setTimeout(() => this.fail('recording_stalled', `nothing written for ${RECORDING_STALL_MS} ms`), RECORDING_STALL_MS);
      this.stallTimer.unref();
    }
  }

  private fail(reason: RecordingWriteFailure, detail: string): void {
    if (this.failed) return;
    this.failed = true;
    clearTimeout(this.stallTimer);
    this.onFail(reason, detail);
  }

  /** Flushes and closes; resolves once the file is complete on disk (or the stream failed). */
  close(): Promise<void> {
    clearTimeout(this.stallTimer);
    return new Promise((resolve) => {
      if (this.out.closed || this.out.destroyed) {
        resolve();
        return;
      }
      this.out.end(() => resolve());
      this.out.once('error', () => resolve());
    });
  }
}
