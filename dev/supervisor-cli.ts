// Command line for the dev/test service supervisor: starts private Redis, guacd and the demo
// targets, prints one JSON line (ports, generated credentials) on stdout, and stops everything
// on SIGINT/SIGTERM. Progress goes to stderr.
//   node dev/supervisor-cli.ts [--state-dir DIR] [--services redis,guacd] [--ports guacd=4822]
//   node dev/supervisor-cli.ts --services sentinel     (a Redis master, two replicas, three sentinels)
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_SERVICES, OPTIONAL_SERVICES, startServices, type ServiceName, type Supervisor, type SupervisorOptions } from './supervisor.ts';

const KNOWN_SERVICES: readonly ServiceName[] = [...ALL_SERVICES, ...OPTIONAL_SERVICES];

function isServiceName(name: string): name is ServiceName {
  return (KNOWN_SERVICES as readonly string[]).includes(name);
}

function parseServiceList(text: string): ServiceName[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !isServiceName(n));
  if (unknown.length > 0) throw new Error(`unknown service(s): ${unknown.join(', ')} (known: ${KNOWN_SERVICES.join(', ')})`);
  return names as ServiceName[];
}

function parsePorts(text: string): Partial<Record<ServiceName, number>> {
  const ports: Partial<Record<ServiceName, number>> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const [name = '', value = ''] = pair.split('=');
    const port = Number(value);
    if (!isServiceName(name) || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad --ports entry ${JSON.stringify(pair)}`);
    ports[name] = port;
  }
  return ports;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'state-dir': { type: 'string' },
      services: { type: 'string' },
      ports: { type: 'string' },
      'user-prefix': { type: 'string' },
      'ready-timeout-ms': { type: 'string' },
    },
  });
  const options: SupervisorOptions = {
    stateDir: values['state-dir'] ?? (await mkdtemp(path.join(os.tmpdir(), 'airlock-dev-'))),
    log: (line) => process.stderr.write(`supervisor: ${line}\n`),
  };
  if (values.services) options.services = parseServiceList(values.services);
  if (values.ports) options.ports = parsePorts(values.ports);
  if (values['user-prefix']) options.userPrefix = values['user-prefix'];
  if (values['ready-timeout-ms']) options.readyTimeoutMs = Number(values['ready-timeout-ms']);

  // Handlers go in before starting, so a Ctrl-C during start-up still stops what was started.
  let supervisor: Supervisor | undefined;
  let stopRequested = false;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (supervisor ? supervisor.stop() : Promise.resolve()).then(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    return stopping;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    options.log?.(`${sig}: stopping`);
    stopRequested = true;
    if (supervisor) void shutdown().catch(exitWithError);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  supervisor = await startServices(options);
  process.stdout.write(`${JSON.stringify({ stateDir: path.resolve(options.stateDir), services: supervisor.services })}\n`);
  if (stopRequested) await shutdown();
}

function exitWithError(error: unknown): void {
  process.stderr.write(`supervisor: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

main().catch(exitWithError);
