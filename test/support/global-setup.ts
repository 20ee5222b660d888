// Starts the real services the suites share (Redis, guacd, the targets) once per Jest run and
// hands their addresses to the test files through the environment. Suites that must stop a
// service (e.g. to see /readyz fail) start a private one of their own instead.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { startServices, type Supervisor } from '../../dev/supervisor.ts';

declare global {
  var airlockTestSupervisor: Supervisor | undefined;
}

export default async function globalSetup(): Promise<void> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-test-'));
  // Target accounts per checkout: two checkouts testing at once (a developer and CI, say) must
  // not reset each other's passwords; one checkout reuses its accounts run after run.
  const checkout = createHash('sha256').update(path.resolve(import.meta.dirname, '../..')).digest('hex').slice(0, 6);
  // AIRLOCK_GUACD_BIN: run the suites against another guacd build (CI's guacd 1.6 compatibility run).
  const guacdBin = process.env['AIRLOCK_GUACD_BIN'];
  const supervisor = await startServices({ stateDir, userPrefix: `airlock-t${checkout}`, ...(guacdBin === undefined || guacdBin === '' ? {} : { guacdBin }) });
  globalThis.airlockTestSupervisor = supervisor;
  process.env['AIRLOCK_TEST_SERVICES'] = JSON.stringify(supervisor.services);
  process.env['AIRLOCK_TEST_STATE_DIR'] = stateDir;
}
