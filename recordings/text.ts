// What a session showed and what the vendor typed, as plain text: the typescript without its
// terminal control sequences, and the input-event log's keys turned back into lines. Search
// indexes the words of both.

/** CSI, OSC and other ESC sequences, plus stray control characters but newline and tab. */
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]|[\u0000-\u0008\u000b-\u001f\u007f]/g;

export function stripTerminal(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(ANSI, '');
}

/** X11 keysyms that edit a line; printable Latin-1 keysyms are their code points. */
const KEYSYM = { enter: 0xff0d, kpEnter: 0xff8d, backspace: 0xff08, tab: 0xff09 } as const;

export interface TypedLine {
  /** Milliseconds from the session start when Enter was pressed (or the log ended). */
  t: number;
  text: string;
  /** Who typed it when not the vendor (an observer holding the controls). */
  by?: { id: string; name: string };
}

/** Rebuilds the lines typed from the input-event log (JSON lines): a change of typist starts a new line. */
export function typedLines(eventsJsonl: string): TypedLine[] {
  const lines: TypedLine[] = [];
  let current = '';
  let lastT = 0;
  let typist: TypedLine['by'];
  const push = (): void => {
    lines.push({ t: lastT, text: current, ...(typist === undefined ? {} : { by: typist }) });
    current = '';
  };
  for (const raw of eventsJsonl.split('\n')) {
    if (raw.trim() === '') continue;
    let e: { t?: number; type?: string; keysym?: number; pressed?: boolean; text?: string; by?: { id?: unknown; name?: unknown } };
    try {
      e = JSON.parse(raw) as typeof e;
    } catch {
      continue;
    }
    lastT = e.t ?? lastT;
    if (e.type === 'key') {
      const by = typeof e.by?.id === 'string' && typeof e.by.name === 'string' ? { id: e.by.id, name: e.by.name } : undefined;
      if (by?.id !== typist?.id) {
        if (current !== '') push();
        typist = by;
      }
    }
    if (e.type === 'clipboard' && typeof e.text === 'string') {
      current += e.text;
      continue;
    }
    if (e.type !== 'key' || e.pressed !== true || typeof e.keysym !== 'number') continue;
    const k = e.keysym;
    if (k === KEYSYM.enter || k === KEYSYM.kpEnter) push();
    else if (k === KEYSYM.backspace) current = current.slice(0, -1);
    else if (k === KEYSYM.tab) current += '\t';
    else if ((k >= 0x20 && k <= 0x7e) || (k >= 0xa0 && k <= 0xff)) current += String.fromCodePoint(k);
    else if (k >= 0x1000000) current += String.fromCodePoint(k - 0x1000000); // Unicode keysyms
  }
  if (current !== '') push();
  return lines;
}

/**
 * Search tokens: NFKC-normalised lower-case words of letters, digits and . _ / - (2–64
 * characters). NFKC first, so a word typed with a composed or a decomposed accent (or a
 * full-width digit) is one token: the index holds only hashes of tokens, so the query and the
 * recording must normalise alike.
 */
export function tokenize(text: string, limit = Infinity): Set<string> {
  const out = new Set<string>();
  // In slices cut at whitespace, stopping at `limit` distinct words: a session that printed
  // megabytes of distinct words (a `cat` of a big file) must not hold the event loop, and every
  // live session with it, while its recording is indexed.
  for (let at = 0; at < text.length && out.size < limit; ) {
    let end = Math.min(text.length, at + TOKENIZE_SLICE);
    if (end < text.length) {
      const space = text.lastIndexOf(' ', end);
      const newline = text.lastIndexOf('\n', end);
      const cut = Math.max(space, newline);
      if (cut > at) end = cut;
    }
    for (const m of text.slice(at, end).normalize('NFKC').toLowerCase().matchAll(/[\p{L}\p{N}._/-]{2,64}/gu)) {
      const token = m[0].replace(/^[._/-]+|[._/-]+$/g, '');
      if (token.length >= 2) out.add(token);
      if (out.size >= limit) break;
    }
    at = end;
  }
  return out;
}

/** How much text tokenize() reads at a time (it stops between slices once it has enough). */
const TOKENIZE_SLICE = 64 * 1024;
