// A portal whose guacd is reached through a CountingGuacdProxy, so a test can tell whether
// anything dialled guacd; recording into a spool of its own, the demo plant and targets seeded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './portal.ts';
import { sharedGuacd } from './services.ts';
import { CountingGuacdProxy } from './tunnel.ts';
import { seedDemoPlant } from './workflow.ts';

export interface ProxiedPortal {
  portal: TestPortal;
  proxy: CountingGuacdProxy;
  spool: string;
  close(): Promise<void>;
}

/** `env` adds to the portal's environment. */
export async function startProxiedPortal(name: string, freshDb: number, env: Record<string, string> = {}): Promise<ProxiedPortal> {
  const proxy = await CountingGuacdProxy.start(sharedGuacd());
  const spool = mkdtempSync(path.join(tmpdir(), `airlock-${name}-`));
  const portal = await startTestPortal({ AIRLOCK_GUACD: `127.0.0.1:${proxy.port}`, AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1', ...env }, { freshDb });
  await seedDemoPlant(portal, { targets: true });
  return {
    portal,
    proxy,
    spool,
    async close() {
      await portal.close();
      await proxy.close();
      rmSync(spool, { recursive: true, force: true });
    },
  };
}
