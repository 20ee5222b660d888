// Known words for measuring OCR recall on graphical sessions (test/recording-ocr.test.ts and
// bench/replay): typed as ROT13 and decoded by the machine's shell, so they are on the screen but
// never typed (typed text is indexed already), and only reading the screen can find them.

/** Words an operator might see on a plant's screen; none is a word the shell prints by itself. */
export const KNOWN_WORDS = ['turbine', 'valve', 'pressure', 'conveyor', 'hydraulic', 'spindle', 'coolant', 'furnace', 'gearbox', 'sensor', 'calibrate', 'thermostat', 'actuator', 'compressor', 'boiler', 'pallet', 'forklift', 'gantry', 'lathe', 'welder'];

export const rot13 = (s: string): string => s.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));

/** The shell command that shows KNOWN_WORDS without typing them. */
export const SHOW_KNOWN_WORDS = `echo ${rot13(KNOWN_WORDS.join(' '))} | tr a-z n-za-m\n`;

/**
 * The shell command that shows KNOWN_WORDS in a form-like window (Tk's `wish`: a label and a
 * filled-in entry field per word, two columns, Apply/Cancel buttons), the script typed as ROT13
 * and decoded by the shell like SHOW_KNOWN_WORDS. The terminal is cleared first: what an earlier
 * session left on the machine's shared screen must not count for this one.
 */
const FORM_SCRIPT = [
  'wm geometry . +40+40',
  'set i 0',
  `foreach w {${KNOWN_WORDS.join(' ')}} {label .l$i -text "[string totitle $w]:"; entry .e$i -width 14; .e$i insert 0 "$w [expr {$i * 7}]"; grid .l$i -row [expr {$i / 2}] -column [expr {($i % 2) * 2}] -sticky e -padx 4 -pady 2; grid .e$i -row [expr {$i / 2}] -column [expr {($i % 2) * 2 + 1}] -sticky w -padx 4 -pady 2; incr i}`,
  'button .ok -text apply',
  'button .cancel -text cancel',
  'grid .ok -row 10 -column 1',
  'grid .cancel -row 10 -column 3',
  // Gone by itself: the target's screen is shared, and with no window manager focus follows the pointer.
  'after 6000 exit',
].join('; ');
export const SHOW_KNOWN_WORDS_FORM = `clear; echo '${rot13(FORM_SCRIPT)}' | tr a-z n-za-m | wish &\n`;
