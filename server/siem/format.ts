// One audit stream entry as a syslog message for a SIEM: an RFC 5424 header and structured data
// carrying the chain link (seq, hash), and a CEF line as MSG. Pure: no I/O, no clock, no env.
import { storedEventSchema, type StoredEvent } from '../audit/schema.ts';

/**
 * Our SD-ID's enterprise number. 32473 is the number RFC 5424 uses in its examples (IANA
 * reserves it for documentation, RFC 5612); replace it if Airlock gets a number of its own.
 */
export const SD_ID = 'airlock@32473';


/**
 * CEF severity (0–10) per event. Refusals are what an analyst looks at first (someone tried
 * something the portal would not allow); a revoked grant or a terminated session means a person
 * intervened in live access. Everything else is routine. An entry we cannot read back is a
 * possible tampering sign.
 */
export const SEVERITY = { routine: 3, refused: 5, intervention: 6, unreadable: 8 } as const;

/** Actions that mean someone cut live or granted access short. */
const INTERVENTIONS: ReadonlySet<string> = new Set(['session.terminated', 'grant.revoked']);

/** RFC 5424 §6.2.5 MSGID is at most 32 printable characters. */
const MSGID_MAX = 32;
/** RFC 5424 §6.2.4 HOSTNAME, §6.2.5 APP-NAME and §6.2.6 PROCID lengths. */
const HOSTNAME_MAX = 255;
const APP_NAME_MAX = 48;
const PROCID_MAX = 128;

const NILVALUE = '-';

/** One stream entry as read by XREAD: the fields AuditLog writes (store.ts). */
export interface AuditStreamEntry {
  id: string;
  message: Record<string, string>;
}

export interface SyslogHeaderOptions {
  /** 0–23; see FACILITIES. */
  facility: number;
  hostname: string;
  appName: string;
  /** This portal instance: which one forwarded a message. */
  procId: string;
  /** The product version in the CEF header. */
  version: string;
}

/** The CEF severity of an event; see SEVERITY. */
export function cefSeverity(event: Pick<StoredEvent, 'action' | 'outcome'>): number {
  const base = INTERVENTIONS.has(event.action) ? SEVERITY.intervention : SEVERITY.routine;
  return event.outcome === 'refused' ? Math.max(base, SEVERITY.refused) : base;
}

/**
 * Syslog severity (RFC 5424 §6.2.1) for a CEF severity, so a receiver filtering on PRI alone
 * sees the same ranking: routine → informational, refused → notice, intervention → warning,
 * 7–8 → error, 9–10 → critical.
 */
export function syslogSeverity(cef: number): number {
  if (cef <= 3) return 6;
  if (cef <= 5) return 5;
  if (cef <= 6) return 4;
  if (cef <= 8) return 3;
  return 2;
}

/** RFC 5424 §6.3.3: `"`, `\` and `]` are escaped with a backslash inside PARAM-VALUE. */
export function escapeSdValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** CEF header fields: `\` and `|` escaped; a header is one line, so line breaks become spaces. */
export function escapeCefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** CEF extension values: `\` and `=` escaped, line breaks written as `\n` and `\r`. */
export function escapeCefExtension(value: string): string {
  return value.replace(/[\\=\r\n]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}

/** Printable US-ASCII (33–126) only, at most `max` characters; NILVALUE when nothing is left. */
function headerToken(value: string, max: number): string {
  const printable = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return printable === '' ? NILVALUE : printable;
}

/** "request.approve_added" → "Request approve added". */
function humanName(action: string): string {
  const words = action.replace(/[._]/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** RFC 5424 TIMESTAMP: the event's own time, else the stream id's (Redis clock), else NILVALUE. */
function timestamp(at: string | undefined, streamId: string): string {
  if (at !== undefined && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/.test(at)) return at;
  const ms = Number(streamId.split('-')[0]);
  return Number.isSafeInteger(ms) && ms > 0 ? new Date(ms).toISOString() : NILVALUE;
}

/** A labelled custom field (csN/csNLabel), left out with its label when there is no value. */
function labelled(n: number, label: string, value: string | null | undefined): (readonly [string, string | null | undefined])[] {
  return value === null || value === undefined || value === '' ? [] : [[`cs${n}Label`, label], [`cs${n}`, value]];
}

function extension(pairs: readonly (readonly [string, string | null | undefined])[]): string {
  return pairs
    .filter((p): p is readonly [string, string] => p[1] !== null && p[1] !== undefined && p[1] !== '')
    .map(([k, v]) => `${k}=${escapeCefExtension(v)}`)
    .join(' ');
}

/** The parsed event, or null when the entry's event is not a valid audit event (damaged log). */
function readEvent(entry: AuditStreamEntry): StoredEvent | null {
  try {
    const parsed = storedEventSchema.safeParse(JSON.parse(entry.message['event'] ?? ''));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The CEF line for an entry (RFC 5424 MSG). */
export function cefMessage(entry: AuditStreamEntry, version: string): { cef: string; severity: number; msgId: string; at: string | undefined } {
  const seq = entry.message['seq'] ?? '';
  const hash = entry.message['hash'] ?? '';
  const event = readEvent(entry);
  const header = (signature: string, name: string, severity: number): string =>
    ['CEF:0', 'Airlock', 'Airlock', version, signature, name, String(severity)].map((f, i) => (i === 0 ? f : escapeCefHeader(f))).join('|');
  if (event === null) {
    // Forwarded anyway, flagged: a SIEM should see a damaged entry, and the cursor must move on.
    const severity = SEVERITY.unreadable;
    const ext = extension([
      ['act', 'audit.unreadable'],
      ...labelled(3, 'seq', seq),
      ...labelled(4, 'hash', hash),
      ['externalId', entry.id],
    ]);
    return { cef: `${header('audit.unreadable', 'Unreadable audit entry', severity)}|${ext}`, severity, msgId: 'audit.unreadable', at: undefined };
  }
  const severity = cefSeverity(event);
  const name = event.outcome === 'refused' ? `${humanName(event.action)} refused` : humanName(event.action);
  const details = Object.keys(event.details).length === 0 ? null : JSON.stringify(event.details);
  const ext = extension([
    ['rt', String(Date.parse(event.at))],
    ['suid', event.actor?.id],
    ['suser', event.actor?.name],
    ['duid', event.target?.type === 'user' ? event.target.id : null],
    ['act', event.action],
    ['outcome', event.outcome],
    ['reason', event.reason],
    ...labelled(1, 'site', event.site),
    ...labelled(2, 'target', event.target === null ? null : `${event.target.type}:${event.target.id}`),
    ...labelled(3, 'seq', seq),
    ...labelled(4, 'hash', hash),
    ['externalId', entry.id],
    // Last: the only field of unbounded size, so a truncated datagram loses details, not identity.
    ...labelled(5, 'details', details),
  ]);
  return { cef: `${header(event.action, name, severity)}|${ext}`, severity, msgId: event.action, at: event.at };
}

/**
 * The whole RFC 5424 message for one stream entry:
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [airlock@32473 seq hash id] CEF:0|…`.
 * MSG is MSG-ANY without a BOM: CEF receivers expect the line to start with `CEF:`, and CEF is
 * UTF-8 by definition.
 */
export function formatSyslog(entry: AuditStreamEntry, options: SyslogHeaderOptions): string {
  const { cef, severity, msgId, at } = cefMessage(entry, options.version);
  const pri = options.facility * 8 + syslogSeverity(severity);
  const sd = `[${SD_ID} seq="${escapeSdValue(entry.message['seq'] ?? '')}" hash="${escapeSdValue(entry.message['hash'] ?? '')}" id="${escapeSdValue(entry.id)}"]`;
  return [
    `<${pri}>1`,
    timestamp(at, entry.id),
    headerToken(options.hostname, HOSTNAME_MAX),
    headerToken(options.appName, APP_NAME_MAX),
    headerToken(options.procId, PROCID_MAX),
    headerToken(msgId, MSGID_MAX),
    sd,
    cef,
  ].join(' ');
}

/**
 * `message` cut to at most `maxBytes` of UTF-8 without splitting a character or leaving half a
 * CEF escape (a lone trailing backslash). The header and structured data come first, so only
 * the tail of the CEF extensions is lost.
 */
export function truncateUtf8(message: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  let backslashes = 0;
  while (end - backslashes > 0 && bytes[end - backslashes - 1] === 0x5c) backslashes++;
  if (backslashes % 2 === 1) end--;
  return bytes.subarray(0, end);
}

/** RFC 6587 §3.4.1 octet counting (also RFC 5425 for TLS): `LEN SP MSG`. */
export function octetCountedFrame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
