// The demo plant: two sites, two vendor companies and one machine per demo target (SSH with a
// password and with a key, VNC, RDP, Telnet), pointing at the supervisor's private targets, a
// second SSH machine whose sessions wait for a plant observer (required observer), and an
// engineering station (SSH) and an MES terminal (RDP) that take files through the airlock.
import type { RunningServices } from './supervisor.ts';
import type { Credential, InventoryFile } from '../server/inventory/schema.ts';

/** Where a machine points when its target is not running (tests of the workflow alone). */
const UNREACHABLE = { host: '127.0.0.1', port: 9 };

export function demoInventory(services: RunningServices): InventoryFile {
  const at = (t: { host: string; port: number } | undefined) => (t === undefined ? UNREACHABLE : { host: t.host, port: t.port });
  // SSH machines pin the test sshd's host key, as production machines must (unreachable ones pin nothing: there is no key to pin).
  const sshd = services.sshd === undefined ? UNREACHABLE : { ...at(services.sshd), hostKey: services.sshd.hostKey };
  return {
    sites: [
      {
        id: 'site-a', name: 'Plant A (Lyon)', timeZone: 'Europe/Paris',
        // Clean files go in at once; what leaves the plant waits for a plant manager; no executables.
        files: { release: 'auto', downloads: 'approval', maxBytes: 200 * 1024 * 1024, allowedTypes: [], blockedTypes: ['.exe', '.msi', '.bat', '.ps1'] },
      },
      { id: 'site-b', name: 'Plant B (Porto)', timeZone: 'Europe/Lisbon' },
    ],
    companies: [
      { id: 'acme-automation', name: 'Acme Automation', sites: ['site-a'] },
      { id: 'bolt-robotics', name: 'Bolt Robotics', sites: ['site-a', 'site-b'] },
    ],
    machines: [
      {
        id: 'cnc-07', name: 'CNC 07 controller', siteId: 'site-a', protocol: 'ssh', guacd: 'default', ...sshd,
        maxWindowMinutes: 240, requiredApprovals: 1, tags: ['CNC', 'Linux'], chatDecision: 'allowed',
        policy: { clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: false },
      },
      {
        id: 'press-hmi', name: 'Press line HMI', siteId: 'site-a', protocol: 'vnc', guacd: 'default', ...at(services.vnc),
        maxWindowMinutes: 120, requiredApprovals: 1, tags: ['HMI', 'Windows XP'], chatDecision: 'allowed',
        policy: { clipboardCopy: false, clipboardPaste: true, fileTransfer: false, readOnly: false },
      },
      {
        id: 'scada-historian', name: 'SCADA historian', siteId: 'site-a', protocol: 'rdp', guacd: 'default', ...at(services.rdp),
        maxWindowMinutes: 480, requiredApprovals: 2, tags: ['SCADA', 'Windows Server'], rdpSecurity: 'any', chatDecision: 'web-only',
        policy: { clipboardCopy: false, clipboardPaste: true, fileTransfer: false, readOnly: false },
      },
      {
        id: 'plc-gateway', name: 'PLC gateway', siteId: 'site-b', protocol: 'telnet', guacd: 'default', ...at(services.telnet),
        maxWindowMinutes: 60, requiredApprovals: 1, tags: ['PLC'], chatDecision: 'allowed',
        policy: { clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: false },
      },
      {
        id: 'robot-cell-4', name: 'Robot cell 4 controller', siteId: 'site-b', protocol: 'ssh', guacd: 'default', ...sshd,
        maxWindowMinutes: 240, requiredApprovals: 1, tags: ['Robot', 'Linux'], chatDecision: 'allowed',
        policy: { clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: false },
      },
      {
        id: 'furnace-ctl', name: 'Furnace controller (observed)', siteId: 'site-a', protocol: 'ssh', guacd: 'default', ...sshd,
        maxWindowMinutes: 120, requiredApprovals: 1, tags: ['Furnace', 'Linux', 'Safety'], chatDecision: 'allowed',
        policy: { clipboardCopy: false, clipboardPaste: true, fileTransfer: false, readOnly: false },
        // Safety-critical: nothing the vendor types reaches it unless a plant person watches.
        observer: 'required', observerGraceSeconds: 0, observerLimitMinutes: 15,
      },
      {
        id: 'eng-station', name: 'Engineering station', siteId: 'site-a', protocol: 'ssh', guacd: 'default', ...sshd,
        maxWindowMinutes: 240, requiredApprovals: 1, tags: ['Engineering', 'Linux', 'Files'], chatDecision: 'allowed',
        policy: { clipboardCopy: false, clipboardPaste: true, fileTransfer: true, readOnly: false },
      },
      {
        id: 'mes-terminal', name: 'MES terminal', siteId: 'site-a', protocol: 'rdp', guacd: 'default', ...at(services.rdp),
        maxWindowMinutes: 240, requiredApprovals: 1, tags: ['MES', 'Windows', 'Files'], rdpSecurity: 'any', chatDecision: 'allowed',
        policy: { clipboardCopy: false, clipboardPaste: true, fileTransfer: true, readOnly: false },
      },
    ],
  };
}

/** The targets' per-run accounts, keyed by machine id (robot-cell-4 signs in with the SSH key). */
export function demoCredentials(services: RunningServices): Record<string, Credential> {
  const out: Record<string, Credential> = {};
  const ssh = services.sshd?.account;
  if (ssh !== undefined) {
    out['cnc-07'] = { username: ssh.username, password: ssh.password };
    out['furnace-ctl'] = { username: ssh.username, password: ssh.password };
    out['eng-station'] = { username: ssh.username, password: ssh.password };
    if (ssh.privateKey !== undefined) out['robot-cell-4'] = { username: ssh.username, privateKey: ssh.privateKey };
  }
  if (services.vnc !== undefined) out['press-hmi'] = { username: 'vnc', password: services.vnc.password };
  if (services.rdp !== undefined) {
    out['scada-historian'] = { username: services.rdp.account.username, password: services.rdp.account.password };
    out['mes-terminal'] = { username: services.rdp.account.username, password: services.rdp.account.password };
  }
  if (services.telnet !== undefined) out['plc-gateway'] = { username: services.telnet.account.username, password: services.telnet.account.password };
  return out;
}
