// The demo: private Redis, guacd and demo targets (supervisor), then the portal in demo mode
// (embedded dev IdP). Prints where to go and how to sign in; Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import path from 'node:path';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { startServices } from '../dev/supervisor.ts';
import { DEMO_ACCOUNTS, demoTotpSecret } from '../server/auth/dev-idp.ts';
import { demoCredentials, demoInventory } from '../dev/demo-inventory.ts';
import { connectRedis } from '../server/redis.ts';
import { createLogger } from '../server/log.ts';
import { InventoryStore } from '../server/inventory/store.ts';
import { Vault } from '../server/vault/vault.ts';
import { generateKeyringEntry, parseKeyring } from '../server/keyring.ts';
import { startDemoChat } from '../dev/fakes/demo.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const STATE_DIR = path.join(ROOT, '.airlock', 'demo');
/** The demo's port unless AIRLOCK_PORT says otherwise; the demo is a development tool, so it reads the env here. */
const PORT = Number(process.env['AIRLOCK_PORT'] ?? 8080);
/** How long the portal gets to become ready before the demo gives up. */
const PORTAL_READY_TIMEOUT_MS = 30_000;

mkdirSync(STATE_DIR, { recursive: true });
const started = Date.now();
// Target accounts per checkout (as the tests' are): two demos on one host must not reset each
// other's passwords; one checkout reuses its accounts run after run.
const checkout = createHash('sha256').update(ROOT).digest('hex').slice(0, 6);
const guacdBin = process.env['AIRLOCK_GUACD_BIN'];
const supervisor = await startServices({
  stateDir: STATE_DIR,
  userPrefix: `airlock-d${checkout}`,
  log: (line) => process.stderr.write(`airlock: ${line}\n`),
  ...(guacdBin === undefined || guacdBin === '' ? {} : { guacdBin }),
});
const { redis, guacd } = supervisor.services;
if (redis === undefined || guacd === undefined) throw new Error('supervisor started no Redis or guacd');

// The demo plant: inventory file (no secrets), a keyring kept across demo runs, and the
// targets' fresh per-run credentials sealed straight into the vault.
const inventoryFile = path.join(STATE_DIR, 'inventory.yaml');
const keyringFile = path.join(STATE_DIR, 'vault.keys');
const signingKeyFile = path.join(STATE_DIR, 'signing-key.pem');
const inventory = demoInventory(supervisor.services);
/** The demo's step-up machine: opening it needs a sign-in with the one-time code within this many minutes. */
const DEMO_STEP_UP_MINUTES = 15;
// Only the demo's copy: the test suites' plant (the same demoInventory) opens without step-up.
for (const machine of inventory.machines) if (machine.id === 'scada-historian') machine.stepUpMinutes = DEMO_STEP_UP_MINUTES;
writeFileSync(inventoryFile, toYaml(inventory));
if (!existsSync(keyringFile)) writeFileSync(keyringFile, `${generateKeyringEntry('demo1')}\n`, { mode: 0o600 });
// Kept across demo runs, so recordings from earlier runs still verify.
if (!existsSync(signingKeyFile)) {
  writeFileSync(signingKeyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
}
{
  const redisClient = await connectRedis(redis.url, createLogger('warn'), 'airlock-demo-seed');
  // Forced: the targets' ports change from run to run.
  await new InventoryStore(redisClient).seed(inventory, true);
  const vault = new Vault(redisClient, parseKeyring(readFileSync(keyringFile, 'utf8')));
  for (const [machineId, credential] of Object.entries(demoCredentials(supervisor.services))) await vault.store(machineId, credential);
  redisClient.destroy();
}

// AIRLOCK_DEMO_CHAT=fakes: chat approvals posted into local fakes of Slack, Teams and Mattermost.
const chatFile = path.join(STATE_DIR, 'chat.yaml');
const demoChat = process.env['AIRLOCK_DEMO_CHAT'] === 'fakes' ? await startDemoChat() : undefined;

const password = process.env['AIRLOCK_DEV_IDP_PASSWORD'] ?? randomBytes(6).toString('base64url');
const publicUrl = `http://localhost:${PORT}`;
if (demoChat !== undefined) {
  writeFileSync(chatFile, toYaml(demoChat.config), { mode: 0o600 });
  demoChat.setPortal(publicUrl);
}
// The RDP drive folders live on guacd's host (this one in the demo): the root must exist.
mkdirSync(path.join(STATE_DIR, 'rdp-drives'), { recursive: true, mode: 0o700 });
const portalEnv = {
  ...process.env,
  AIRLOCK_MODE: 'demo',
  AIRLOCK_PORT: String(PORT),
  AIRLOCK_PUBLIC_URL: publicUrl,
  AIRLOCK_REDIS_URL: redis.url,
  AIRLOCK_GUACD: `${guacd.host}:${guacd.port}`,
  AIRLOCK_INSECURE_HTTP_COOKIES: 'true',
  AIRLOCK_DEV_IDP_PASSWORD: password,
  AIRLOCK_INVENTORY_FILE: inventoryFile,
  AIRLOCK_VAULT_KEYS_FILE: keyringFile,
  ...(demoChat === undefined ? {} : { AIRLOCK_CHAT_FILE: chatFile }),
  AIRLOCK_RECORDING_SPOOL: path.join(STATE_DIR, 'spool'),
  AIRLOCK_RECORDING_STORE: path.join(STATE_DIR, 'recordings'),
  AIRLOCK_SIGNING_KEY_FILE: signingKeyFile,
  // The file airlock scans with the supervisor's private clamd (generated signatures: EICAR and a test marker).
  ...(supervisor.services.clamd === undefined ? {} : { AIRLOCK_CLAMD: `unix:${supervisor.services.clamd.socket}` }),
  AIRLOCK_QUARANTINE_DIR: path.join(STATE_DIR, 'quarantine'),
  AIRLOCK_RDP_DRIVE_ROOT: path.join(STATE_DIR, 'rdp-drives'),
  // One instance and no load balancer: stopping the demo ends its sessions at once.
  AIRLOCK_DRAIN_SECONDS: '0',
};
const portal = spawn(process.execPath, [path.join(ROOT, 'server/app/main.ts')], { stdio: ['ignore', 'inherit', 'inherit'], env: portalEnv });
// The renderer worker beside it, as in production (keyframes, thumbnails, activity strip).
const worker = spawn(process.execPath, [path.join(ROOT, 'scripts/airlock.ts'), 'worker'], { stdio: ['ignore', 'inherit', 'inherit'], env: portalEnv });

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    portal.kill('SIGTERM');
    worker.kill('SIGTERM');
    await demoChat?.close();
    await supervisor.stop();
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
portal.on('exit', (code) => {
  if (!stopping) {
    process.stderr.write(`airlock: the portal exited (code ${code}); stopping the demo\n`);
    void stop(1);
  }
});

async function portalReady(): Promise<boolean> {
  try {
    return (await fetch(`${publicUrl}/readyz`)).status === 200;
  } catch {
    return false;
  }
}
const deadline = Date.now() + PORTAL_READY_TIMEOUT_MS;
while (!(await portalReady())) {
  if (Date.now() > deadline) {
    process.stderr.write('airlock: the portal did not become ready in time\n');
    await stop(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}

const accounts = DEMO_ACCOUNTS.map((a) => `    ${a.username.padEnd(8)} ${a.describes.padEnd(40)} ${demoTotpSecret(password, a.username)}`).join('\n');
process.stdout.write(`
  Airlock demo is running (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)

  Open            ${publicUrl}
  Sign in as one of (password: ${password}; the last column is the account's one-time-code
  secret, for any authenticator app or \`oathtool --totp -b SECRET\`)
${accounts}

  The SCADA historian needs a sign-in with the one-time code within ${DEMO_STEP_UP_MINUTES} minutes (step-up).

${demoChat === undefined ? '' : `  Chat approvals post into local fakes of Slack, Teams and Mattermost:\n${demoChat.describe()}\n\n`}  Ctrl-C stops the portal and every service it started.
`);
