// Stops everything global-setup started; nothing may be left running after the suite.
import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  await globalThis.airlockTestSupervisor?.stop();
  const stateDir = process.env['AIRLOCK_TEST_STATE_DIR'];
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
}
