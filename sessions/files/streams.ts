// The file airlock inside one live session: the Guacamole streams the portal itself runs with
// guacd. Deliveries (released files into the machine) are `file` streams the portal opens on
// stream indices reserved for it, filled with `blob`s and closed with `end`, each acknowledged by
// guacd (SFTP for SSH, the redirected drive for RDP); those `ack`s are the portal's and never
// reach the browser. Downloads (guacd's `file`/`body` streams to the client) are taken off the
// relay: the portal acknowledges them, hashes and stores the bytes, and the browser sees nothing.
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { encodeInstruction, GuacParser, type GuacInstruction } from '../tunnel/protocol.ts';
import { CodedError } from '../../server/errors.ts';

/**
 * guacd accepts client stream indices 0–63 (GUAC_USER_MAX_STREAMS); the browser allocates from 0
 * upwards, so the portal takes the top of the range. The browser may not touch these (input policy).
 */
export const PORTAL_STREAMS = [63, 62, 61, 60] as const;
const PORTAL_STREAM_SET = new Set<string>(PORTAL_STREAMS.map(String));
export const isPortalStream = (index: string): boolean => PORTAL_STREAM_SET.has(index);

/**
 * Raw bytes per `blob`: base64 makes 8064 characters, which with the opcode and index stays
 * under guacd's 8192-character instruction limit (guacamole-common-js sends the same size).
 */
const BLOB_BYTES = 6048;
/**
 * Blobs in flight before the portal waits for guacd's acks. guacd handles a user's instructions
 * in order and acks each blob after writing it; a small window hides the round trip to the
 * target without letting a slow target buffer megabytes in guacd. Each blob goes out as its ack
 * slot frees: writing them in batches (several per socket write) measured 3–5× slower with
 * guacd 1.3 over SFTP (bench/files), and a window of 32 no faster than 16.
 */
const ACK_WINDOW = 16;
/** How much of a quarantined file to read at a time: whole blobs (no bytes carried over), 64 of them. */
export const DELIVERY_READ_BYTES = BLOB_BYTES * 64;
/**
 * guacd acks each blob as soon as the target took it; this long without an ack means guacd or
 * the target hung (guacd 1.3 can), and the delivery fails rather than waiting for ever.
 */
const ACK_TIMEOUT_MS = 15_000;
/** Guacamole status 0: success. */
const STATUS_OK = '0';
/** The mimetype of guacd's directory listings (`body` of a `get` on a folder): not a file. */
const STREAM_INDEX_MIMETYPE = 'application/vnd.glyptodon.guacamole.stream-index+json';

const ACK_PREFIX = '3.ack,';
const FILE_PREFIX = '4.file,';
const BODY_PREFIX = '4.body,';
const BLOB_PREFIX = '4.blob,';
const END_PREFIX = '3.end,';

/** A delivery guacd refused or that broke off: guacd's words, for the plant. */
export class DeliveryError extends CodedError {}

/** A file the machine sent (download), complete on disk. */
export interface ReceivedFile {
  name: string;
  mimetype: string;
  bytes: number;
  sha256: string;
  file: string;
}

export interface DownloadSink {
  /** Where the bytes of a new download go (a fresh path), and what to call when it is complete or broke off. */
  open(name: string, mimetype: string): { file: string; done(received: ReceivedFile | undefined, problem?: string): void };
}

/** What a stream handler needs of the connection: a way to guacd past the browser's input policy. */
export interface GuacdChannel {
  sendToGuacd(data: string): void;
}

interface Outgoing {
  /** Resolves on the next ack of the stream (status, message). */
  waiters: Array<(ack: { status: string; message: string }) => void>;
  /** Acks that came before anyone waited for them (blobs are sent ahead of their acks). */
  acks: Array<{ status: string; message: string }>;
  outstanding: number;
  failed: { status: string; message: string } | undefined;
}

interface Incoming {
  hash: ReturnType<typeof createHash>;
  out: WriteStream;
  bytes: number;
  name: string;
  mimetype: string;
  file: string;
  done: (received: ReceivedFile | undefined, problem?: string) => void;
}

/** Reads the stream index (second element) of an instruction without parsing its (large) blob. */
function streamIndexOf(data: string, prefixLength: number): string | undefined {
  const dot = data.indexOf('.', prefixLength);
  if (dot < 0) return undefined;
  const length = Number(data.slice(prefixLength, dot));
  if (!Number.isInteger(length) || length <= 0 || length > 4) return undefined;
  return data.slice(dot + 1, dot + 1 + length);
}

const parseOne = (data: string): GuacInstruction => new GuacParser().push(data)[0] ?? [];

/** `blob` of a portal stream: base64 and the stream's digits are ASCII, so lengths are string lengths. */
function blobInstruction(index: string, bytes: Buffer): string {
  const base64 = bytes.toString('base64');
  return `4.blob,${index.length}.${index},${base64.length}.${base64};`;
}

export class SessionFileStreams {
  private channel: GuacdChannel | undefined;
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly free: string[] = PORTAL_STREAMS.map(String);
  private readonly freeWaiters: Array<(index: string) => void> = [];
  private readonly incoming = new Map<string, Incoming>();
  private readonly downloads: DownloadSink | undefined;
  private closed = false;

  /** `downloads` undefined: the grant allows no files, and the portal takes no download either. */
  constructor(downloads: DownloadSink | undefined) {
    this.downloads = downloads;
  }

  attach(channel: GuacdChannel): void {
    this.channel = channel;
  }

  /** Whether the browser may use this stream index (the portal's own, or a download the portal holds). */
  browserMayUse(opcode: string, index: string): boolean {
    if (opcode === 'ack') return !this.incoming.has(index);
    return !isPortalStream(index);
  }

  /**
   * guacd → browser, one instruction: true when it belongs to the portal's streams (an ack of a
   * delivery, a download's start, blobs and end). Those are neither relayed nor recorded.
   */
  fromGuacd(data: string): boolean {
    if (data.startsWith(BLOB_PREFIX)) {
      const index = streamIndexOf(data, BLOB_PREFIX.length);
      return index !== undefined && this.incoming.has(index) ? (this.onDownloadBlob(index, data), true) : false;
    }
    if (data.startsWith(ACK_PREFIX)) {
      const index = streamIndexOf(data, ACK_PREFIX.length);
      if (index === undefined || !this.outgoing.has(index)) return false;
      const [, , message = '', status = ''] = parseOne(data);
      this.onAck(index, status, message);
      return true;
    }
    if (data.startsWith(END_PREFIX)) {
      const index = streamIndexOf(data, END_PREFIX.length);
      if (index === undefined || !this.incoming.has(index)) return false;
      this.onDownloadEnd(index);
      return true;
    }
    if (data.startsWith(FILE_PREFIX)) {
      const [, index = '', mimetype = '', name = ''] = parseOne(data);
      return this.onDownloadStart(index, mimetype, name);
    }
    if (data.startsWith(BODY_PREFIX)) {
      const [, , index = '', mimetype = '', name = ''] = parseOne(data);
      // A folder listing is how a file browser finds files, not a file: it goes to the browser.
      if (mimetype === STREAM_INDEX_MIMETYPE) return false;
      return this.onDownloadStart(index, mimetype, name);
    }
    return false;
  }

  /**
   * Sends one released file into the machine: `file` (guacd opens it: in the SFTP user's home
   * for SSH, the redirected drive's root for RDP), `blob`s within the ack window, `end`; resolves
   * once guacd acknowledged the end, rejects with guacd's words when it refused.
   */
  async deliver(name: string, mimetype: string, source: AsyncIterable<Buffer | Uint8Array>): Promise<void> {
    const index = await this.takeStream();
    const stream: Outgoing = { waiters: [], acks: [], outstanding: 0, failed: undefined };
    this.outgoing.set(index, stream);
    try {
      this.send(encodeInstruction('file', index, mimetype, name));
      const opened = await this.nextAck(stream);
      if (opened.status !== STATUS_OK) throw new DeliveryError('delivery_refused', `The machine refused the file: ${opened.message} (status ${opened.status}).`);
      let carry: Buffer = Buffer.alloc(0);
      for await (const raw of source) {
        // Buffer.from(aBuffer) would copy it: view the bytes instead.
        const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        let chunk: Buffer = carry.length === 0 ? bytes : Buffer.concat([carry, bytes]);
        while (chunk.length >= BLOB_BYTES) {
          await this.sendBlob(index, stream, chunk.subarray(0, BLOB_BYTES));
          chunk = chunk.subarray(BLOB_BYTES);
        }
        carry = chunk;
      }
      if (carry.length > 0) await this.sendBlob(index, stream, carry);
      while (stream.outstanding > 0) await this.settleOne(stream);
      this.send(encodeInstruction('end', index));
      const ended = await this.nextAck(stream);
      if (ended.status !== STATUS_OK) throw new DeliveryError('delivery_failed', `The machine did not keep the file: ${ended.message} (status ${ended.status}).`);
    } catch (err) {
      // Close guacd's side of a stream that broke off mid-way (its file handle, its upload).
      if (!this.closed && !(err instanceof DeliveryError && err.code === 'delivery_refused')) this.send(encodeInstruction('end', index));
      throw err;
    } finally {
      this.outgoing.delete(index);
      this.releaseStream(index);
    }
  }

  /** The session ended: deliveries in flight fail, downloads in flight are dropped. */
  close(): void {
    this.closed = true;
    for (const stream of this.outgoing.values()) {
      stream.failed ??= { status: 'closed', message: 'the session ended' };
      for (const w of stream.waiters.splice(0)) w(stream.failed);
    }
    for (const [index, d] of this.incoming) {
      this.incoming.delete(index);
      d.out.destroy();
      d.done(undefined, 'the session ended before the file was complete');
    }
  }

  private send(data: string): void {
    if (this.closed || this.channel === undefined) throw new DeliveryError('session_ended', 'The session ended before the file was delivered.');
    this.channel.sendToGuacd(data);
  }

  private async sendBlob(index: string, stream: Outgoing, bytes: Buffer): Promise<void> {
    while (stream.outstanding >= ACK_WINDOW) await this.settleOne(stream);
    this.send(blobInstruction(index, bytes));
    stream.outstanding++;
  }

  private async settleOne(stream: Outgoing): Promise<void> {
    const ack = await this.nextAck(stream);
    stream.outstanding--;
    if (ack.status !== STATUS_OK) throw new DeliveryError('delivery_failed', `The machine stopped taking the file: ${ack.message} (status ${ack.status}).`);
  }

  private nextAck(stream: Outgoing): Promise<{ status: string; message: string }> {
    const early = stream.acks.shift();
    if (early !== undefined) return Promise.resolve(early);
    if (stream.failed !== undefined) return Promise.reject(new DeliveryError('session_ended', 'The session ended before the file was delivered.'));
    return new Promise((resolve, reject) => {
      const waiter = (ack: { status: string; message: string }): void => {
        clearTimeout(timer);
        if (ack.status === 'closed') reject(new DeliveryError('session_ended', 'The session ended before the file was delivered.'));
        else resolve(ack);
      };
      const timer = setTimeout(() => {
        const at = stream.waiters.indexOf(waiter);
        if (at >= 0) stream.waiters.splice(at, 1);
        stream.failed ??= { status: 'timeout', message: 'no answer' };
        reject(new DeliveryError('delivery_timeout', `The machine did not answer for ${ACK_TIMEOUT_MS / 1000} s; the file was not delivered.`));
      }, ACK_TIMEOUT_MS);
      timer.unref();
      stream.waiters.push(waiter);
    });
  }

  private onAck(index: string, status: string, message: string): void {
    const stream = this.outgoing.get(index);
    if (stream === undefined) return;
    const waiter = stream.waiters.shift();
    if (waiter !== undefined) waiter({ status, message });
    else stream.acks.push({ status, message });
  }

  private takeStream(): Promise<string> {
    const index = this.free.shift();
    if (index !== undefined) return Promise.resolve(index);
    return new Promise((resolve) => this.freeWaiters.push(resolve));
  }

  private releaseStream(index: string): void {
    const next = this.freeWaiters.shift();
    if (next !== undefined) next(index);
    else this.free.push(index);
  }

  // ---- downloads (machine → vendor) ----

  private onDownloadStart(index: string, mimetype: string, name: string): boolean {
    // No airlock on this grant: guacd offers no files either (no SFTP, no drive); leave it be.
    if (this.downloads === undefined || this.closed) return false;
    const sink = this.downloads.open(name, mimetype);
    const out = createWriteStream(sink.file, { flags: 'wx', mode: 0o600 });
    const entry: Incoming = { hash: createHash('sha256'), out, bytes: 0, name, mimetype, file: sink.file, done: sink.done };
    out.on('error', () => {
      if (this.incoming.get(index) !== entry) return;
      this.incoming.delete(index);
      this.ackGuacd(index, 'write failed', '512');
      entry.done(undefined, 'the portal could not store the file');
    });
    this.incoming.set(index, entry);
    // guacd sends the first blob once the client acknowledges the stream.
    this.ackGuacd(index, 'OK', STATUS_OK);
    return true;
  }

  private onDownloadBlob(index: string, data: string): void {
    const entry = this.incoming.get(index);
    if (entry === undefined) return;
    const [, , base64 = ''] = parseOne(data);
    const bytes = Buffer.from(base64, 'base64');
    entry.hash.update(bytes);
    entry.bytes += bytes.length;
    // Ack once the bytes are on disk: a slow disk slows guacd, not the portal's memory.
    if (entry.out.write(bytes)) this.ackGuacd(index, 'OK', STATUS_OK);
    else entry.out.once('drain', () => this.ackGuacd(index, 'OK', STATUS_OK));
  }

  private onDownloadEnd(index: string): void {
    const entry = this.incoming.get(index);
    if (entry === undefined) return;
    this.incoming.delete(index);
    entry.out.end(() => entry.done({ name: entry.name, mimetype: entry.mimetype, bytes: entry.bytes, sha256: entry.hash.digest('hex'), file: entry.file }));
  }

  private ackGuacd(index: string, message: string, status: string): void {
    if (this.closed || this.channel === undefined) return;
    this.channel.sendToGuacd(encodeInstruction('ack', index, message, status));
  }
}
