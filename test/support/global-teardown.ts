// Stops everything global-setup started; nothing may be left running after the suite.
import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  await globalThis.airlockTestSupervisor?.stop();
  const stateDir = process.env['AIRLOCK_TEST_STATE_DIR'];
  // AIRLOCK_TEST_KEEP_STATE=1 keeps the services' logs for a post-mortem (the path is printed).
  if (stateDir === undefined) return;
  if (process.env['AIRLOCK_TEST_KEEP_STATE'] === '1') process.stdout.write(`airlock: test service logs kept in ${stateDir}\n`);
  else rmSync(stateDir, { recursive: true, force: true });
}
