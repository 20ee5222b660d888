// A portal whose guacd is reached through a CountingGuacdProxy, so a test can tell whether
// anything dialled guacd; recording into a spool of its own, the demo plant and targets seeded.
import { startPlantPortal } from './plant-portal.ts';
import type { TestPortal } from './portal.ts';
import { sharedGuacd } from './services.ts';
import { CountingGuacdProxy } from './tunnel.ts';

export interface ProxiedPortal {
  portal: TestPortal;
  proxy: CountingGuacdProxy;
  spool: string;
  close(): Promise<void>;
}

/** `env` adds to the portal's environment. */
export async function startProxiedPortal(name: string, freshDb: number, env: Record<string, string> = {}): Promise<ProxiedPortal> {
  const proxy = await CountingGuacdProxy.start(sharedGuacd());
  const plant = await startPlantPortal(name, { freshDb, env: { AIRLOCK_GUACD: `127.0.0.1:${proxy.port}`, ...env } });
  return {
    portal: plant.portal,
    proxy,
    spool: plant.spool,
    async close() {
      await plant.close();
      await proxy.close();
    },
  };
}
