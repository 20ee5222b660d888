// Services of a test's own (a Redis or guacd no other suite uses), so that it can stop, hang
// (SIGSTOP) and resume them without disturbing the shared ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServices, type ServiceName, type Supervisor } from '../../dev/supervisor.ts';

/** The supervisor of these services, and: */
export interface PrivateServices extends Supervisor {
  /** Their state directory (a test may keep its spool under it). */
  stateDir: string;
  /** Sends `sig` to every process of these services; a pid already gone (a stopped service) is skipped. */
  signal(sig: NodeJS.Signals): void;
  /** Resumes anything hung, stops them and removes their state. */
  close(): Promise<void>;
}

export async function privateServices(name: string, names: ServiceName[]): Promise<PrivateServices> {
  const stateDir = mkdtempSync(path.join(tmpdir(), `airlock-${name}-`));
  const supervisor = await startServices({ stateDir, services: names });
  const signal = (sig: NodeJS.Signals): void => {
    for (const pid of supervisor.pids()) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone already
      }
    }
  };
  return {
    get services() {
      return supervisor.services;
    },
    stopService: (service) => supervisor.stopService(service),
    startService: (service) => supervisor.startService(service),
    stop: () => supervisor.stop(),
    pids: () => supervisor.pids(),
    signalRedisNode: (port, sig) => supervisor.signalRedisNode(port, sig),
    restartRedisNode: (port, opts) => supervisor.restartRedisNode(port, opts),
    stateDir,
    signal,
    async close() {
      signal('SIGCONT');
      await supervisor.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
