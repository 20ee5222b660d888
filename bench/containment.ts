// bench/containment: what one hostile client costs everybody else. (1) 10 s of anonymous
// WebSocket upgrades (a foreign Origin, no cookie) from 8 loops: how many audit events and how
// many bytes of Redis they write, and /healthz latency meanwhile against idle (the baseline,
// same run). (2) A 2 M-character Guacamole element in 1 kB frames through the parser: the
// rescanning parser main had before this change against today's (each character examined once).
import path from 'node:path';
import WebSocket from 'ws';
import { createClient } from 'redis';
import { keys } from '../server/keys.ts';
import { GuacParser, encodeInstruction } from '../sessions/tunnel/protocol.ts';
import { closedLoop, portalReady, printGrid, printTable, round, startBenchPortal, startBenchServices } from './lib.ts';

const FLOOD_MS = 10_000;
const FLOOD_LOOPS = 8;
const ELEMENT = 2_000_000;
const CHUNK = 1024;

const { stateDir, redisUrl, guacd, stop } = await startBenchServices('containment');
const portal = await startBenchPortal({ redisUrl, guacd, env: { AIRLOCK_RECORDING_SPOOL: path.join(stateDir, 'spool'), AIRLOCK_RECORDING_MIN_FREE_MB: '1' } });
const redis = createClient({ url: redisUrl });
await redis.connect();

try {
  await portalReady(portal.base);
  const healthz = (name: string, durationMs: number) =>
    closedLoop(name, 1, { durationMs }, async () => (await fetch(`${portal.base}/healthz`)).status === 200);

  const idle = await healthz('GET /healthz, idle (baseline)', 3_000);

  const eventsBefore = await redis.xLen(keys.audit.stream);
  const memoryBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
  const wsUrl = `${portal.base.replace(/^http/, 'ws')}/tunnel?ticket=${'x'.repeat(43)}`;
  const upgrade = (): Promise<boolean> =>
    new Promise((resolve) => {
      const ws = new WebSocket(wsUrl, 'guacamole', { headers: { origin: 'https://evil.example' } });
      ws.once('open', () => {
        ws.terminate();
        resolve(false);
      });
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode === 403 || res.statusCode === 429);
      });
      ws.once('error', () => resolve(false));
    });
  const [flood, during] = await Promise.all([
    closedLoop('anonymous upgrades (refused)', FLOOD_LOOPS, { durationMs: FLOOD_MS }, upgrade),
    healthz('GET /healthz, during the flood', FLOOD_MS),
  ]);
  // Aggregated refusals are written when their window closes (60 s by default) or at shutdown:
  // stop the portal so that everything it will ever write for the flood is counted.
  portal.child.kill('SIGTERM');
  await new Promise((resolve) => portal.child.once('exit', resolve));
  const eventsWritten = (await redis.xLen(keys.audit.stream)) - eventsBefore;
  const memoryAdded = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) - memoryBefore;

  printTable([idle, during], idle);
  printTable([flood]);

  // Parser: the element arrives in 1 kB frames, as a hostile browser would send it.
  const input = encodeInstruction('clipboard', 'a'.repeat(ELEMENT));
  const chunks: string[] = [];
  for (let i = 0; i < input.length; i += CHUNK) chunks.push(input.slice(i, i + CHUNK));
  const time = (parse: (chunk: string) => void): number => {
    const t0 = performance.now();
    for (const c of chunks) parse(c);
    return performance.now() - t0;
  };
  const parser = new GuacParser({ maxInstructionLength: 4 * ELEMENT, maxElements: 128 });
  const linearMs = time((c) => parser.push(c));
  const rescanMs = time(rescanningParser());
  printGrid(
    ['parser, 2 M chars in 1 kB frames', 'ms', 'ratio'],
    [
      ['rescanning (main before this change)', String(round(rescanMs)), '1.00'],
      ['linear (now)', String(round(linearMs, 2)), String(round(linearMs / rescanMs, 4))],
    ],
  );
  process.stdout.write(
    `${JSON.stringify({
      anonymous_upgrades: flood.requests,
      audit_events_written: eventsWritten,
      redis_bytes_added: memoryAdded,
      healthz_p99_ms_idle: round(idle.p99, 2),
      healthz_p99_ms_flood: round(during.p99, 2),
      parser_2m_ms_rescanning: round(rescanMs),
      parser_2m_ms_linear: round(linearMs, 2),
    })}\n`,
  );
} finally {
  portal.child.kill('SIGKILL');
  redis.destroy();
  await stop();
}

/** The baseline: main's parser before this change, which rescanned its whole buffer on every chunk. */
function rescanningParser(): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    let pos = 0;
    for (;;) {
      const dot = buffer.indexOf('.', pos);
      if (dot < 0) break;
      const length = Number(buffer.slice(pos, dot));
      let end = dot + 1;
      let codePoints = 0;
      while (codePoints < length && end < buffer.length) {
        end += (buffer.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
        codePoints++;
      }
      if (codePoints < length || end >= buffer.length) break;
      pos = end + 1;
    }
    buffer = buffer.slice(pos);
  };
}
