// Sending syslog messages to the SIEM's receiver: one datagram per message over UDP (RFC 5426),
// octet-counted frames over TCP (RFC 6587) or TLS (RFC 5425). A send either hands the message to
// the network or fails; retrying is the forwarder's job.
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import type { SiemConfig } from '../config.ts';
import { octetCountedFrame, truncateUtf8 } from './format.ts';

/**
 * Largest UDP message. RFC 5426 only promises 480 (IPv4) / 1180 (IPv6) bytes and recommends
 * receivers take 2048; rsyslog's and syslog-ng's default maximum is 8 KiB, which holds a whole
 * audit event (≤ 8 KiB of JSON) in all but escape-heavy cases. Longer messages lose the tail of
 * their CEF extensions; use tcp:// or tls:// to never truncate.
 */
export const UDP_MAX_MESSAGE_BYTES = 8 * 1024;

/** A receiver that does not accept the connection by then counts as down. */
const CONNECT_TIMEOUT_MS = 5_000;

/** A receiver that stops reading (full socket buffers) for this long counts as down. */
const WRITE_TIMEOUT_MS = 10_000;

/** Detects a receiver that vanished without closing the connection (power cut, network). */
const KEEPALIVE_DELAY_MS = 10_000;

/**
 * TCP has no application acknowledgements: frames written shortly before a connection broke may
 * sit unread in a dead socket. Frames written within this window are sent again, first, on the
 * next connection (at-least-once; the receiver may see a duplicate, same seq and externalId).
 * Ten seconds is far beyond a LAN or WAN round trip plus a busy receiver's read delay.
 */
const REPLAY_WINDOW_MS = 10_000;
/** Bounds the replay buffer's memory under a high event rate (≈ 1000 × ≤ 16 KiB). */
const REPLAY_MAX_FRAMES = 1_000;

export interface SyslogTransport {
  /** Where messages go (scheme://host:port), for logs. */
  readonly destination: string;
  /** Resolves once the message is handed to the network; rejects when the receiver is unreachable. */
  send(message: string): Promise<void>;
  close(): Promise<void>;
}

export function createTransport(config: SiemConfig): SyslogTransport {
  return config.protocol === 'udp' ? new UdpTransport(config.host, config.port) : new StreamTransport(config);
}

function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

class UdpTransport implements SyslogTransport {
  readonly destination: string;
  readonly #host: string;
  readonly #port: number;
  #socket: dgram.Socket | undefined;

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
    this.destination = `udp://${hostForUrl(host)}:${port}`;
  }

  send(message: string): Promise<void> {
    const datagram = truncateUtf8(message, UDP_MAX_MESSAGE_BYTES);
    if (this.#socket === undefined) {
      const socket = dgram.createSocket(net.isIPv6(this.#host) ? 'udp6' : 'udp4');
      // A socket-level failure: drop this socket, the next send opens a new one.
      socket.on('error', () => {
        if (this.#socket === socket) this.#socket = undefined;
        socket.close();
      });
      socket.unref();
      this.#socket = socket;
    }
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      socket.send(datagram, this.#port, this.#host, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

interface WrittenFrame {
  frame: Buffer;
  at: number;
}

class StreamTransport implements SyslogTransport {
  readonly destination: string;
  readonly #config: SiemConfig;
  #socket: net.Socket | undefined;
  /** Frames written on the current connection within REPLAY_WINDOW_MS, oldest first. */
  #recent: WrittenFrame[] = [];
  /** Frames to write again first on the next connection. */
  #replay: Buffer[] = [];
  /** The socket being connected, so close() can abandon the attempt. */
  #connecting: net.Socket | undefined;
  #closed = false;

  constructor(config: SiemConfig) {
    this.#config = config;
    this.destination = `${config.protocol}://${hostForUrl(config.host)}:${config.port}`;
  }

  async send(message: string): Promise<void> {
    if (this.#closed) throw new Error('transport closed');
    const frame = octetCountedFrame(Buffer.from(message, 'utf8'));
    const socket = this.#socket ?? (await this.#connect());
    await write(socket, frame);
    this.#remember(frame);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#connecting?.destroy();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      // A receiver that does not finish the close promptly is cut off.
      setTimeout(() => socket.destroy(), CONNECT_TIMEOUT_MS).unref();
    });
  }

  #remember(frame: Buffer): void {
    const now = Date.now();
    this.#recent.push({ frame, at: now });
    while (this.#recent.length > REPLAY_MAX_FRAMES || (this.#recent[0] !== undefined && now - this.#recent[0].at > REPLAY_WINDOW_MS)) this.#recent.shift();
  }

  async #connect(): Promise<net.Socket> {
    const { protocol, host, port, caPem } = this.#config;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        protocol === 'tls'
          ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ca: caPem })
          : net.connect({ host, port });
      this.#connecting = s;
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      s.once('close', () => {
        clearTimeout(timer);
        reject(new Error('connection closed before it was established'));
      });
      s.once(protocol === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
    }).finally(() => {
      this.#connecting = undefined;
    });
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    socket.setNoDelay(true);
    socket.resume(); // receivers send nothing we use; never let their bytes pile up
    socket.on('error', () => {
      // Reported through the failing write; 'close' follows and schedules the replay.
    });
    socket.once('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const cutoff = Date.now() - REPLAY_WINDOW_MS;
      const unsure = this.#recent.filter((f) => f.at >= cutoff).map((f) => f.frame);
      this.#replay = [...unsure, ...this.#replay].slice(-REPLAY_MAX_FRAMES);
      this.#recent = [];
    });
    if (this.#closed) {
      socket.destroy();
      throw new Error('transport closed');
    }
    this.#socket = socket;
    // Replay first, so the receiver sees the stream in order; a frame leaves the queue once written.
    for (let frame = this.#replay[0]; frame !== undefined; frame = this.#replay[0]) {
      await write(socket, frame);
      this.#replay.shift();
      this.#remember(frame);
    }
    return socket;
  }
}

function write(socket: net.Socket, frame: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => socket.destroy(new Error(`receiver did not take data within ${WRITE_TIMEOUT_MS} ms`)), WRITE_TIMEOUT_MS);
    socket.write(frame, (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
  });
}
