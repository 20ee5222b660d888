// A byte-level reader of a Guacamole recording: splits the file into frames (everything up to and
// including a `sync`) with their byte offsets and timestamps, without decoding or keeping it. The
// renderer worker feeds frames to its renderer and records where each keyframe's replay resumes;
// the activity strip counts what each frame drew and what the vendor sent.
//
// Why bytes, not characters: the player resumes a replay with an HTTP Range request, which counts
// bytes. Element lengths in the protocol count Unicode code points, so a length is skipped by
// counting UTF-8 lead bytes (every byte that is not 10xxxxxx), which is linear and needs no decoder.
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

export interface RecordedFrame {
  /** Byte offset of the frame's first instruction. */
  start: number;
  /** Byte offset just past its `sync`: where the next frame starts. */
  end: number;
  /** The `sync` timestamp (guacd: ms since the epoch). */
  sync: number;
  /** Bytes of instructions that change the screen (everything but sync, nop, key, mouse). */
  drawn: number;
  /** The recorded time (epoch ms, the `key` instruction's own) of each key press in the frame. */
  keys: number[];
  /** Mouse instructions in the frame (what the vendor did, as recorded). */
  mouse: number;
  /** The instructions after the last `sync` (a session cut off, or input after the last frame): never drawn by a replay. */
  partial?: true;
  /** Files the machine sent to the browser in the frame (`file` instructions: their names). */
  files: string[];
}

/** Instructions that do not draw: the frame's end, keep-alives and recorded input. */
const NOT_DRAWING = new Set(['sync', 'nop', 'key', 'mouse']);
/** An element longer than this is a damaged file, not a recording (guacd's blobs are a few KB). */
const MAX_ELEMENT_CODEPOINTS = 16 * 1024 * 1024;

const DOT = 0x2e;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/** Thrown for bytes that are not the Guacamole protocol. */
export class RecordingFormatError extends Error {
  override name = 'RecordingFormatError';
}

/**
 * Parses one instruction at `pos` in `buf`; returns its end (past ';'), its opcode and first
 * argument, or undefined when the buffer ends first.
 */
function instructionAt(buf: Buffer, pos: number): { end: number; opcode: string; args: string[] } | undefined {
  let p = pos;
  let opcode: string | undefined;
  const args: string[] = [];
  for (let element = 0; ; element++) {
    let length = 0;
    let digits = 0;
    for (;;) {
      if (p >= buf.length) return undefined;
      const c = buf[p] as number;
      p++;
      if (c === DOT) break;
      if (c < 0x30 || c > 0x39 || digits > 9) throw new RecordingFormatError(`not a Guacamole instruction at byte ${pos}`);
      length = length * 10 + (c - 0x30);
      digits++;
    }
    if (digits === 0 || length > MAX_ELEMENT_CODEPOINTS) throw new RecordingFormatError(`bad element length at byte ${p}`);
    const valueStart = p;
    // Skip `length` code points: each starts with a byte that is not a continuation byte.
    let seen = 0;
    while (seen < length) {
      if (p >= buf.length) return undefined;
      p++;
      seen++;
      while (p < buf.length && ((buf[p] as number) & 0xc0) === 0x80) p++;
    }
    // The last code point's continuation bytes may be cut off by the buffer's end.
    if (p >= buf.length) return undefined;
    if (element === 0) opcode = buf.toString('latin1', valueStart, p);
    else if (opcode === 'sync' || opcode === 'file' || opcode === 'key') args.push(buf.toString('utf8', valueStart, p));
    const t = buf[p] as number;
    p++;
    if (t === SEMICOLON) return { end: p, opcode: opcode ?? '', args };
    if (t !== COMMA) throw new RecordingFormatError(`bad element terminator at byte ${p - 1}`);
  }
}

/** The frames of a recording file from byte `from` on (a frame boundary), in order. */
export async function* readFrames(file: string, from = 0): AsyncGenerator<RecordedFrame> {
  let carry: Buffer = Buffer.alloc(0);
  let base = from; // file offset of carry[0]
  let frame: RecordedFrame = { start: from, end: from, sync: 0, drawn: 0, keys: [], mouse: 0, files: [] };
  for await (const chunk of createReadStream(file, { start: from, highWaterMark: 1 << 20 })) {
    const buf: Buffer = carry.length === 0 ? (chunk as Buffer) : Buffer.concat([carry, chunk as Buffer]);
    let pos = 0;
    for (;;) {
      const ins = instructionAt(buf, pos);
      if (ins === undefined) break;
      if (ins.opcode === 'sync') {
        frame.end = base + ins.end;
        frame.sync = Number.parseInt(ins.args[0] ?? '', 10);
        yield frame;
        frame = { start: base + ins.end, end: base + ins.end, sync: 0, drawn: 0, keys: [], mouse: 0, files: [] };
      } else if (ins.opcode === 'key') {
        if (ins.args[1] === '1') frame.keys.push(Number.parseInt(ins.args[2] ?? '', 10));
      }
      else if (ins.opcode === 'file') {
        frame.files.push((ins.args[2] ?? '').slice(0, 200));
        frame.drawn += ins.end - pos;
      }
      else if (ins.opcode === 'mouse') frame.mouse++;
      else if (!NOT_DRAWING.has(ins.opcode)) frame.drawn += ins.end - pos;
      pos = ins.end;
    }
    carry = buf.subarray(pos);
    base += pos;
  }
  // Instructions after the last `sync` never show in a replay; what the vendor did there still counts.
  if (frame.keys.length > 0 || frame.mouse > 0 || frame.drawn > 0) yield { ...frame, end: base, partial: true };
}

/**
 * Sends the bytes [from, to) of an open recording file to a renderer (nothing when empty). Here,
 * not in renderer.ts, so that modules the portal loads do not load Chromium's driver with it.
 */
export async function feedRange(fd: FileHandle, session: { feed(text: string): Promise<void> }, from: number, to: number): Promise<void> {
  if (to <= from) return;
  const buf = Buffer.alloc(to - from);
  await fd.read(buf, 0, buf.length, from);
  await session.feed(buf.toString('utf8'));
}
