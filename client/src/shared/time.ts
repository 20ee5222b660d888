// Conversions between ISO UTC instants (what the API speaks) and plant or local time (what
// `<input type="datetime-local">` and people speak). The formats are server/plant-time.ts's,
// shared with chat, so a time reads the same everywhere.
import { formatClock, formatClockSpan, formatDate, formatInstant, formatSpan, instantOfWallClock, sameClock, wallClock, zoneAbbreviation } from '../../../server/plant-time.ts';

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

/** The browser's own time zone (what "your time" means). */
export function viewerZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** "26 Nov 2026, 09:00 CET" in `zone` (the viewer's by default): the one format of web and chat. */
export function formatDateTime(iso: string, precise = false, zone = viewerZone()): string {
  return formatInstant(iso, zone, { seconds: precise });
}

/** "26 Nov 2026, 09:00–10:00 CET", or both ends in full when the window spans days. */
export function formatWindow(startIso: string, endIso: string, zone = viewerZone()): string {
  return formatSpan(startIso, endIso, zone);
}

/**
 * The same instant for the viewer, when their clock differs from the plant's: just the time
 * when it is the same day there, else the date too.
 */
export function inViewerZone(iso: string, zone: string, precise = false): string | null {
  const viewer = viewerZone();
  const at = new Date(iso);
  if (Number.isNaN(at.getTime()) || sameClock(at, zone, viewer)) return null;
  return formatDate(iso, zone) === formatDate(iso, viewer) ? formatClock(iso, viewer, { seconds: precise }) : formatInstant(iso, viewer, { seconds: precise });
}

/** A window for the viewer, when their clock differs from the plant's. */
export function windowInViewerZone(startIso: string, endIso: string, zone: string): string | null {
  const viewer = viewerZone();
  const at = new Date(startIso);
  if (Number.isNaN(at.getTime()) || (sameClock(at, zone, viewer) && sameClock(new Date(endIso), zone, viewer))) return null;
  const sameDates = formatDate(startIso, zone) === formatDate(startIso, viewer) && formatDate(endIso, zone) === formatDate(endIso, viewer);
  return sameDates ? formatClockSpan(startIso, endIso, viewer) : formatSpan(startIso, endIso, viewer);
}

/** `YYYY-MM-DDTHH:mm` as a clock in `zone` reads at `d` (datetime-local inputs, in plant time). */
export function toZonedInput(d: Date, zone: string): string {
  const w = wallClock(d, zone);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`;
}

/** A datetime-local value read as a clock in `zone`, or null when empty or malformed. */
export function fromZonedInput(value: string, zone: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
  if (m === null) return null;
  const [year, month, day, hour, minute] = m.slice(1, 6).map(Number) as [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59) return null;
  return instantOfWallClock({ year, month, day, hour, minute }, zone);
}

/** The zone's abbreviation now ("CET"): for labels such as "Start (Plant A time, CET)". */
export function zoneLabel(zone: string, at = new Date()): string {
  return zoneAbbreviation(at, zone);
}

/** A countdown: "04:59", or "1:04:59" from an hour up; never negative. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}
