// The systemd units shipped under deploy/ pass `systemd-analyze verify` exactly as shipped: each is
// checked in a scratch root holding this system's own units, the unit and a stand-in for each
// program it starts (this machine has no /opt/airlock or /usr/local/sbin/guacd). Any word of
// complaint counts, since verify exits 0 on unknown keys and unparsable values.
import { describe, expect, test } from '@jest/globals';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const DEPLOY = path.resolve(import.meta.dirname, '../deploy');
const SYSTEM_UNITS = '/usr/lib/systemd/system';
const UNIT_SUFFIX = /\.(service|socket|timer|target|path)$/;
const units = readdirSync(DEPLOY).filter((f) => UNIT_SUFFIX.test(f));
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const available = analyze.status === 0 && existsSync(SYSTEM_UNITS);
if (!available) {
  process.stderr.write('deploy-units: systemd-analyze is not installed (Debian: apt-get install systemd): the unit files under deploy/ were NOT verified\n');
}

/** The programs a unit starts (Exec*= lines), without systemd's prefixes (-, @, +, !, :). */
function programsOf(unitText: string): string[] {
  return [...unitText.matchAll(/^Exec[A-Za-z]*=[-@+!:]*(\/\S+)/gm)].map((m) => m[1] ?? '');
}

/** `systemd-analyze verify` on the unit text in a scratch root; returns its exit code and every word it said. */
async function verify(name: string, text: string): Promise<{ code: number; output: string }> {
  const root = mkdtempSync(path.join(tmpdir(), 'airlock-units-'));
  try {
    mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync(SYSTEM_UNITS, path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    symlinkSync('usr/lib', path.join(root, 'lib'));
    mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(path.join(root, 'etc/systemd/system', name), text);
    for (const program of programsOf(text)) {
      const stub = path.join(root, program);
      mkdirSync(path.dirname(stub), { recursive: true });
      writeFileSync(stub, '#!/bin/sh\n');
      chmodSync(stub, 0o755);
    }
    return await promisify(execFile)('systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', name]).then(
      (r) => ({ code: 0, output: `${r.stdout}${r.stderr}`.trim() }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('systemd units under deploy/', () => {
  test('the portal and guacd units are shipped', () => {
    expect(units).toEqual(expect.arrayContaining(['airlock-portal.service', 'guacd.service']));
    for (const unit of units) expect(programsOf(readFileSync(path.join(DEPLOY, unit), 'utf8')).length).toBeGreaterThan(0);
  });

  (available ? test.each(units) : test.skip.each(units))('%s passes systemd-analyze verify without a word of complaint', async (unit) => {
    expect(await verify(unit, readFileSync(path.join(DEPLOY, unit), 'utf8'))).toEqual({ code: 0, output: '' });
  });

  (available ? test : test.skip)('the check catches a broken unit (an unknown key, a bad value, a missing program)', async () => {
    const good = readFileSync(path.join(DEPLOY, 'airlock-portal.service'), 'utf8');
    expect((await verify('broken.service', good.replace('[Service]', '[Service]\nRestartEvery=2'))).output).toContain("Unknown key 'RestartEvery'");
    expect((await verify('broken.service', good.replace('ProtectSystem=strict', 'ProtectSystem=sometimes'))).output).toContain('Failed to parse protect system value');
    const missing = await verify('broken.service', `${good}\n[Service]\nExecStartPost=nothing-absolute\n`);
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain('Command nothing-absolute is not executable');
  });
});
