// Is each configured guacd able to serve? Not "does its port accept" (a hung guacd's kernel
// still accepts), but "does it answer a Guacamole handshake in time": `select` → `args`. Checked
// in the background, so /readyz, tickets and metrics read a cached answer; the first element of
// `args` is guacd's protocol version (VERSION_1_3_0, VERSION_1_5_0, …).
import net from 'node:net';
import { encodeInstruction, GuacParser } from './protocol.ts';

/** How often each guacd is asked (each answer costs guacd a short-lived child process). */
const PROBE_INTERVAL_MS = 5_000;
/** A handshake not answered by then counts as a hung guacd. */
const PROBE_TIMEOUT_MS = 2_000;
const PROBE_PROTOCOL = 'ssh';

export type GuacdProblem = 'unreachable' | 'unresponsive';

export interface GuacdStatus {
  ok: boolean;
  problem: GuacdProblem | null;
  /** The protocol version guacd offered in `args`, when it answered. */
  version: string | null;
  checkedAt: string;
}

/** One handshake: resolves with guacd's version, or the problem. */
export function probeGuacd(target: { host: string; port: number }, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ version: string } | { problem: GuacdProblem }> {
  return new Promise((resolve) => {
    const socket = net.connect(target);
    const parser = new GuacParser();
    let settled = false;
    const done = (answer: { version: string } | { problem: GuacdProblem }): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done({ problem: 'unresponsive' }));
    socket.once('connect', () => socket.write(encodeInstruction('select', PROBE_PROTOCOL)));
    socket.on('data', (chunk: Buffer) => {
      try {
        const args = parser.push(chunk.toString('utf8')).find((i) => i[0] === 'args');
        if (args !== undefined) done({ version: args[1]?.startsWith('VERSION_') === true ? args[1] : 'VERSION_1_0_0' });
      } catch {
        done({ problem: 'unresponsive' });
      }
    });
    socket.once('error', () => done({ problem: 'unreachable' }));
    socket.once('close', () => done({ problem: 'unreachable' }));
  });
}

export class GuacdHealth {
  private readonly guacds: Readonly<Record<string, { host: string; port: number }>>;
  private readonly statuses = new Map<string, GuacdStatus>();
  private timer: NodeJS.Timeout | undefined;

  constructor(guacds: Readonly<Record<string, { host: string; port: number }>>) {
    this.guacds = guacds;
  }

  /** Asks every guacd once (so answers exist from the first request on), then every interval. */
  async start(): Promise<void> {
    await this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last answer for one guacd (undefined: not configured). */
  status(id: string): GuacdStatus | undefined {
    return this.statuses.get(id);
  }

  /**
   * Whether set-ups on this guacd must be paced: guacd older than 1.5 hangs some children under
   * bursts (LAB.md). A guacd whose version is not known yet is paced, to be safe.
   */
  needsPacing(id: string): boolean {
    const version = /^VERSION_(\d+)_(\d+)_/.exec(this.statuses.get(id)?.version ?? '');
    if (version === null) return true;
    const [major, minor] = [Number(version[1]), Number(version[2])];
    return major < 1 || (major === 1 && minor < 5);
  }

  all(): Record<string, GuacdStatus> {
    return Object.fromEntries(this.statuses);
  }

  private async probeAll(): Promise<void> {
    await Promise.all(
      Object.entries(this.guacds).map(async ([id, target]) => {
        const answer = await probeGuacd(target);
        this.statuses.set(id, {
          ok: 'version' in answer,
          problem: 'problem' in answer ? answer.problem : null,
          version: 'version' in answer ? answer.version : null,
          checkedAt: new Date().toISOString(),
        });
      }),
    );
  }
}
