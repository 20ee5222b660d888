// Known words for measuring OCR recall on graphical sessions (test/recording-ocr.test.ts and
// bench/replay): typed as ROT13 and decoded by the machine's shell, so they are on the screen but
// never typed (typed text is indexed already), and only reading the screen can find them.

/** Words an operator might see on a plant's screen; none is a word the shell prints by itself. */
export const KNOWN_WORDS = ['turbine', 'valve', 'pressure', 'conveyor', 'hydraulic', 'spindle', 'coolant', 'furnace', 'gearbox', 'sensor', 'calibrate', 'thermostat', 'actuator', 'compressor', 'boiler', 'pallet', 'forklift', 'gantry', 'lathe', 'welder'];

export const rot13 = (s: string): string => s.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));

/** The shell command that shows KNOWN_WORDS without typing them. */
export const SHOW_KNOWN_WORDS = `echo ${rot13(KNOWN_WORDS.join(' '))} | tr a-z n-za-m\n`;

/**
 * Words of a plant's settings form, none of them in KNOWN_WORDS: the form's recall counts only
 * what the form showed, not what an earlier session left in the terminal (the screen is shared).
 */
export const FORM_WORDS = ['setpoint', 'torque', 'viscosity', 'humidity', 'voltage', 'throttle', 'bearing', 'nozzle', 'hopper', 'ladle', 'crucible', 'mixer', 'extruder', 'grinder', 'chiller', 'blower', 'manifold', 'piston', 'winch', 'kiln'];

/**
 * The shell command that shows FORM_WORDS in a form-like window (Tk's `wish`: a label and a
 * filled-in entry field per word, two columns, Apply/Cancel buttons), the script typed as ROT13
 * and decoded by the shell like SHOW_KNOWN_WORDS. The terminal is cleared first: what an earlier
 * session left on the machine's shared screen must not count for this one.
 */
const FORM_SCRIPT = [
  'wm geometry . +40+40',
  'set i 0',
  `foreach w {${FORM_WORDS.join(' ')}} {label .l$i -text "[string totitle $w]:"; entry .e$i -width 14; .e$i insert 0 "$w [expr {$i * 7}]"; grid .l$i -row [expr {$i / 2}] -column [expr {($i % 2) * 2}] -sticky e -padx 4 -pady 2; grid .e$i -row [expr {$i / 2}] -column [expr {($i % 2) * 2 + 1}] -sticky w -padx 4 -pady 2; incr i}`,
  'button .ok -text apply',
  'button .cancel -text cancel',
  'grid .ok -row 10 -column 1',
  'grid .cancel -row 10 -column 3',
  // Gone by itself: the target's screen is shared, and with no window manager focus follows the pointer.
  'after 6000 exit',
].join('; ');
export const SHOW_FORM_WORDS = `clear; echo '${rot13(FORM_SCRIPT)}' | tr a-z n-za-m | wish &\n`;

/** Words shown after a screenful of other text (none in the lists above). */
export const BUSY_WORDS = ['ventilator', 'sprocket', 'flywheel', 'gasket', 'impeller', 'rotor', 'stator', 'turret', 'clamp', 'caliper', 'spring', 'lever', 'pulley', 'shaft', 'tank', 'boom', 'crane', 'drill', 'press', 'saw'];

/**
 * The shell command that shows 121 seven-digit numbers (over 900 characters of text) and then
 * BUSY_WORDS: a busy screen, whose last words came after the first 500 characters OCR read.
 */
export const SHOW_BUSY_WORDS = `clear; seq 1000000 1000120 | paste -sd' '; echo ${rot13(BUSY_WORDS.join(' '))} | tr a-z n-za-m\n`;
