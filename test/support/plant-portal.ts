// A portal with the demo plant and its real targets, recording into a fresh spool (and, when
// asked, a store) of its own: what the session suites start from. `close` removes them too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './portal.ts';
import { seedDemoPlant } from './workflow.ts';

export interface PlantPortal {
  portal: TestPortal;
  spool: string;
  /** The recording store; '' unless asked for. */
  store: string;
  close(): Promise<void>;
}

/** `env` adds to the portal's environment (and may override the recording settings). */
export async function startPlantPortal(name: string, options: { freshDb: number; store?: boolean; env?: Record<string, string> }): Promise<PlantPortal> {
  const spool = mkdtempSync(path.join(tmpdir(), `airlock-${name}-spool-`));
  const store = options.store === true ? mkdtempSync(path.join(tmpdir(), `airlock-${name}-store-`)) : '';
  const env: Record<string, string> = { AIRLOCK_RECORDING_SPOOL: spool, ...(store === '' ? {} : { AIRLOCK_RECORDING_STORE: store }), AIRLOCK_RECORDING_MIN_FREE_MB: '1', ...options.env };
  const portal = await startTestPortal(env, { freshDb: options.freshDb });
  await seedDemoPlant(portal, { targets: true });
  return {
    portal,
    spool,
    store,
    async close() {
      await portal.close();
      for (const dir of [spool, store]) if (dir !== '') rmSync(dir, { recursive: true, force: true });
    },
  };
}
