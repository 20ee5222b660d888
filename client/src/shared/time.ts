// Conversions between ISO UTC instants (what the API speaks) and the browser's local time
// (what `<input type="datetime-local">` and people speak).

/** New windows start on a round time a little ahead, so a vendor can still edit before it starts. */
export const START_ROUNDING_MINUTES = 5;
/** A fresh request asks for one hour unless the vendor changes it. */
export const DEFAULT_WINDOW_MINUTES = 60;

const MINUTE_MS = 60_000;

const pad = (n: number) => String(n).padStart(2, '0');

/** `YYYY-MM-DDTHH:mm` in local time, the value format of datetime-local inputs. */
export function toLocalInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value read as local time, or null when empty or malformed. */
export function fromLocalInput(value: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  // Date-time strings without an offset are local time (ECMA-262 Date.parse).
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The next whole multiple of `START_ROUNDING_MINUTES` strictly after `now`. */
export function roundUpToNextStart(now: Date): Date {
  const step = START_ROUNDING_MINUTES * MINUTE_MS;
  return new Date((Math.floor(now.getTime() / step) + 1) * step);
}

export function addMinutes(d: Date, minutes: number): Date {
  return new Date(d.getTime() + minutes * MINUTE_MS);
}

export function minutesBetween(a: Date, b: Date): number {
  return (b.getTime() - a.getTime()) / MINUTE_MS;
}

/** "45 min", "2 h", "1 h 30 min", "2 d 4 h". */
export function formatDuration(minutes: number): string {
  const m = Math.round(minutes);
  if (m < 60) return `${m} min`;
  const days = Math.floor(m / 1440);
  const hours = Math.floor((m % 1440) / 60);
  const mins = m % 60;
  const parts: string[] = [];
  if (days > 0) parts.push(`${days} d`);
  if (hours > 0) parts.push(`${hours} h`);
  if (mins > 0 && days === 0) parts.push(`${mins} min`);
  return parts.join(' ');
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const withSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

export function formatDateTime(iso: string, precise = false): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return (precise ? withSeconds : dateTime).format(d);
}

/** "26 Nov 2026, 09:00 – 10:00", or both dates in full when the window spans days. */
export function formatWindow(startIso: string, endIso: string): string {
  const start = new Date(startIso);
  const end = new Date(endIso);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return `${startIso} – ${endIso}`;
  const sameDay = start.toDateString() === end.toDateString();
  return `${dateTime.format(start)} – ${sameDay ? timeOnly.format(end) : dateTime.format(end)}`;
}

/** A countdown: "04:59", or "1:04:59" from an hour up; never negative. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}
