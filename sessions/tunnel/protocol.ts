// The Guacamole wire format (`LEN.VALUE,…;`, LEN in Unicode code points): an encoder and an
// incremental parser, shared by the broker (input logging, policy) and the dev/bench probes.
// The parser is linear: each character is examined once, however the input is split.

export type GuacInstruction = string[]; // [opcode, ...args]

/**
 * guacd's own limits (libguac: GUAC_INSTRUCTION_MAX_LENGTH 8192, GUAC_INSTRUCTION_MAX_ELEMENTS
 * 128): guacd refuses anything larger, so the portal need not buffer more for it. Output parsers
 * (probes reading guacd) take a larger bound because they read what guacd itself produced.
 */
export const GUACD_LIMITS = { maxInstructionLength: 8192, maxElements: 128 } as const;
/** Default bound for readers of guacd's output: refuse absurd lengths instead of buffering without bound. */
const DEFAULT_LIMITS = { maxInstructionLength: 8 * 1024 * 1024, maxElements: 1024 } as const;
/** Longest length prefix accepted: "8388608" has 7 digits. */
const MAX_LENGTH_DIGITS = 8;

/** `LEN.VALUE,LEN.VALUE,...;` where LEN counts Unicode code points, not bytes or UTF-16 units. */
export function encodeInstruction(opcode: string, ...args: string[]): string {
  return [opcode, ...args].map((value) => `${[...value].length}.${value}`).join(',') + ';';
}

export class GuacProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuacProtocolError';
  }
}

/** Incremental parser: feed it decoded text as it arrives, get back complete instructions. */
export class GuacParser {
  readonly #maxInstructionLength: number;
  readonly #maxElements: number;
  #elements: string[] = [];
  /** Characters of the current instruction so far (length prefixes and values), against the bound. */
  #instructionLength = 0;
  /** Reading a length prefix: its digits so far. */
  #digits = '';
  /** Reading a value: code points still missing, and the parts of it seen so far. */
  #remaining = -1;
  #parts: string[] = [];
  /** The current value's last unit so far is a high surrogate whose low half is in the next chunk. */
  #danglingHigh = false;
  /** After a value: the terminator is next. */
  #awaitTerminator = false;
  /** UTF-16 units examined in all: proof of linearity for tests (each examined once). */
  examined = 0;

  constructor(limits: { maxInstructionLength: number; maxElements: number } = DEFAULT_LIMITS) {
    this.#maxInstructionLength = limits.maxInstructionLength;
    this.#maxElements = limits.maxElements;
  }

  push(chunk: string): GuacInstruction[] {
    const instructions: GuacInstruction[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#awaitTerminator) {
        const terminator = chunk[pos++];
        this.examined++;
        this.#awaitTerminator = false;
        if (terminator === ';') {
          instructions.push(this.#elements);
          this.#elements = [];
          this.#instructionLength = 0;
        } else if (terminator !== ',') {
          throw new GuacProtocolError(`malformed Guacamole terminator ${JSON.stringify(terminator)}`);
        }
        continue;
      }
      if (this.#remaining < 0) {
        // Length prefix: digits up to the dot.
        const c = chunk.charCodeAt(pos++);
        this.examined++;
        if (c === 0x2e /* . */ && this.#digits.length > 0) {
          const length = Number(this.#digits);
          this.#digits = '';
          this.#instructionLength += length + 2;
          if (this.#instructionLength > this.#maxInstructionLength) throw new GuacProtocolError(`Guacamole instruction longer than ${this.#maxInstructionLength}`);
          if (this.#elements.length >= this.#maxElements) throw new GuacProtocolError(`Guacamole instruction with more than ${this.#maxElements} elements`);
          this.#remaining = length;
          this.#parts = [];
          if (length === 0) this.#finishValue();
          continue;
        }
        if (c < 0x30 || c > 0x39 || this.#digits.length >= MAX_LENGTH_DIGITS) {
          throw new GuacProtocolError(`malformed Guacamole element length ${JSON.stringify((this.#digits + String.fromCharCode(c)).slice(0, 20))}`);
        }
        this.#digits += String.fromCharCode(c);
        continue;
      }
      // Value: take up to `remaining` code points from this chunk.
      const start = pos;
      if (this.#danglingHigh) {
        // The low half of a surrogate pair whose high half ended the previous chunk.
        const unit = chunk.charCodeAt(pos);
        if (unit >= 0xdc00 && unit <= 0xdfff) pos++;
        this.#danglingHigh = false;
      }
      while (this.#remaining > 0 && pos < chunk.length) {
        const unit = chunk.charCodeAt(pos);
        pos++;
        this.#remaining--;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          if (pos < chunk.length) pos++; // one code point, two UTF-16 units
          else this.#danglingHigh = true;
        }
      }
      this.examined += pos - start;
      this.#parts.push(chunk.slice(start, pos));
      if (this.#remaining === 0 && !this.#danglingHigh) this.#finishValue();
    }
    return instructions;
  }

  #finishValue(): void {
    this.#elements.push(this.#parts.length === 1 ? (this.#parts[0] ?? '') : this.#parts.join(''));
    this.#parts = [];
    this.#remaining = -1;
    this.#awaitTerminator = true;
  }
}
