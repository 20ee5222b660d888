// SIEM forwarding as a portal plugin: on when AIRLOCK_SYSLOG_URL is set. Every audit event goes
// to the syslog receiver as RFC 5424 with a CEF payload (format.ts), from one instance at a time.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { PluginFactory } from '../plugins/contract.ts';
import { formatSyslog } from './format.ts';
import { SiemForwarder } from './forwarder.ts';
import { createTransport } from './transport.ts';

/**
 * The product version for the CEF header, from package.json two levels up: the portal runs from
 * source (Node strips the types), so this file is always server/siem/plugin.ts.
 */
function productVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && (pkg as Record<string, unknown>)['name'] === 'airlock') {
      const version = (pkg as Record<string, unknown>)['version'];
      if (typeof version === 'string') return version;
    }
  } catch {
    // An unreadable package.json only costs the version in the CEF header.
  }
  return 'unknown';
}

export function siemPluginFactory(): PluginFactory {
  return async (ctx) => {
    const siem = ctx.config.siem;
    if (siem === undefined) return undefined;
    const log = ctx.log.child({ plugin: 'siem' });
    const transport = createTransport(siem);
    const header = { facility: siem.facility, hostname: hostname(), appName: siem.appName, procId: ctx.config.instanceId, version: productVersion() };
    const forwarder = new SiemForwarder({
      redis: ctx.redis,
      transport,
      log,
      instanceId: ctx.config.instanceId,
      format: (entry) => formatSyslog(entry, header),
    });
    await forwarder.start();
    log.info({ destination: transport.destination, facility: siem.facility, appName: siem.appName }, 'siem forwarding configured');
    return { name: 'siem', stop: () => forwarder.stop() };
  };
}
