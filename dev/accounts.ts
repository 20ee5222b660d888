// Local Unix accounts and credentials for the dev targets: idempotent user creation, passwords
// and SSH keys generated fresh on every run (never stored in the repository).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** 18 random bytes = 24 base64url characters: strong, and free of ':' (chpasswd's separator). */
const PASSWORD_BYTES = 18;
/** The VNC authentication scheme only uses the first 8 characters of a password. */
const VNC_PASSWORD_LENGTH = 8;

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function generatePassword(): string {
  return randomBytes(PASSWORD_BYTES).toString('base64url');
}

export function generateVncPassword(): string {
  return randomBytes(VNC_PASSWORD_LENGTH).toString('base64url').slice(0, VNC_PASSWORD_LENGTH);
}

async function lookupUser(name: string): Promise<UnixUser | undefined> {
  try {
    const { stdout } = await run('getent', ['passwd', name]);
    const [, , uid, gid, , home] = stdout.trim().split(':');
    return { name, uid: Number(uid), gid: Number(gid), home: home ?? `/home/${name}` };
  } catch {
    return undefined; // getent exits 2 for an unknown user
  }
}

/** Creates the user with a home directory unless it exists; returns its ids either way. */
export async function ensureUser(name: string): Promise<UnixUser> {
  const existing = await lookupUser(name);
  if (existing) return existing;
  try {
    await run('useradd', ['--create-home', '--shell', '/bin/bash', '--comment', 'Airlock dev target', name]);
  } catch (error) {
    // A concurrent run may have created it between our lookup and useradd; anything else is fatal.
    if (!(await lookupUser(name))) throw error;
  }
  const created = await lookupUser(name);
  if (!created) throw new Error(`useradd ${name} succeeded but the user cannot be found`);
  return created;
}

export function setPassword(user: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`chpasswd for ${user} failed: ${stderr.trim()}`))));
    child.stdin.end(`${user}:${password}\n`);
  });
}

/** Writes a file in the user's home, owned by the user, creating parent directories (owned too). */
export async function writeUserFile(user: UnixUser, relativePath: string, content: string, mode: number): Promise<void> {
  const parts = relativePath.split('/');
  let dir = user.home;
  for (const part of parts.slice(0, -1)) {
    dir = `${dir}/${part}`;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, user.uid, user.gid);
  }
  const path = `${user.home}/${relativePath}`;
  await writeFile(path, content, { mode });
  await chown(path, user.uid, user.gid);
}

export interface SshKeyPair {
  /** PEM text for guacd's `private-key` parameter. */
  privateKey: string;
  /** One authorized_keys line. */
  publicKey: string;
}

/**
 * A fresh key pair. RSA in the traditional PEM (PKCS#1) format because guacd 1.3.0 only
 * understands `BEGIN RSA/DSA PRIVATE KEY`: given an OpenSSH-format key (ed25519 or RSA) it never
 * offers the key to sshd and silently falls back to a password prompt in the terminal. It also
 * signs with SHA-1 `ssh-rsa`, hence `PubkeyAcceptedAlgorithms +ssh-rsa` in our sshd_config.
 */
export async function generateSshKeyPair(dir: string): Promise<SshKeyPair> {
  const path = `${dir}/id_rsa`;
  await rm(path, { force: true });
  await rm(`${path}.pub`, { force: true });
  await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'airlock-dev', '-f', path]);
  return { privateKey: await readFile(path, 'utf8'), publicKey: (await readFile(`${path}.pub`, 'utf8')).trim() };
}
