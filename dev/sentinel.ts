// Looking at a running Sentinel topology (dev/supervisor.ts `sentinel`) the way the tests and
// the bench need to: which node is the master now, and is every sentinel ready for the next
// failover (it sees the master, both replicas healthy, and the other sentinels).
import { createClient } from 'redis';
import { setTimeout as delay } from 'node:timers/promises';
import type { SentinelTopology } from './supervisor.ts';

/** How often the waits below look again. */
const POLL_MS = 100;

/** One command to a sentinel or a data node, on a connection of its own. */
async function ask<T>(port: number, command: string[], read: (reply: unknown) => T): Promise<T> {
  const client = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return read(await client.sendCommand(command));
  } finally {
    client.destroy();
  }
}

/** RESP2 field/value arrays (SENTINEL MASTER, SENTINEL REPLICAS entries) as objects. */
function fields(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const list = Array.isArray(reply) ? (reply as unknown[]) : [];
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = String(list[i + 1]);
  return out;
}

/** The master's port as the first answering sentinel names it. */
export async function sentinelMaster(t: SentinelTopology): Promise<number> {
  let last: unknown;
  for (const s of t.sentinels) {
    try {
      return await ask(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', t.masterName], (r) => Number((r as string[])[1]));
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no sentinel answered: ${String(last)}`);
}

/**
 * Every sentinel agrees on the master and sees `replicas` replicas up and the other sentinels,
 * and the master has that many replicas in sync. (A sentinel refreshes a replica's link status
 * only every 10 s; the master's own INFO is current.)
 */
export async function topologyReady(t: SentinelTopology, replicas = t.nodes.length - 1): Promise<{ master: number } | undefined> {
  const views = await Promise.all(
    t.sentinels.map(async (s) => {
      const master = fields(await ask(s.port, ['SENTINEL', 'MASTER', t.masterName], (r) => r));
      const list = await ask(s.port, ['SENTINEL', 'REPLICAS', t.masterName], (r) => (Array.isArray(r) ? (r as unknown[]).map(fields) : []));
      const healthy = list.filter((r) => r['flags'] === 'slave').length;
      const ok = master['flags'] === 'master' && healthy >= replicas && Number(master['num-other-sentinels']) === t.sentinels.length - 1;
      return ok ? Number(master['port']) : undefined;
    }),
  ).catch(() => [undefined]);
  const [first] = views;
  if (first === undefined || !views.every((v) => v === first)) return undefined;
  const info = await ask(first, ['INFO', 'replication'], (r) => String(r)).catch(() => '');
  return (info.match(/^slave\d+:.*state=online/gm) ?? []).length >= replicas ? { master: first } : undefined;
}

/** Waits until topologyReady holds (and, if given, the master is not `notOn`); returns the master's port. */
export async function waitForTopology(t: SentinelTopology, opts: { timeoutMs: number; notOn?: number; replicas?: number }): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const ready = await topologyReady(t, opts.replicas);
    if (ready !== undefined && ready.master !== opts.notOn) return ready.master;
    if (Date.now() > deadline) throw new Error(`the sentinel topology was not ready within ${opts.timeoutMs} ms`);
    await delay(POLL_MS);
  }
}
