// The Guacamole wire format (`LEN.VALUE,…;`, LEN in Unicode code points): an encoder and an
// incremental parser, shared by the broker (input logging, policy) and the dev/bench probes.

export type GuacInstruction = string[]; // [opcode, ...args]

/** Refuse absurd element lengths instead of buffering without bound on a garbled stream. */
const MAX_ELEMENT_LENGTH = 8 * 1024 * 1024;

/** `LEN.VALUE,LEN.VALUE,...;` where LEN counts Unicode code points, not bytes or UTF-16 units. */
export function encodeInstruction(opcode: string, ...args: string[]): string {
  return [opcode, ...args].map((value) => `${[...value].length}.${value}`).join(',') + ';';
}

/** Incremental parser: feed it decoded text as it arrives, get back complete instructions. */
export class GuacParser {
  #buffer = '';
  #elements: string[] = [];

  push(chunk: string): GuacInstruction[] {
    const buffer = this.#buffer + chunk;
    const instructions: GuacInstruction[] = [];
    let pos = 0;
    for (;;) {
      const dot = buffer.indexOf('.', pos);
      if (dot < 0) break;
      const lengthText = buffer.slice(pos, dot);
      if (!/^\d+$/.test(lengthText) || Number(lengthText) > MAX_ELEMENT_LENGTH) {
        throw new Error(`malformed Guacamole element length ${JSON.stringify(lengthText.slice(0, 20))}`);
      }
      const length = Number(lengthText);
      let end = dot + 1;
      let codePoints = 0;
      while (codePoints < length && end < buffer.length) {
        end += (buffer.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
        codePoints++;
      }
      if (codePoints < length || end >= buffer.length) break; // value or terminator not here yet
      const terminator = buffer[end];
      if (terminator !== ',' && terminator !== ';') throw new Error(`malformed Guacamole terminator ${JSON.stringify(terminator)}`);
      this.#elements.push(buffer.slice(dot + 1, end));
      pos = end + 1;
      if (terminator === ';') {
        instructions.push(this.#elements);
        this.#elements = [];
      }
    }
    this.#buffer = buffer.slice(pos);
    return instructions;
  }
}

