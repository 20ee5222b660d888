// The guacd connection settings for one session, built only on the server: the machine's
// address, its decrypted credential, the grant's policy and the mandatory recording parameters.
// Nothing the browser sends reaches these except a clamped display size.
import type { Credential, Machine, Policy } from '../../server/inventory/schema.ts';
import { knownHostsLine } from '../../server/inventory/host-keys.ts';

/** Display bounds: what a real screen can be; anything beyond is clamped (or refused when absurd). */
export const DISPLAY_LIMITS = {
  width: { min: 320, max: 4096, fallback: 1024 },
  height: { min: 240, max: 2160, fallback: 768 },
  dpi: { min: 48, max: 300, fallback: 96 },
} as const;
/** A value beyond this is not a display size but an attempt: the upgrade is refused. */
export const DISPLAY_ABSURD = 100_000;

export interface Display {
  width: number;
  height: number;
  dpi: number;
}

export type DisplayResult = { ok: true; display: Display } | { ok: false; field: string };

/** Parses and clamps the browser's display hints; absurd or non-numeric values are refused. */
export function clampDisplay(query: Partial<Record<'width' | 'height' | 'dpi', string>>): DisplayResult {
  const display: Display = { width: 0, height: 0, dpi: 0 };
  for (const field of ['width', 'height', 'dpi'] as const) {
    const raw = query[field];
    const limits = DISPLAY_LIMITS[field];
    if (raw === undefined) {
      display[field] = limits.fallback;
      continue;
    }
    if (!/^\d{1,6}$/.test(raw) || Number(raw) > DISPLAY_ABSURD) return { ok: false, field };
    display[field] = Math.min(limits.max, Math.max(limits.min, Number(raw)));
  }
  return { ok: true, display };
}

/** Where guacd writes its SSH/Telnet typescript, when it shares the spool (names from recordings/layout.ts). */
export interface TypescriptTarget {
  /** The spool directory guacd writes into. */
  path: string;
  /** The file name guacd joins to the path: server-made from the session UUID, never user input. */
  typescriptName: string;
}

/** Settings keyed by guacd argument name; guacamole-lite sends those guacd asks for, in its order. */
export type GuacSettings = Record<string, string | number | boolean | string[] | null>;

const flag = (on: boolean): string | null => (on ? 'true' : null);

/**
 * `typescript`: where guacd writes its text record (SSH/Telnet), or undefined when guacd does
 * not share the spool. The recording itself is the portal's (it records what it relays), so
 * guacd is not asked to record.
 */
export function connectionSettings(machine: Machine, credential: Credential, policy: Policy, typescript: TypescriptTarget | undefined, display: Display, drivePath?: string): GuacSettings {
  const settings: GuacSettings = {
    hostname: machine.host,
    port: String(machine.port),
    width: display.width,
    height: display.height,
    dpi: display.dpi,
    'read-only': flag(policy.readOnly),
    'disable-copy': flag(!policy.clipboardCopy),
    'disable-paste': flag(!policy.clipboardPaste),
    // No sound for plant machines; keeps sessions light.
    'disable-audio': 'true',
    audio: [],
    // What the browser draws (guacamole-common-js): without a list guacd falls back to PNG only.
    image: ['image/png', 'image/jpeg', 'image/webp'],
    timezone: 'UTC',
  };
  switch (machine.protocol) {
    case 'ssh':
      settings['username'] = credential.username;
      if (credential.privateKey !== undefined) settings['private-key'] = credential.privateKey;
      else settings['password'] = credential.password ?? null;
      settings['enable-sftp'] = flag(policy.fileTransfer);
      // The pinned host key: guacd refuses any other before it sends the credential. Without one
      // (demo/test mode, or a machine that accepts any key) guacd verifies nothing.
      settings['host-key'] = machine.hostKey === undefined ? null : knownHostsLine(machine.host, machine.port, machine.hostKey);
      break;
    case 'telnet':
      settings['username'] = credential.username;
      settings['password'] = credential.password ?? null;
      break;
    case 'vnc':
      settings['password'] = credential.password ?? null;
      break;
    case 'rdp':
      settings['username'] = credential.username;
      settings['password'] = credential.password ?? null;
      settings['security'] = machine.rdpSecurity ?? 'any';
      // Plant machines present self-signed certificates; the network path is guacd's segment.
      settings['ignore-cert'] = 'true';
      settings['enable-drive'] = flag(policy.fileTransfer);
      // The redirected drive the file airlock delivers into: a folder per session on guacd's
      // host, named by the server (never user input), created by guacd.
      if (policy.fileTransfer && drivePath !== undefined) {
        settings['drive-path'] = drivePath;
        settings['create-drive-path'] = 'true';
        settings['drive-name'] = 'Airlock';
      }
      settings['disable-auth'] = null;
      break;
  }
  if (typescript !== undefined && (machine.protocol === 'ssh' || machine.protocol === 'telnet')) {
    // guacd joins the name to the path as given: only a server-made UUID ever reaches it (LAB.md).
    settings['typescript-path'] = typescript.path;
    settings['typescript-name'] = typescript.typescriptName;
    settings['create-typescript-path'] = 'true';
  }
  return settings;
}

/** Settings to join a live session read-only (live view): guacd's `select` takes the connection id. */
export function joinSettings(guacdConnectionId: string, display: Display): { join: string } & GuacSettings {
  return { join: guacdConnectionId, 'read-only': 'true', width: display.width, height: display.height, dpi: display.dpi, audio: [] };
}
