// Which browser instructions reach guacd under a grant's policy. guacd enforces the same
// switches (read-only, disable-paste, no SFTP/drive); this is the portal's own, earlier check,
// and what it blocks is logged. Streams opened by a blocked instruction are blocked to their end.
import type { Policy } from '../server/inventory/schema.ts';
import type { GuacInstruction } from './tunnel/protocol.ts';
import { DISPLAY_LIMITS } from './tunnel/settings.ts';

/** Keep-alive, flow control and leaving: what even a watcher may send. */
const ALWAYS_ALLOWED = new Set(['sync', 'nop', 'ack', 'disconnect']);
/** Opcodes that open a stream the browser then fills with blob/end. */
const STREAM_OPENERS = new Set(['clipboard', 'file', 'put', 'pipe', 'argv', 'audio']);
/** Opcodes that carry data on a stream opened earlier. */
const STREAM_DATA = new Set(['blob', 'end']);

export type InputDecision = { allow: true } | { allow: false; reason: string };

export class InputPolicy {
  private readonly policy: Policy;
  private readonly watcher: boolean;
  private readonly blockedStreams = new Set<string>();

  /** `watcher`: a live view, which may only watch. */
  constructor(policy: Policy, watcher: boolean) {
    this.policy = policy;
    this.watcher = watcher;
  }

  decide(instruction: GuacInstruction): InputDecision {
    const opcode = instruction[0] ?? '';
    // `put` names its object first; every other stream-opening opcode starts with the stream.
    const stream = (opcode === 'put' ? instruction[2] : instruction[1]) ?? '';
    if (ALWAYS_ALLOWED.has(opcode)) return { allow: true };
    if (this.watcher) return { allow: false, reason: 'watch_only' };
    if (STREAM_DATA.has(opcode)) {
      if (!this.blockedStreams.has(stream)) return { allow: true };
      if (opcode === 'end') this.blockedStreams.delete(stream);
      return { allow: false, reason: 'stream_blocked' };
    }
    if (opcode === 'size') return clampSize(instruction);
    if (this.policy.readOnly) return this.block(opcode, stream, 'read_only');
    switch (opcode) {
      case 'key':
      case 'mouse':
      case 'touch':
        return { allow: true };
      case 'clipboard':
        return this.policy.clipboardPaste ? { allow: true } : this.block(opcode, stream, 'clipboard_paste_disabled');
      case 'file':
      case 'put':
      case 'pipe':
        // Files reach a machine only through the file airlock (sessions/files: quarantine, scan,
        // release), which the portal delivers itself; the browser's own streams never reach guacd.
        return this.block(opcode, stream, this.policy.fileTransfer ? 'files_through_airlock_only' : 'file_transfer_disabled');
      default:
        // Anything else (argv, audio, get, …) has no place in a brokered session.
        return this.block(opcode, stream, 'not_allowed');
    }
  }

  /** Blocks an instruction and, when it opens one, the stream it names. */
  private block(opcode: string, stream: string, reason: string): InputDecision {
    if (STREAM_OPENERS.has(opcode)) this.blockedStreams.add(stream);
    return { allow: false, reason };
  }
}

/**
 * An in-band resize is held to the same bounds as the query string's display size (a
 * 30000×30000 request grew one guacd child to 837 MiB): the instruction is rewritten in place.
 */
function clampSize(instruction: GuacInstruction): InputDecision {
  const [, width = '', height = ''] = instruction;
  if (!/^\d{1,6}$/.test(width) || !/^\d{1,6}$/.test(height)) return { allow: false, reason: 'bad_size' };
  const clamp = (v: string, limits: { min: number; max: number }): string => String(Math.min(limits.max, Math.max(limits.min, Number(v))));
  instruction.splice(1, instruction.length - 1, clamp(width, DISPLAY_LIMITS.width), clamp(height, DISPLAY_LIMITS.height));
  return { allow: true };
}
