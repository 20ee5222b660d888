// Airlock's admin command line:
//   npm run airlock -- audit verify [--redis URL]   check the hash chain stored in Redis
//   npm run airlock -- audit export [--redis URL]   write the log as NDJSON to stdout
//   npm run airlock -- audit verify-file FILE       check an exported NDJSON file offline
//   npm run airlock -- recordings verify --store DIR --public-key FILE [--redis URL]
//                                                   every recording against its manifest,
//                                                   signature and place; with --redis also
//                                                   against the index and the audit log's
//                                                   recording.finalised events (so a deleted
//                                                   folder is reported), and the audit chain;
//                                                   --store s3://BUCKET[/PREFIX] reads an S3
//                                                   store (endpoint, region, credentials from
//                                                   AIRLOCK_S3_* as the portal does)
//   npm run airlock -- bundle verify FILE [--public-key FILE]   an evidence bundle, offline
//   npm run airlock -- vault rotate --keys-file FILE [--redis URL]  re-seal every credential
//                                                   under the keyring's first (newest) key
//   npm run airlock -- worker [--session ID]         the renderer worker: keyframes, thumbnails and
//                                                   the activity strip of each finalised recording
//                                                   (the portal's configuration from the environment;
//                                                   --session renders one recording now and exits)
//   npm run airlock -- doctor [--sentinels H:P,H:P --master NAME]   check the production
//                                                   configuration in the environment end to end
// Exit codes: 0 intact (or exported), 2 the chain is broken, 1 usage or connection error.
// Read-only by design: unlike the HTTP API it records nothing, so it can check a replica.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describeRecording, recordedInAudit, verifyBundle, verifyStore, type RecordedSessions } from '../recordings/verify.ts';
import type { RecordingStore } from '../recordings/store.ts';
import { S3Store } from '../recordings/s3-store.ts';
import { s3StoreConfig } from '../server/config.ts';
import { tmpdir } from 'node:os';
import { allSummaries, type RecordingSummary } from '../recordings/catalog.ts';
import { Vault } from '../server/vault/vault.ts';
import { parseKeyring } from '../server/keyring.ts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { setPriority } from 'node:os';
import { createClient } from 'redis';
import type { RedisClient } from '../server/redis.ts';
import { formatReport, runDoctor } from '../server/app/doctor.ts';
import { AuditLog, parseExportLine, verifyChain, type BreakReason, type ChainEntry, type VerifyResult } from '../server/audit/store.ts';

const USAGE = `usage:
  airlock audit verify [--redis URL]
  airlock audit export [--redis URL]
  airlock audit verify-file FILE
  airlock recordings verify --store DIR|s3://BUCKET[/PREFIX] --public-key FILE [--redis URL]
  airlock bundle verify FILE [--public-key FILE]
  airlock vault rotate --keys-file FILE [--redis URL]
  airlock doctor [--sentinels HOST:PORT,HOST:PORT… --master NAME]
  airlock worker [--session ID]
doctor and worker read the portal's configuration from the environment (as the portal does) and exits 2
when a check fails. The Redis URL defaults to $AIRLOCK_REDIS_URL.`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_BROKEN = 2;

/** An operator is waiting: fail fast instead of retrying like the portal does. */
const CONNECT_TIMEOUT_MS = 5_000;

const REASONS: Record<BreakReason, string> = {
  malformed: 'the entry is missing fields or its event is not a JSON object',
  hash_mismatch: "the entry's content does not match its hash (edited)",
  seq_gap: 'the sequence number skips or repeats (an entry before it was removed or inserted)',
  prev_mismatch: "the entry does not link to the previous entry's hash (removed, inserted or rewritten)",
  head_mismatch: 'the log ends before the newest hash on record (entries at the end were removed)',
  seq_counter_mismatch: 'the sequence counter does not match the last entry (entries at the end were removed)',
};

class UsageError extends Error {
  override name = 'UsageError';
}

function report(what: string, result: VerifyResult): number {
  const broken = result.firstBroken;
  if (broken === null) {
    process.stdout.write(`${what}: OK, ${result.checked} events checked, the chain is intact.\n`);
    return EXIT_OK;
  }
  const at = broken.id === null ? `after the last entry (index ${broken.index})` : `at index ${broken.index} (stream id ${broken.id})`;
  process.stdout.write(
    `${what}: BROKEN ${at}: ${broken.reason}\n` +
      `  ${REASONS[broken.reason]}\n` +
      `  ${result.checked} events before it are intact.\n`,
  );
  return EXIT_BROKEN;
}

async function connect(url: string): Promise<RedisClient> {
  const client = createClient({ url, socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false } });
  // connect() rejects with the same error; without a listener the event would crash the process.
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function withAuditLog<T>(redisUrl: string | undefined, use: (audit: AuditLog, client: RedisClient) => Promise<T>): Promise<T> {
  // A command-line tool may read its one setting from the environment (the portal reads env
  // only in server/config.ts); --redis wins.
  const url = redisUrl ?? process.env['AIRLOCK_REDIS_URL'];
  if (url === undefined || url === '') throw new UsageError('no Redis: pass --redis URL or set AIRLOCK_REDIS_URL');
  const client = await connect(url);
  try {
    return await use(new AuditLog(client), client);
  } finally {
    client.destroy();
  }
}

async function* fileEntries(file: string): AsyncGenerator<ChainEntry> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) yield parseExportLine(line);
}

async function* ndjson(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line}\n`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { session: { type: 'string' }, redis: { type: 'string' }, store: { type: 'string' }, 'public-key': { type: 'string' }, 'keys-file': { type: 'string' }, sentinels: { type: 'string' }, master: { type: 'string' } },
  });
  const [area, command, ...rest] = positionals;
  if (area === 'doctor') return doctor(command, values);
  if (area === 'worker') {
    if (command !== undefined) throw new UsageError('worker takes no arguments but --session ID');
    return worker(values.session);
  }
  if (area === 'vault') {
    const keysFile = values['keys-file'];
    if (command !== 'rotate' || rest.length > 0 || keysFile === undefined) throw new UsageError('vault rotate needs --keys-file FILE');
    const keyring = parseKeyring(await readFile(keysFile, 'utf8'));
    const url = values.redis ?? process.env['AIRLOCK_REDIS_URL'];
    if (url === undefined || url === '') throw new UsageError('no Redis: pass --redis URL or set AIRLOCK_REDIS_URL');
    const client = await connect(url);
    try {
      const changed = await new Vault(client, keyring).rotate();
      process.stdout.write(`vault: ${changed} credential(s) re-sealed under key "${keyring[0]?.id ?? ''}"\n`);
      return EXIT_OK;
    } finally {
      client.destroy();
    }
  }
  if (area === 'recordings' || area === 'bundle') return recordingsCommand(area, command, rest, values);
  if (area !== 'audit') throw new UsageError(area === undefined ? 'no command' : `unknown command ${area}`);
  switch (command) {
    case 'verify':
      if (rest.length > 0) throw new UsageError('audit verify takes no arguments');
      return withAuditLog(values.redis, async (audit) => report('audit log', await audit.verify()));
    case 'export':
      if (rest.length > 0) throw new UsageError('audit export takes no arguments');
      return withAuditLog(values.redis, async (audit) => {
        try {
          await pipeline(Readable.from(ndjson(audit.exportLines())), process.stdout, { end: false });
        } catch (err) {
          // The reader closed the pipe (`| head`): it has what it wanted, like any Unix filter.
          if (!(err instanceof Error && 'code' in err && err.code === 'EPIPE')) throw err;
        }
        return EXIT_OK;
      });
    case 'verify-file': {
      const [file, ...extra] = rest;
      if (file === undefined || extra.length > 0 || values.redis !== undefined) throw new UsageError('audit verify-file takes one FILE');
      return report(file, await verifyChain(fileEntries(file)));
    }
    default:
      throw new UsageError(command === undefined ? 'audit needs a command' : `unknown audit command ${command}`);
  }
}

/**
 * The renderer worker as a process of its own: at a low CPU priority (Chromium, started by it,
 * inherits it), so rendering never slows live sessions; until SIGTERM or SIGINT.
 */
async function worker(sessionId: string | undefined): Promise<number> {
  const { loadConfig } = await import('../server/config.ts');
  const { connectRedis } = await import('../server/redis.ts');
  const { createLogger } = await import('../server/log.ts');
  const { ManifestSigner } = await import('../recordings/signing.ts');
  const { RecordingCatalog } = await import('../recordings/catalog.ts');
  const { RenderWorker } = await import('../recordings/worker.ts');
  const config = loadConfig(process.env);
  if (config.recording.signingKeyPem === undefined) throw new UsageError('the worker signs keyframes with the portal’s key: set AIRLOCK_SIGNING_KEY_FILE');
  setPriority(WORKER_NICENESS);
  const log = createLogger(config.logLevel);
  const redis = await connectRedis(config.redis, log, 'airlock-worker', config.redisCommandTimeoutMs, config.redisDurability);
  const signer = new ManifestSigner(config.recording.signingKeyPem);
  const render = new RenderWorker({
    redis,
    store: config.recording.store,
    catalog: new RecordingCatalog(redis, signer.searchIndexKey()),
    audit: new AuditLog(redis),
    signer,
    log,
    chromiumPath: config.recording.chromiumPath,
    keyframeEveryBytes: config.recording.keyframeEveryBytes,
  });
  try {
    if (sessionId !== undefined) {
      const index = await render.render(sessionId);
      process.stdout.write(index === undefined ? `${sessionId}: nothing to render\n` : `${sessionId}: ${index.keyframes.length} keyframes, ${index.dataBytes} bytes of derived data\n`);
      return index === undefined ? EXIT_FAILED : EXIT_OK;
    }
    render.start();
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    return EXIT_OK;
  } finally {
    await render.stop();
    redis.destroy();
  }
}

/** nice 10: below the portal and guacd, above idle batch work. */
const WORKER_NICENESS = 10;

async function doctor(extra: string | undefined, values: { sentinels?: string; master?: string }): Promise<number> {
  if (extra !== undefined) throw new UsageError('doctor takes no arguments');
  const sentinels = values.sentinels?.split(',').map((hp) => {
    const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(hp.trim());
    if (m === null) throw new UsageError(`--sentinels: expected HOST:PORT, got "${hp}"`);
    return { host: m[1] ?? '', port: Number(m[2]) };
  });
  if ((sentinels === undefined) !== (values.master === undefined)) throw new UsageError('--sentinels and --master go together');
  // The portal's own configuration: the environment, read by server/config.ts as at start-up.
  const checks = await runDoctor(process.env, { ...(sentinels === undefined ? {} : { sentinels }), ...(values.master === undefined ? {} : { masterName: values.master }) });
  process.stdout.write(formatReport(checks));
  return checks.some((c) => c.verdict === 'fail') ? EXIT_BROKEN : EXIT_OK;
}

async function recordingsCommand(area: 'recordings' | 'bundle', command: string | undefined, rest: string[], values: { redis?: string; store?: string; 'public-key'?: string }): Promise<number> {
  if (command !== 'verify') throw new UsageError(`${area} needs the command verify`);
  const keyFile = values['public-key'];
  const publicKey = keyFile === undefined ? undefined : await readFile(keyFile, 'utf8');
  if (area === 'bundle') {
    const [file, ...extra] = rest;
    if (file === undefined || extra.length > 0) throw new UsageError('bundle verify takes one FILE');
    const result = await verifyBundle(file, publicKey);
    for (const r of result.recordings) process.stdout.write(`${describeRecording(r)}\n`);
    const badLines = result.audit.filter((a) => !a.ok);
    process.stdout.write(`audit events: ${result.audit.length - badLines.length} of ${result.audit.length} intact${badLines.length > 0 ? ` (broken: lines ${badLines.map((b) => b.line).join(', ')})` : ''}\n`);
    if (publicKey === undefined) process.stdout.write('note: checked against the key inside the bundle; pass --public-key with the key your Airlock publishes to rule out a re-signed bundle\n');
    if (result.keyMismatch) process.stdout.write('the bundle was signed with a different key than the one given\n');
    process.stdout.write(result.ok ? `${file}: OK\n` : `${file}: FAILED\n`);
    return result.ok ? EXIT_OK : EXIT_BROKEN;
  }
  if (values.store === undefined || publicKey === undefined || rest.length > 0) throw new UsageError('recordings verify needs --store DIR (or s3://BUCKET/PREFIX) and --public-key FILE');
  const store = storeOf(values.store);
  if (values.redis === undefined) {
    const results = await verifyStore(store, publicKey);
    process.stdout.write('note: without --redis the store is not checked against the index and the audit log, so a deleted recording cannot show\n');
    return reportRecordings(results);
  }
  return withAuditLog(values.redis, async (audit, client) => {
    const summaries = new Map<string, RecordingSummary>();
    for await (const s of allSummaries(client)) summaries.set(s.sessionId, s);
    const recorded: RecordedSessions = { summaries, ...(await recordedInAudit(audit.exportLines())) };
    const status = reportRecordings(await verifyStore(store, publicKey, recorded));
    return Math.max(status, report('audit log', await audit.verify()));
  });
}

/** A directory, or s3://BUCKET[/PREFIX] with the rest of the S3 settings from the environment. */
function storeOf(where: string): string | RecordingStore {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(where);
  if (s3 === null) return where;
  const config = s3StoreConfig({ ...process.env, AIRLOCK_S3_BUCKET: s3[1], AIRLOCK_S3_PREFIX: s3[2] ?? '' });
  // Reading only: nothing is staged, so the spool is never used.
  return new S3Store(config, tmpdir());
}

function reportRecordings(results: Awaited<ReturnType<typeof verifyStore>>): number {
  for (const r of results) process.stdout.write(`${describeRecording(r)}\n`);
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`recordings: ${results.length - failed} of ${results.length} verified${failed > 0 ? `, ${failed} FAILED` : ''}\n`);
  return failed > 0 ? EXIT_BROKEN : EXIT_OK;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const usage = err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'));
  process.stderr.write(`airlock: ${err instanceof Error ? err.message : String(err)}\n${usage ? `${USAGE}\n` : ''}`);
  process.exitCode = EXIT_FAILED;
}
