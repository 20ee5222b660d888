// Known words for measuring OCR recall on graphical sessions (test/recording-ocr.test.ts and
// bench/replay): typed as ROT13 and decoded by the machine's shell, so they are on the screen but
// never typed (typed text is indexed already), and only reading the screen can find them.

/** Words an operator might see on a plant's screen; none is a word the shell prints by itself. */
export const KNOWN_WORDS = ['turbine', 'valve', 'pressure', 'conveyor', 'hydraulic', 'spindle', 'coolant', 'furnace', 'gearbox', 'sensor', 'calibrate', 'thermostat', 'actuator', 'compressor', 'boiler', 'pallet', 'forklift', 'gantry', 'lathe', 'welder'];

export const rot13 = (s: string): string => s.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));

/** The shell command that shows KNOWN_WORDS without typing them. */
export const SHOW_KNOWN_WORDS = `echo ${rot13(KNOWN_WORDS.join(' '))} | tr a-z n-za-m\n`;
