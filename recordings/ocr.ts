// What graphical sessions (VNC, RDP) showed, as text with times: the renderer worker replays the
// recording, and wherever the screen changed and then settled it reads the screen with Debian's
// tesseract (the CLI, one process per image, one thread). Each read keeps the words that were
// not on the screen the read before, so a word is found at the moment it appeared. The words
// are indexed by the recordings search (catalog.ts, as keyed hashes) and the moments are
// entries of the player's timeline, which its find searches (service.ts).
//
// Integrity: like the keyframes, not evidence; the file is signed with the manifest key and
// names the recording it was read from, and is used only when both check out (readOcr).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DERIVED_DIR, OCR_FILE_NAMES } from './layout.ts';
import { feedRange, readFrames } from './frames.ts';
import type { GuacRenderer } from './renderer.ts';
import { verifySignature, type ManifestSigner } from './signing.ts';
import { tokenize } from './text.ts';

/** The screen is read once drawing has paused this long (a page built, a command's output shown). */
export const SETTLE_MS = 700;
/** …or after this much time of continuous drawing (a screen that never rests: a clock, a video). */
const MAX_UNREAD_MS = 15_000;
/** Reads per recording at most (each costs ~0.3–1 s of one core). */
export const MAX_OCR_READS = 400;
/**
 * Characters of new words kept per read: every word of a full screen (a 1024×768 terminal holds
 * ~5 KB), all of them indexed. The timeline shows the first OCR_LABEL_CHARS. (Cutting the kept
 * text at the label's 500 characters lost the rest of a busy screen's words from the search.)
 */
const MAX_READ_CHARS = 64 * 1024;
/** Characters of a read the timeline shows. */
export const OCR_LABEL_CHARS = 500;
const FEED_BYTES = 1024 * 1024;
const TESSERACT_TIMEOUT_MS = 30_000;

export const ocrSchema = z.object({
  version: z.literal(1),
  sessionId: z.string(),
  recordingSha256: z.string().regex(/^[0-9a-f]{64}$/),
  firstSync: z.number(),
  engine: z.string(),
  /** `t`: ms from the first frame; `text`: the words new on the screen then. */
  reads: z.array(z.object({ t: z.number().nonnegative(), text: z.string() })),
});
export type OcrText = z.infer<typeof ocrSchema>;

/**
 * Runs tesseract on one PNG (stdin → stdout) and returns its text. Page segmentation 6 (one
 * uniform block): on a 1024×768 xterm it read every word, where 3 (auto) read none and 11
 * (sparse text) read fragments.
 */
export function tesseract(png: Buffer, opts: { path?: string; psm?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.path ?? 'tesseract', ['stdin', 'stdout', '--psm', String(opts.psm ?? 6), '-l', 'eng'], {
      stdio: ['pipe', 'pipe', 'ignore'],
      // One thread: the worker's CPU stays bounded (OpenMP would take every core).
      env: { ...process.env, OMP_THREAD_LIMIT: '1' },
      timeout: TESSERACT_TIMEOUT_MS,
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`tesseract failed (${code})`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(png);
  });
}

/** Reads the screen wherever it changed and settled; the reads with the words new at each. */
export async function readScreens(renderer: GuacRenderer, recordingFile: string, opts: { tesseractPath?: string; maxReads?: number } = {}): Promise<{ firstSync: number; reads: OcrText['reads'] }> {
  const max = opts.maxReads ?? MAX_OCR_READS;
  const session = await renderer.open();
  const fd = await open(recordingFile, 'r');
  const reads: OcrText['reads'] = [];
  let previous = new Set<string>();
  let lastImage = '';
  let count = 0;
  // A screen seen before (a menu reopened, a repeated page) is not read again.
  const known = new Map<string, Set<string>>();
  try {
    let fed = 0;
    const feedTo = async (to: number): Promise<void> => {
      if (to <= fed) return;
      await feedRange(fd, session, fed, to);
      fed = to;
    };
    const read = async (t: number): Promise<void> => {
      if (count >= max) return;
      const png = await session.ocrImage(2);
      if (png.length === 0) return;
      const digest = createHash('sha256').update(png).digest('hex');
      if (digest === lastImage) return; // drawn over with the same pixels
      lastImage = digest;
      let words = known.get(digest);
      if (words === undefined) {
        count++;
        words = tokenize(await tesseract(png, opts.tesseractPath === undefined ? {} : { path: opts.tesseractPath }));
        if (known.size < MAX_OCR_READS) known.set(digest, words);
      }
      const fresh = [...words].filter((w) => !previous.has(w));
      previous = words;
      if (fresh.length > 0) reads.push({ t, text: fresh.join(' ').slice(0, MAX_READ_CHARS) });
    };
    let firstSync: number | undefined;
    let t = 0;
    let lastDrawn: number | undefined; // time of the last drawing not yet read
    let unreadSince: number | undefined;
    for await (const frame of readFrames(recordingFile)) {
      if (frame.partial === true) break;
      firstSync ??= frame.sync;
      const ft = Math.max(t, frame.sync - firstSync);
      const settled = lastDrawn !== undefined && ft - lastDrawn >= SETTLE_MS;
      const overdue = unreadSince !== undefined && ft - unreadSince >= MAX_UNREAD_MS;
      if (settled || overdue) {
        await feedTo(frame.start);
        await read(lastDrawn ?? t);
        lastDrawn = undefined;
        unreadSince = undefined;
      }
      t = ft;
      if (frame.drawn > 0) {
        lastDrawn = t;
        unreadSince ??= t;
      }
      if (frame.end - fed >= FEED_BYTES) await feedTo(frame.end);
    }
    if (firstSync === undefined) throw new Error('the recording has no frames');
    await feedTo((await fd.stat()).size);
    if (lastDrawn !== undefined) await read(lastDrawn);
    return { firstSync, reads };
  } finally {
    await fd.close();
    await session.close();
  }
}

/** Writes the signed OCR text into the recording's derived folder (after the keyframes are built). */
export async function writeOcr(dir: string, text: OcrText, signer: ManifestSigner): Promise<void> {
  const base = path.join(dir, DERIVED_DIR);
  const bytes = Buffer.from(JSON.stringify(text));
  // The signature first, then the text: a reader never sees new text under an old signature
  // that verifies (it would not), and a crash between leaves a pair that fails closed.
  await writeFile(path.join(base, `${OCR_FILE_NAMES.signature}.new`), `${signer.sign(bytes)}\n`, { mode: 0o600 });
  await writeFile(path.join(base, `${OCR_FILE_NAMES.text}.new`), bytes, { mode: 0o600 });
  await rename(path.join(base, `${OCR_FILE_NAMES.signature}.new`), path.join(base, OCR_FILE_NAMES.signature));
  await rename(path.join(base, `${OCR_FILE_NAMES.text}.new`), path.join(base, OCR_FILE_NAMES.text));
}

/** The OCR text of a recording, if present, signed by this Airlock and read from this recording. */
export async function readOcr(dir: string, recordingSha256: string | undefined, publicKey: Parameters<typeof verifySignature>[2]): Promise<OcrText | undefined> {
  const base = path.join(dir, DERIVED_DIR);
  try {
    const bytes = await readFile(path.join(base, OCR_FILE_NAMES.text));
    const signature = (await readFile(path.join(base, OCR_FILE_NAMES.signature), 'utf8')).trim();
    if (!verifySignature(bytes, signature, publicKey)) return undefined;
    const text = ocrSchema.parse(JSON.parse(bytes.toString('utf8')));
    return recordingSha256 !== undefined && text.recordingSha256 === recordingSha256 ? text : undefined;
  } catch {
    return undefined;
  }
}
