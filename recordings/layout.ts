// Where every recording file lives — the one owner of these names. While a session runs, its
// files sit in the spool, named by the session id; once finalised, in the store under
// <site>/<yyyy>/<mm>/<dd>/<session>/ with fixed names. The broker (what guacd and the input log
// write), the watchdog (what must grow), the finaliser (what to move) and the catalog ask here.
import path from 'node:path';

/** The files of a session, by kind, and their names inside a store folder. */
export const STORE_FILE_NAMES = {
  recording: 'recording.guac',
  typescript: 'typescript.txt',
  typescriptTiming: 'typescript.timing',
  events: 'events.jsonl',
  /** The file airlock's records of the session (sessions/files): names, hashes, scans, decisions. */
  transfers: 'transfers.json',
} as const;
export type FileKind = keyof typeof STORE_FILE_NAMES;
export const FILE_KINDS = Object.keys(STORE_FILE_NAMES) as [FileKind, ...FileKind[]];

/** The bytes of a file that went through the airlock, in a store folder: `transfer-<file id>`. */
export const TRANSFER_KIND = 'transfer';
export const transferStoreName = (fileId: string): string => `transfer-${fileId}`;
export const TRANSFER_STORE_NAME = /^transfer-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Beside the files in a store folder: the signed manifest. */
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';

/**
 * Spool names: `<session>` is the recording the portal writes from what it relays,
 * `<session>.typescript` and `.typescript.timing` guacd's text record of SSH/Telnet (only where
 * guacd shares the spool), `.events.jsonl` the portal's input log, `.session.json` the context
 * the finaliser needs if the instance dies (and, once the session ended, the finaliser's
 * intent), `.session.json.new` a context being rewritten (renamed over the context, so a crash
 * never leaves half of one), `.staged/` the folder a store that is not this disk (S3) gathers a
 * finalised session's files and signed manifest in until it holds them intact.
 */
const SPOOL_SUFFIX: Record<SpoolKind, string> = {
  recording: '',
  typescript: '.typescript',
  typescriptTiming: '.typescript.timing',
  events: '.events.jsonl',
  transfers: '.transfers.json',
  context: '.session.json',
  contextDraft: '.session.json.new',
  staged: '.staged',
};
export type SpoolKind = FileKind | 'context' | 'contextDraft' | 'staged';
const CONTEXT_NAME = /^([0-9a-f-]{36})\.session\.json$/;
const SESSION_PREFIX = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(.*)$/;

/** Text protocols also get guacd's typescript (what the terminal showed), where guacd shares the spool. */
export const hasTypescript = (protocol: string): boolean => protocol === 'ssh' || protocol === 'telnet';

/** One session's files in the spool. */
export class SpoolFiles {
  readonly spool: string;
  readonly sessionId: string;

  constructor(spool: string, sessionId: string) {
    this.spool = spool;
    this.sessionId = sessionId;
  }

  /** The spool path of one file of the session. */
  file(kind: SpoolKind): string {
    return path.join(this.spool, `${this.sessionId}${SPOOL_SUFFIX[kind]}`);
  }

  /** The folder of the bytes of files that went through the airlock (`<session>.transfers/`), and one of them. */
  transferDir(): string {
    return path.join(this.spool, `${this.sessionId}.transfers`);
  }

  transferFile(fileId: string): string {
    return path.join(this.transferDir(), fileId);
  }

  /** The files a session must leave behind (what the finaliser moves): the typescript only if guacd wrote one. */
  expected(protocol: string, typescript = hasTypescript(protocol)): FileKind[] {
    return ['recording', 'events', ...(typescript && hasTypescript(protocol) ? (['typescript', 'typescriptTiming'] as const) : [])];
  }

  /** The files that must exist while the session runs (the watchdog checks them). */
  liveFiles(typescript: boolean): string[] {
    return [this.file('recording'), ...(typescript ? [this.file('typescript')] : [])];
  }

  /** What guacd is told for its typescript (`typescript-path`/`-name`): a name it joins to the path. */
  typescriptTarget(): { path: string; typescriptName: string } {
    return { path: this.spool, typescriptName: path.basename(this.file('typescript')) };
  }
}

/** The session whose context file this spool entry is, if it is one. */
export function contextSessionId(fileName: string): string | undefined {
  return CONTEXT_NAME.exec(fileName)?.[1];
}

/** Which session's file, and which file, a spool entry is (undefined: not a session's). */
export function spoolEntry(fileName: string): { sessionId: string; kind: SpoolKind } | undefined {
  const m = SESSION_PREFIX.exec(fileName);
  if (m === null) return undefined;
  const kind = (Object.keys(SPOOL_SUFFIX) as SpoolKind[]).find((k) => SPOOL_SUFFIX[k] === m[2]);
  return kind === undefined ? undefined : { sessionId: m[1] as string, kind };
}

/** The store folder of a session, relative to the store's root. */
export function storeDir(siteId: string, startedAt: Date, sessionId: string): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return path.join(siteId, String(startedAt.getUTCFullYear()), two(startedAt.getUTCMonth() + 1), two(startedAt.getUTCDate()), sessionId);
}

/** Store folders sit this deep below the root (site/yyyy/mm/dd/session). */
export const STORE_DIR_DEPTH = 4;

/**
 * Derived data of a finalised recording (the renderer worker's keyframes, thumbnails and activity
 * strip), in a folder of its own in the recording's store folder. Not evidence and not in the
 * manifest (it is made after the manifest is signed and audited): its index is signed on its own
 * and names the SHA-256 of the recording it was rendered from, and it can be rebuilt from the
 * recording at any time (derived.ts). Verification of the evidence skips this folder.
 */
export const DERIVED_DIR = 'derived';
/** A derived folder being built (renamed to DERIVED_DIR when complete). */
export const DERIVED_WORK_PREFIX = '.derived-';
/** Whether a name in a store folder is derived data (skipped by the evidence's verification). */
export const isDerivedEntry = (name: string): boolean => name === DERIVED_DIR || name.startsWith(DERIVED_WORK_PREFIX) || name === EXPORTS_DIR;
/**
 * Video exports of the recording (export.ts), one file per job, named by the job id. Like derived
 * data, not evidence and not in the manifest: each export's SHA-256 is in the audit log
 * (`recording.exported`), which the evidence bundle carries beside it.
 */
export const EXPORTS_DIR = 'exports';
export const DERIVED_FILE_NAMES = {
  /** The keyframe index and the activity strip (JSON). */
  index: 'seek.json',
  /** Ed25519 signature of the index's exact bytes (base64), as manifest.sig is of the manifest. */
  signature: 'seek.sig',
  /** The keyframes' client states and thumbnails, back to back; the index says where each is. */
  data: 'seek.bin',
} as const;

/** What graphical sessions showed, read by OCR (ocr.ts), in the derived folder and signed on its own. */
export const OCR_FILE_NAMES = {
  text: 'ocr.json',
  signature: 'ocr.sig',
} as const;
