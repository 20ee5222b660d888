// One recording's folder as verification reads it, wherever it is kept: a local directory (the
// filesystem store, an evidence bundle being checked) or a prefix in object storage.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** What inspecting a recording needs of its folder. Each method throws when the file (or folder) is not there. */
export interface StoredFolder {
  /** A file's bytes (the manifest and its signature: small). */
  read(name: string): Promise<Buffer>;
  /** A file's SHA-256 (hex) and length, streamed (recordings can be large). */
  sha256(name: string): Promise<{ sha256: string; bytes: number }>;
  /** The names of the files in the folder. */
  names(): Promise<string[]>;
}

/** SHA-256 (hex) and length of a stream. */
export async function sha256Stream(stream: Readable | AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  return sha256Stream(createReadStream(file));
}

/** A local directory as a StoredFolder. */
export function localFolder(dir: string): StoredFolder {
  return {
    read: (name) => readFile(path.join(dir, name)),
    sha256: (name) => sha256File(path.join(dir, name)),
    names: () => readdir(dir),
  };
}
