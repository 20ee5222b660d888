// X11 keysyms for the keys a browser cannot send itself (the OS or the browser keeps
// Ctrl+Alt+Del, Alt+Tab, the Windows key…), and text as keysyms for touch keyboards.

export const KEYSYM = {
  BACKSPACE: 0xff08,
  TAB: 0xff09,
  RETURN: 0xff0d,
  ESCAPE: 0xff1b,
  HOME: 0xff50,
  LEFT: 0xff51,
  UP: 0xff52,
  RIGHT: 0xff53,
  DOWN: 0xff54,
  PAGE_UP: 0xff55,
  PAGE_DOWN: 0xff56,
  END: 0xff57,
  PRINT: 0xff61,
  INSERT: 0xff63,
  MENU: 0xff67,
  F1: 0xffbe,
  SHIFT_L: 0xffe1,
  SHIFT_R: 0xffe2,
  CTRL_L: 0xffe3,
  CTRL_R: 0xffe4,
  ALT_L: 0xffe9,
  ALT_R: 0xffea,
  SUPER_L: 0xffeb,
  SUPER_R: 0xffec,
  DELETE: 0xffff,
} as const;

const MODIFIERS = new Set<number>([
  KEYSYM.SHIFT_L,
  KEYSYM.SHIFT_R,
  KEYSYM.CTRL_L,
  KEYSYM.CTRL_R,
  KEYSYM.ALT_L,
  KEYSYM.ALT_R,
  KEYSYM.SUPER_L,
  KEYSYM.SUPER_R,
  0xffe7, // Meta_L
  0xffe8, // Meta_R
  0xfe03, // ISO_Level3_Shift (AltGr)
]);

export function isModifier(keysym: number): boolean {
  return MODIFIERS.has(keysym);
}

/** F1…F12. */
export const fKey = (n: number): number => KEYSYM.F1 + n - 1;

/** A character's keysym: Latin-1 maps to itself, other code points to 0x01000000 + code point (X11). */
export function keysymOfChar(ch: string): number {
  if (ch === '\n' || ch === '\r') return KEYSYM.RETURN;
  if (ch === '\t') return KEYSYM.TAB;
  const cp = ch.codePointAt(0) ?? 0;
  return cp >= 0x20 && cp <= 0xff ? cp : 0x01000000 | cp;
}

export function keysymsOf(text: string): number[] {
  return Array.from(text.replace(/\r\n/g, '\n'), keysymOfChar);
}

export interface Chord {
  id: string;
  label: string;
  /** Pressed in order, released in reverse. */
  keys: readonly number[];
  /** Only where it means something (Ctrl+Alt+Del on a terminal does not). */
  protocols?: readonly string[];
}

const GRAPHICAL = ['rdp', 'vnc'];

/** The toolbar's special keys: what vendors reach for on Windows HMIs and Linux terminals. */
export const CHORDS: readonly Chord[] = [
  { id: 'ctrl-alt-del', label: 'Ctrl+Alt+Del', keys: [KEYSYM.CTRL_L, KEYSYM.ALT_L, KEYSYM.DELETE], protocols: GRAPHICAL },
  { id: 'alt-tab', label: 'Alt+Tab', keys: [KEYSYM.ALT_L, KEYSYM.TAB], protocols: GRAPHICAL },
  { id: 'alt-f4', label: 'Alt+F4', keys: [KEYSYM.ALT_L, fKey(4)], protocols: GRAPHICAL },
  { id: 'win', label: 'Windows key', keys: [KEYSYM.SUPER_L], protocols: GRAPHICAL },
  { id: 'win-r', label: 'Windows+R', keys: [KEYSYM.SUPER_L, 0x72], protocols: GRAPHICAL },
  { id: 'print', label: 'Print Screen', keys: [KEYSYM.PRINT], protocols: GRAPHICAL },
  { id: 'esc', label: 'Esc', keys: [KEYSYM.ESCAPE] },
  { id: 'tab', label: 'Tab', keys: [KEYSYM.TAB] },
  { id: 'ctrl-c', label: 'Ctrl+C', keys: [KEYSYM.CTRL_L, 0x63] },
  { id: 'ctrl-d', label: 'Ctrl+D', keys: [KEYSYM.CTRL_L, 0x64] },
  { id: 'ctrl-z', label: 'Ctrl+Z', keys: [KEYSYM.CTRL_L, 0x7a] },
  { id: 'ctrl-w', label: 'Ctrl+W', keys: [KEYSYM.CTRL_L, 0x77] },
];

export function chordsFor(protocol: string): Chord[] {
  return CHORDS.filter((c) => c.protocols === undefined || c.protocols.includes(protocol));
}

/** The on-screen key panel: keys a touch keyboard lacks, in rows. */
export const PANEL_ROWS: readonly (readonly { label: string; keysym: number; wide?: boolean }[])[] = [
  [
    { label: 'Esc', keysym: KEYSYM.ESCAPE },
    ...Array.from({ length: 12 }, (_, i) => ({ label: `F${i + 1}`, keysym: fKey(i + 1) })),
  ],
  [
    { label: 'Tab', keysym: KEYSYM.TAB, wide: true },
    { label: 'Ins', keysym: KEYSYM.INSERT },
    { label: 'Del', keysym: KEYSYM.DELETE },
    { label: 'Home', keysym: KEYSYM.HOME },
    { label: 'End', keysym: KEYSYM.END },
    { label: 'PgUp', keysym: KEYSYM.PAGE_UP },
    { label: 'PgDn', keysym: KEYSYM.PAGE_DOWN },
    { label: '⌫', keysym: KEYSYM.BACKSPACE },
    { label: 'Enter', keysym: KEYSYM.RETURN, wide: true },
  ],
  [
    { label: '←', keysym: KEYSYM.LEFT },
    { label: '↑', keysym: KEYSYM.UP },
    { label: '↓', keysym: KEYSYM.DOWN },
    { label: '→', keysym: KEYSYM.RIGHT },
  ],
];

/** Sticky modifiers of the panel: held for the next key, then released. */
export const PANEL_MODIFIERS: readonly { id: 'ctrl' | 'alt' | 'shift' | 'super'; label: string; keysym: number }[] = [
  { id: 'ctrl', label: 'Ctrl', keysym: KEYSYM.CTRL_L },
  { id: 'alt', label: 'Alt', keysym: KEYSYM.ALT_L },
  { id: 'shift', label: 'Shift', keysym: KEYSYM.SHIFT_L },
  { id: 'super', label: 'Win', keysym: KEYSYM.SUPER_L },
];

/** Keys that paste the remote clipboard into guacd's terminal (SSH, Telnet). */
export const TERMINAL_PASTE: readonly number[] = [KEYSYM.CTRL_L, KEYSYM.SHIFT_L, 0x56];
