// A clamd client for the file airlock: INSTREAM over clamd's socket (unix or TCP), which is all
// the airlock needs, so no dependency. clamd answers `stream: OK`, `stream: <Name> FOUND` or
// `<text> ERROR`; anything else, a refused connection, a reset or a timeout is a ScannerError,
// and the caller releases nothing (fail closed).
import net from 'node:net';
import { CodedError } from '../../server/errors.ts';

/** Where clamd listens (config.files.clamd). */
export type ClamdTarget = { readonly socket: string } | { readonly host: string; readonly port: number };

export type ScanVerdict = { result: 'clean' } | { result: 'infected'; signature: string };

export type ScannerErrorCode = 'scanner_unavailable' | 'scanner_timeout' | 'scanner_error' | 'scanner_not_configured';

/** The scanner could not give a verdict: the file stays where it is, unreleased. */
export class ScannerError extends CodedError<ScannerErrorCode> {}

/**
 * INSTREAM chunk size: clamd buffers each chunk whole and refuses one larger than its
 * StreamMaxLength; 1 MiB keeps the syscalls few and far below any sane limit.
 */
const CHUNK_BYTES = 1024 * 1024;
/** clamd's answers are one short line; more than this is not clamd. */
const MAX_REPLY_BYTES = 4096;

export class ClamdScanner {
  private readonly target: ClamdTarget | undefined;
  private readonly timeoutMs: number;

  /** `target` undefined: no scanner configured, so every scan fails (closed). */
  constructor(target: ClamdTarget | undefined, timeoutMs: number) {
    this.target = target;
    this.timeoutMs = timeoutMs;
  }

  /** Scans a byte stream (an upload as it arrives, or a file as it is read); resolves with clamd's verdict. */
  async scan(source: AsyncIterable<Buffer | Uint8Array>): Promise<ScanVerdict> {
    const reply = await this.exchange(async (socket, progress) => {
      await write(socket, Buffer.from('zINSTREAM\0'));
      for await (const raw of sourceOf(source)) {
        const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
        for (let offset = 0; offset < buf.length; offset += CHUNK_BYTES) {
          const chunk = buf.subarray(offset, Math.min(buf.length, offset + CHUNK_BYTES));
          const length = Buffer.alloc(4);
          length.writeUInt32BE(chunk.length);
          await write(socket, length);
          await write(socket, chunk);
          progress();
        }
      }
      await write(socket, Buffer.alloc(4));
    });
    return parseReply(reply);
  }

  /** PING → PONG: whether clamd answers now (doctor and tests). */
  async ping(): Promise<boolean> {
    try {
      return (await this.exchange((socket) => write(socket, Buffer.from('zPING\0')))) === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * One command on a fresh connection: sends with `send`, resolves with clamd's reply (NUL
   * stripped). The timeout runs from the last progress (`progress()` after each chunk clamd
   * took): a scan fed while the file still uploads is not cut short by a slow upload, and a
   * clamd that stops reading or answering still fails in time.
   */
  private exchange(send: (socket: net.Socket, progress: () => void) => Promise<void>): Promise<string> {
    const target = this.target;
    if (target === undefined) return Promise.reject(new ScannerError('scanner_not_configured', 'No virus scanner is configured, so no file can be released.'));
    return new Promise((resolve, reject) => {
      const socket = 'socket' in target ? net.connect(target.socket) : net.connect(target.port, target.host);
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (err: ScannerError | undefined, reply?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err !== undefined) reject(err);
        else resolve(reply ?? '');
      };
      const timedOut = (): void => finish(new ScannerError('scanner_timeout', `The virus scanner did not answer within ${Math.round(this.timeoutMs / 1000)} s.`));
      let timer = setTimeout(timedOut, this.timeoutMs);
      timer.unref();
      const progress = (): void => {
        clearTimeout(timer);
        timer = setTimeout(timedOut, this.timeoutMs);
        timer.unref();
      };
      const replyText = (): string => Buffer.concat(chunks).toString('utf8').replace(/\0+$/, '').trim();
      socket.on('data', (data: Buffer) => {
        size += data.length;
        if (size > MAX_REPLY_BYTES) return finish(new ScannerError('scanner_error', 'The virus scanner sent an answer Airlock does not understand.'));
        chunks.push(data);
        // clamd ends each answer with NUL (the z-prefixed commands) and then closes.
        if (data.includes(0)) finish(undefined, replyText());
      });
      socket.on('end', () => (size > 0 ? finish(undefined, replyText()) : finish(new ScannerError('scanner_error', 'The virus scanner closed the connection without a verdict.'))));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // clamd may answer (size limit exceeded) and close while we still write: its answer counts.
        if (size > 0) return finish(undefined, replyText());
        finish(new ScannerError('scanner_unavailable', `The virus scanner is unavailable (${err.code ?? err.message}).`));
      });
      socket.once('connect', () => {
        send(socket, progress).catch((err: unknown) => {
          // A write failure shows as the socket's error or end (clamd may have answered first);
          // a source that failed ends the scan now, without a verdict.
          if (err instanceof SourceError) finish(new ScannerError('scanner_error', 'The file could not be read to the end for scanning.'));
        });
      });
    });
  }
}

/** The file being scanned could not be read (an upload that broke off): no verdict, at once. */
class SourceError extends Error {}

async function* sourceOf(source: AsyncIterable<Buffer | Uint8Array>): AsyncIterable<Buffer | Uint8Array> {
  try {
    yield* source;
  } catch (err) {
    throw new SourceError(err instanceof Error ? err.message : String(err));
  }
}

function write(socket: net.Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new Error('socket closed'));
    if (socket.write(data)) return resolve();
    const onDrain = (): void => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.off('drain', onDrain);
      reject(new Error('socket closed'));
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/** clamd's one-line answer to INSTREAM as a verdict; anything but OK or FOUND is an error. */
export function parseReply(reply: string): ScanVerdict {
  if (reply === 'stream: OK') return { result: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found !== null) return { result: 'infected', signature: (found[1] ?? '').slice(0, 200) };
  if (/size limit exceeded/i.test(reply)) throw new ScannerError('scanner_error', 'The file is larger than the virus scanner accepts (clamd StreamMaxLength), so it cannot be released.');
  throw new ScannerError('scanner_error', `The virus scanner could not scan the file (${reply.slice(0, 120)}).`);
}
