// The portal's own record of what the vendor sent: keys, clipboard text, display resizes and
// anything the policy blocked, one JSON line each, next to guacd's recording. Auditors search it.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { GuacInstruction } from './tunnel/protocol.ts';

/** Who typed, when not the vendor (an observer holding the controls). */
export type Typist = { id: string; name: string };

export type InputEvent =
  | { type: 'key'; keysym: number; pressed: boolean; by?: Typist }
  | { type: 'observer'; event: string; by?: Typist }
  | { type: 'clipboard'; mimetype: string; text: string }
  | { type: 'size'; width: number; height: number }
  /** The recording's first sync (guacd's clock) was relayed at this event's `t`: the two clocks' link. */
  | { type: 'clock'; sync: number }
  | { type: 'blocked'; opcode: string; reason: string };

/** Clipboard text kept per event; enough for any command line, bounded against floods. */
const MAX_CLIPBOARD_CHARS = 64 * 1024;

export class InputEventLog {
  private readonly out: WriteStream;
  /** Event times count from here: the session's start, the timeline's zero. */
  private readonly startedAt: number;
  private readonly clipboards = new Map<string, { mimetype: string; chunks: string[]; size: number }>();
  private failed = false;

  /** `onError` fires once if the log cannot be written: the session must then end. */
  constructor(file: string, onError: (err: Error) => void, startedAt = Date.now()) {
    this.startedAt = startedAt;
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.out.on('error', (err) => {
      if (this.failed) return;
      this.failed = true;
      onError(err);
    });
  }

  write(event: InputEvent): void {
    if (this.failed) return;
    this.out.write(`${JSON.stringify({ t: Date.now() - this.startedAt, ...event })}\n`);
  }

  /** Records what an instruction from the browser means (called for relayed instructions); `by` when not the vendor's. */
  observe(instruction: GuacInstruction, by?: Typist): void {
    const [opcode, a = '', b = ''] = instruction;
    switch (opcode) {
      case 'key':
        this.write({ type: 'key', keysym: Number(a), pressed: b === '1', ...(by === undefined ? {} : { by }) });
        break;
      case 'size':
        this.write({ type: 'size', width: Number(a), height: Number(b) });
        break;
      case 'clipboard':
        this.clipboards.set(a, { mimetype: b, chunks: [], size: 0 });
        break;
      case 'blob': {
        const clip = this.clipboards.get(a);
        if (clip !== undefined && clip.size < MAX_CLIPBOARD_CHARS) {
          clip.chunks.push(b);
          clip.size += b.length;
        }
        break;
      }
      case 'end': {
        const clip = this.clipboards.get(a);
        if (clip === undefined) break;
        this.clipboards.delete(a);
        const text = Buffer.from(clip.chunks.join(''), 'base64').toString('utf8').slice(0, MAX_CLIPBOARD_CHARS);
        this.write({ type: 'clipboard', mimetype: clip.mimetype, text });
        break;
      }
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out.closed || this.failed) {
        resolve();
        return;
      }
      this.out.end(() => resolve());
    });
  }
}
