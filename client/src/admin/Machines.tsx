// Machines: the table, an edit form for every administrable field, delete, and the write-only
// credential form. No credential is ever shown: only whether one is set.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import {
  adminDeleteMachine,
  adminListMachines,
  adminPutCredential,
  adminPutMachine,
  CHAT_DECISIONS,
  errorMessage,
  PERMISSIONS,
  PROTOCOLS,
  RDP_SECURITY,
  type ChatDecision,
  type MachineAdminView,
  type MachineInput,
  type Policy,
  type Protocol,
  type RdpSecurity,
  type Site,
} from '../api.ts';
import { Chips, ErrorMessage, Loading, policySummary } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';
import { formatDuration } from '../shared/time.ts';
import { FormFooter, RowActions, useSaving } from './form.tsx';

/** The usual listening port of each protocol, offered when the admin picks one. */
const DEFAULT_PORTS: Record<Protocol, number> = { rdp: 3389, vnc: 5900, ssh: 22, telnet: 23 };
/** A new machine's default window: half a shift. */
const DEFAULT_MAX_WINDOW_MINUTES = 240;
/** The server's bounds on a machine's window: at least 5 minutes, at most a week. */
const MIN_WINDOW_MINUTES = 5;
const MAX_WINDOW_MINUTES = 7 * 24 * 60;
/** The guacd every portal has; plants with several segments configure more (AIRLOCK_GUACD). */
const DEFAULT_GUACD = 'default';
const MAX_PORT = 65535;

type Panel = { kind: 'edit'; machine: MachineAdminView | null } | { kind: 'credential'; machine: MachineAdminView } | null;

export function Machines({ sites }: { sites: Site[] }) {
  const { state, reload } = useLoad<MachineAdminView[]>(adminListMachines, 'admin-machines');
  const [panel, setPanel] = useState<Panel>(null);
  const panelRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (panel !== null) panelRef.current?.scrollIntoView({ block: 'nearest' });
  }, [panel]);

  return (
    <section className="card" data-testid="machines">
      <div className="heading">
        <h2>Machines</h2>
        <button type="button" onClick={() => setPanel({ kind: 'edit', machine: null })} disabled={sites.length === 0} data-testid="add-machine">
          Add machine
        </button>
      </div>
      {state.status === 'loading' && <Loading />}
      {state.status === 'error' && <ErrorMessage message={state.message} testId="machines-load-error" />}
      {state.status === 'ready' && (
        <>
          <ErrorMessage message={state.refreshError} />
          {state.data.length === 0 ? (
            <p className="muted">No machines yet.</p>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th>Machine</th>
                  <th>Address</th>
                  <th>Tags</th>
                  <th>Rules</th>
                  <th>Credential</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {state.data.map((m) => (
                  <tr key={m.id} data-testid={`machine-row-${m.id}`}>
                    <td>
                      <strong>{m.name}</strong>
                      <div className="muted">
                        <code>{m.id}</code> · {m.siteName}
                      </div>
                    </td>
                    <td>
                      <span className="protocol">{m.protocol.toUpperCase()}</span> {m.host}:{m.port}
                      {m.protocol === 'rdp' && m.rdpSecurity != null && <div className="muted">security {m.rdpSecurity}</div>}
                      <div className="muted">guacd {m.guacd}</div>
                    </td>
                    <td>
                      <Chips items={m.tags} />
                    </td>
                    <td>
                      up to {formatDuration(m.maxWindowMinutes)} · {m.requiredApprovals === 2 ? '2 approvals' : '1 approval'}
                      <div className="muted">{policySummary(m.policy)}</div>
                      <div className="muted">chat {m.chatDecision}</div>
                    </td>
                    <td>
                      <span className={m.hasCredential ? 'badge ok' : 'badge missing'} data-testid={`credential-${m.id}`} data-has-credential={String(m.hasCredential)}>
                        {m.hasCredential ? 'credential set' : 'no credential'}
                      </span>
                    </td>
                    <RowActions
                      entity="machine"
                      id={m.id}
                      name={m.name}
                      onEdit={() => setPanel({ kind: 'edit', machine: m })}
                      onDelete={async () => {
                        await adminDeleteMachine(m.id);
                        if (panel !== null && panel.machine?.id === m.id) setPanel(null);
                        reload();
                      }}
                    >
                      <button type="button" className="secondary" onClick={() => setPanel({ kind: 'credential', machine: m })} data-testid={`set-credential-${m.id}`}>
                        Set credential
                      </button>
                    </RowActions>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <div ref={panelRef}>
        {panel?.kind === 'edit' && (
          <MachineForm
            key={panel.machine?.id ?? 'new'}
            machine={panel.machine}
            sites={sites}
            onSaved={() => {
              setPanel(null);
              reload();
            }}
            onClose={() => setPanel(null)}
          />
        )}
        {panel?.kind === 'credential' && <CredentialForm key={panel.machine.id} machine={panel.machine} onSaved={reload} onClose={() => setPanel(null)} />}
      </div>
    </section>
  );
}

/** The form's own view of a machine: inputs hold strings until saved. */
interface Draft {
  id: string;
  name: string;
  siteId: string;
  protocol: Protocol;
  host: string;
  port: string;
  guacd: string;
  /** '' leaves it unset: guacd negotiates. */
  rdpSecurity: RdpSecurity | '';
  tags: string;
  requiredApprovals: '1' | '2';
  maxWindowMinutes: string;
  chatDecision: ChatDecision;
  policy: Policy;
}

function draftOf(m: MachineAdminView | null, sites: Site[]): Draft {
  if (m === null) {
    return {
      id: '',
      name: '',
      siteId: sites[0]?.id ?? '',
      protocol: 'rdp',
      host: '',
      port: String(DEFAULT_PORTS.rdp),
      guacd: DEFAULT_GUACD,
      rdpSecurity: '',
      tags: '',
      requiredApprovals: '1',
      maxWindowMinutes: String(DEFAULT_MAX_WINDOW_MINUTES),
      chatDecision: 'allowed',
      // Least privilege for a new machine: nothing beyond the screen until the admin says so.
      policy: { clipboardCopy: false, clipboardPaste: false, fileTransfer: false, readOnly: false },
    };
  }
  return {
    id: m.id,
    name: m.name,
    siteId: m.siteId,
    protocol: m.protocol,
    host: m.host,
    port: String(m.port),
    guacd: m.guacd,
    rdpSecurity: m.rdpSecurity ?? '',
    tags: m.tags.join(', '),
    requiredApprovals: m.requiredApprovals === 2 ? '2' : '1',
    maxWindowMinutes: String(m.maxWindowMinutes),
    chatDecision: m.chatDecision,
    policy: { ...m.policy },
  };
}

/** The PUT body from a draft, or the first thing wrong with it. */
function inputOf(d: Draft): MachineInput | string {
  const port = Number(d.port);
  const maxWindowMinutes = Number(d.maxWindowMinutes);
  if (d.id.trim() === '') return 'Give the machine an ID.';
  if (d.name.trim() === '') return 'Give the machine a name.';
  if (d.siteId === '') return 'Choose a site.';
  if (d.host.trim() === '') return 'Enter the host the broker connects to.';
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) return `The port must be a whole number from 1 to ${MAX_PORT}.`;
  if (!Number.isInteger(maxWindowMinutes) || maxWindowMinutes < MIN_WINDOW_MINUTES || maxWindowMinutes > MAX_WINDOW_MINUTES) {
    return `The maximum window must be a whole number of minutes from ${MIN_WINDOW_MINUTES} to ${MAX_WINDOW_MINUTES} (a week).`;
  }
  if (d.guacd.trim() === '') return 'Name the guacd that serves this machine (usually “default”).';
  const tags = [...new Set(d.tags.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
  return {
    id: d.id.trim(),
    name: d.name.trim(),
    siteId: d.siteId,
    protocol: d.protocol,
    host: d.host.trim(),
    port,
    guacd: d.guacd.trim(),
    ...(d.protocol === 'rdp' && d.rdpSecurity !== '' ? { rdpSecurity: d.rdpSecurity } : {}),
    tags,
    requiredApprovals: d.requiredApprovals === '2' ? 2 : 1,
    maxWindowMinutes,
    chatDecision: d.chatDecision,
    policy: d.policy,
  };
}

function MachineForm({
  machine,
  sites,
  onSaved,
  onClose,
}: {
  machine: MachineAdminView | null;
  sites: Site[];
  onSaved: () => void;
  onClose: () => void;
}) {
  const [d, setD] = useState<Draft>(() => draftOf(machine, sites));
  const saving = useSaving();
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((prev) => ({ ...prev, [k]: v }));

  function setProtocol(p: Protocol) {
    // Follow the protocol's usual port unless the admin typed another one.
    setD((prev) => ({ ...prev, protocol: p, port: prev.port === String(DEFAULT_PORTS[prev.protocol]) || prev.port === '' ? String(DEFAULT_PORTS[p]) : prev.port }));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const input = inputOf(d);
    if (typeof input === 'string') {
      saving.refuse(input);
      return;
    }
    await saving.save(async () => {
      await adminPutMachine(input);
      onSaved();
    });
  }

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="machine-form">
      <h3>{machine === null ? 'New machine' : `Edit ${machine.name}`}</h3>
      {machine === null && <p className="muted">IDs use lower-case letters, digits, “.”, “_” and “-”, and cannot change later.</p>}
      <div className="row">
        <label>
          Machine ID
          <input type="text" value={d.id} onChange={(e) => set('id', e.target.value)} disabled={machine !== null} required data-testid="machine-id" />
        </label>
        <label>
          Name
          <input type="text" value={d.name} onChange={(e) => set('name', e.target.value)} required data-testid="machine-name" />
        </label>
        <label>
          Site
          <select value={d.siteId} onChange={(e) => set('siteId', e.target.value)} data-testid="machine-site">
            {!sites.some((s) => s.id === d.siteId) && <option value={d.siteId}>{d.siteId === '' ? 'Choose…' : `${d.siteId} (unknown)`}</option>}
            {sites.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="row">
        <label>
          Protocol
          <select value={d.protocol} onChange={(e) => setProtocol(e.target.value as Protocol)} data-testid="machine-protocol">
            {PROTOCOLS.map((p) => (
              <option key={p} value={p}>
                {p.toUpperCase()}
              </option>
            ))}
          </select>
        </label>
        {d.protocol === 'rdp' && (
          <label>
            RDP security
            <select value={d.rdpSecurity} onChange={(e) => set('rdpSecurity', e.target.value as RdpSecurity | '')} data-testid="machine-rdp-security">
              <option value="">not set (negotiate)</option>
              {RDP_SECURITY.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Host
          <input type="text" value={d.host} onChange={(e) => set('host', e.target.value)} required data-testid="machine-host" />
        </label>
        <label className="narrow">
          Port
          <input type="number" min={1} max={MAX_PORT} value={d.port} onChange={(e) => set('port', e.target.value)} required data-testid="machine-port" />
        </label>
        <label>
          guacd
          <input type="text" value={d.guacd} onChange={(e) => set('guacd', e.target.value)} placeholder={DEFAULT_GUACD} data-testid="machine-guacd" />
        </label>
      </div>
      <label>
        Tags (comma-separated)
        <input type="text" value={d.tags} onChange={(e) => set('tags', e.target.value)} placeholder="plc, line-3, siemens" data-testid="machine-tags" />
      </label>
      <div className="row">
        <label>
          Required approvals
          <select value={d.requiredApprovals} onChange={(e) => set('requiredApprovals', e.target.value === '2' ? '2' : '1')} data-testid="machine-approvals">
            <option value="1">1</option>
            <option value="2">2 (four eyes)</option>
          </select>
        </label>
        <label>
          Maximum window (minutes)
          <input type="number" min={MIN_WINDOW_MINUTES} max={MAX_WINDOW_MINUTES} step={1} value={d.maxWindowMinutes} onChange={(e) => set('maxWindowMinutes', e.target.value)} required data-testid="machine-max-window" />
        </label>
        <label>
          Chat
          <select value={d.chatDecision} onChange={(e) => set('chatDecision', e.target.value as ChatDecision)} data-testid="machine-chat">
            {CHAT_DECISIONS.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
      </div>
      <fieldset>
        <legend>Most a session may do</legend>
        {PERMISSIONS.map(({ key, label }) => (
          <label key={key} className="check">
            <input type="checkbox" checked={d.policy[key]} onChange={(e) => set('policy', { ...d.policy, [key]: e.target.checked })} data-testid={`machine-policy-${key}`} />
            {label}
          </label>
        ))}
        <label className="check">
          <input type="checkbox" checked={d.policy.readOnly} onChange={(e) => set('policy', { ...d.policy, readOnly: e.target.checked })} data-testid="machine-policy-readOnly" />
          View only (sessions can only watch)
        </label>
      </fieldset>
      <FormFooter entity="machine" saving={saving} onClose={onClose} />
    </form>
  );
}

/** Write-only: fields start empty, are cleared after saving, and nothing is ever read back. */
function CredentialForm({ machine, onSaved, onClose }: { machine: MachineAdminView; onSaved: () => void; onClose: () => void }) {
  const [username, setUsername] = useState('');
  const [kind, setKind] = useState<'password' | 'privateKey'>('password');
  const [password, setPassword] = useState('');
  const [privateKey, setPrivateKey] = useState('');
  const [status, setStatus] = useState<{ kind: 'idle' } | { kind: 'busy' } | { kind: 'saved' } | { kind: 'error'; message: string }>({ kind: 'idle' });

  async function submit(e: FormEvent) {
    e.preventDefault();
    const secret = kind === 'password' ? password : privateKey;
    if (username.trim() === '') {
      setStatus({ kind: 'error', message: 'Enter the username the broker signs in with.' });
      return;
    }
    if (secret === '') {
      setStatus({ kind: 'error', message: kind === 'password' ? 'Enter the password.' : 'Paste the private key.' });
      return;
    }
    setStatus({ kind: 'busy' });
    try {
      await adminPutCredential(machine.id, kind === 'password' ? { username, password } : { username, privateKey });
      setPassword('');
      setPrivateKey('');
      setUsername('');
      setStatus({ kind: 'saved' });
      onSaved();
    } catch (err) {
      setStatus({ kind: 'error', message: errorMessage(err) });
    }
  }

  return (
    <form className="form panel" onSubmit={submit} noValidate autoComplete="off" data-testid="credential-form">
      <h3>Credential for {machine.name}</h3>
      <p className="muted">
        {machine.hasCredential ? 'A credential is set; saving replaces it.' : 'No credential is set.'} Airlock stores it encrypted and never shows it
        again; vendors never see it.
      </p>
      <label>
        Username
        <input type="text" value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" required data-testid="credential-username" />
      </label>
      <fieldset className="inline-options">
        <legend>Secret</legend>
        <label className="check">
          <input type="radio" name="secret-kind" checked={kind === 'password'} onChange={() => setKind('password')} data-testid="credential-kind-password" />
          Use a password
        </label>
        <label className="check">
          <input type="radio" name="secret-kind" checked={kind === 'privateKey'} onChange={() => setKind('privateKey')} data-testid="credential-kind-key" />
          Use a private key
        </label>
      </fieldset>
      {kind === 'password' ? (
        <label>
          Password
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" data-testid="credential-password" />
        </label>
      ) : (
        <label>
          Private key
          <textarea
            value={privateKey}
            onChange={(e) => setPrivateKey(e.target.value)}
            rows={6}
            spellCheck={false}
            className="mono"
            placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
            data-testid="credential-private-key"
          />
        </label>
      )}
      {status.kind === 'saved' && (
        <p role="status" className="notice" data-testid="credential-saved">
          credential set
        </p>
      )}
      <ErrorMessage message={status.kind === 'error' ? status.message : null} testId="credential-error" />
      <p className="actions">
        <button type="submit" disabled={status.kind === 'busy'} data-testid="credential-save">
          Save credential
        </button>
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </p>
    </form>
  );
}
