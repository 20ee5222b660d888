// Machines: the table, a form for every administrable field (add never overwrites; an edit
// names the version it loaded), the SSH host key to pin (pasted, or fetched and confirmed by its
// fingerprint), delete, and the write-only credential form. No credential is ever shown: only
// whether one is set.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import {
  adminCreateMachine,
  adminDeleteMachine,
  adminListMachines,
  adminPutCredential,
  adminScanHostKeys,
  adminUpdateMachine,
  ApiError,
  CHAT_DECISIONS,
  errorMessage,
  PERMISSIONS,
  PROTOCOLS,
  RDP_SECURITY,
  type ChatDecision,
  type HostKeyPolicy,
  type HostKeyScan,
  type MachineAdminView,
  type MachineInput,
  type Policy,
  type Protocol,
  type RdpSecurity,
  type Site,
} from '../api.ts';
import { Chips, ErrorMessage, policySummary } from '../shared/components.tsx';
import { listOf, ListView } from '../shared/ListView.tsx';
import { useLoad } from '../shared/load.ts';
import { formatDuration } from '../shared/time.ts';
import { AdminHeading, createOrUpdate, FieldError, FormFooter, formKey, FormTitle, idNameErrors, NumberField, RowActions, TextField, useSaving, type FieldErrors, type Saving } from './form.tsx';

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
      <AdminHeading title="Machines" entity="machine" onAdd={() => setPanel({ kind: 'edit', machine: null })} disabled={sites.length === 0} />
      <ListView
        {...listOf(state, (d) => d)}
        columns={['Machine', 'Address', 'Tags', 'Rules', 'Credential', { actions: true }]}
        row={(m) => (
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
              {m.protocol === 'ssh' && <HostKeyBadge machine={m} />}
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
              record={m}
              onEdit={() => setPanel({ kind: 'edit', machine: m })}
              onDelete={async () => {
                await adminDeleteMachine(m.id, m.version);
                if (panel !== null && panel.machine?.id === m.id) setPanel(null);
                reload();
              }}
            >
              <button type="button" className="secondary" onClick={() => setPanel({ kind: 'credential', machine: m })} data-testid={`set-credential-${m.id}`}>
                Set credential
              </button>
            </RowActions>
          </tr>
        )}
        empty="No machines yet."
        testIds={{ loadError: 'machines-load-error' }}
      />
      <div ref={panelRef}>
        {panel?.kind === 'edit' && (
          <MachineForm
            key={formKey(panel.machine)}
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
  /** SSH: the key to pin (`type base64`), '' for none; `any` accepts every key. */
  hostKey: string;
  hostKeyPolicy: HostKeyPolicy;
  /** Minutes a second-factor sign-in stays good for opening a session; '' for no step-up. */
  stepUpMinutes: string;
  /** Required observer: input held until a plant observer watches. */
  observer: 'none' | 'required';
  observerGraceSeconds: string;
  observerLimitMinutes: string;
}

/** The server's bounds for a machine's step-up age (server/inventory/schema.ts). */
const STEP_UP_MINUTES = { min: 5, max: 24 * 60 };
/** The server's bounds for the required observer (server/inventory/schema.ts). */
const OBSERVER_GRACE = { min: 0, max: 3_600, default: 0 };
const OBSERVER_LIMIT = { min: 0.05, max: 24 * 60, default: 15 };

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
      hostKey: '',
      hostKeyPolicy: 'pinned',
      stepUpMinutes: '',
      observer: 'none',
      observerGraceSeconds: String(OBSERVER_GRACE.default),
      observerLimitMinutes: String(OBSERVER_LIMIT.default),
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
    hostKey: m.hostKey ?? '',
    hostKeyPolicy: m.hostKeyPolicy ?? 'pinned',
    stepUpMinutes: m.stepUpMinutes == null ? '' : String(m.stepUpMinutes),
    observer: m.observer,
    observerGraceSeconds: String(m.observerGraceSeconds),
    observerLimitMinutes: String(m.observerLimitMinutes),
  };
}

/** The body to save from a draft, or everything wrong with it (by field, as the server names them). */
function inputOf(d: Draft, isNew: boolean): { ok: true; input: MachineInput } | { ok: false; errors: FieldErrors } {
  const port = Number(d.port);
  const maxWindowMinutes = Number(d.maxWindowMinutes);
  const errors = idNameErrors(isNew, d.id, d.name, { noId: 'Give the machine an ID.', noName: 'Give the machine a name.' });
  if (d.siteId === '') errors['siteId'] = 'Choose a site.';
  if (d.host.trim() === '') errors['host'] = 'Enter the host the broker connects to.';
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) errors['port'] = `The port must be a whole number from 1 to ${MAX_PORT}.`;
  if (!Number.isInteger(maxWindowMinutes) || maxWindowMinutes < MIN_WINDOW_MINUTES || maxWindowMinutes > MAX_WINDOW_MINUTES) {
    errors['maxWindowMinutes'] = `The maximum window must be a whole number of minutes from ${MIN_WINDOW_MINUTES} to ${MAX_WINDOW_MINUTES} (a week).`;
  }
  const stepUp = d.stepUpMinutes.trim() === '' ? null : Number(d.stepUpMinutes);
  if (stepUp !== null && (!Number.isInteger(stepUp) || stepUp < STEP_UP_MINUTES.min || stepUp > STEP_UP_MINUTES.max)) {
    errors['stepUpMinutes'] = `Step-up must be a whole number of minutes from ${STEP_UP_MINUTES.min} to ${STEP_UP_MINUTES.max}, or empty for none.`;
  }
  const grace = Number(d.observerGraceSeconds);
  const limit = Number(d.observerLimitMinutes);
  if (d.observer === 'required') {
    if (d.observerGraceSeconds.trim() === '' || !Number.isInteger(grace) || grace < OBSERVER_GRACE.min || grace > OBSERVER_GRACE.max) {
      errors['observerGraceSeconds'] = `The grace must be a whole number of seconds from ${OBSERVER_GRACE.min} (held from the start) to ${OBSERVER_GRACE.max}.`;
    }
    if (d.observerLimitMinutes.trim() === '' || !Number.isFinite(limit) || limit < OBSERVER_LIMIT.min || limit > OBSERVER_LIMIT.max) {
      errors['observerLimitMinutes'] = `The limit must be from ${OBSERVER_LIMIT.min} to ${OBSERVER_LIMIT.max} minutes (fractions allowed).`;
    }
  }
  if (d.guacd.trim() === '') errors['guacd'] = 'Name the guacd that serves this machine (usually “default”).';
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  const tags = [...new Set(d.tags.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
  const ssh = d.protocol === 'ssh';
  const input: MachineInput = {
    id: d.id.trim(),
    name: d.name.trim(),
    siteId: d.siteId,
    protocol: d.protocol,
    host: d.host.trim(),
    port,
    guacd: d.guacd.trim(),
    ...(d.protocol === 'rdp' && d.rdpSecurity !== '' ? { rdpSecurity: d.rdpSecurity } : {}),
    ...(ssh && d.hostKeyPolicy === 'pinned' && d.hostKey.trim() !== '' ? { hostKey: d.hostKey.trim() } : {}),
    ...(ssh && d.hostKeyPolicy === 'any' ? { hostKeyPolicy: 'any' as const } : {}),
    tags,
    requiredApprovals: d.requiredApprovals === '2' ? 2 : 1,
    maxWindowMinutes,
    chatDecision: d.chatDecision,
    policy: d.policy,
    stepUpMinutes: stepUp,
    observer: d.observer,
    observerGraceSeconds: d.observer === 'required' ? grace : OBSERVER_GRACE.default,
    observerLimitMinutes: d.observer === 'required' ? limit : OBSERVER_LIMIT.default,
  };
  return { ok: true, input };
}

/** The SHA256 fingerprint OpenSSH shows for a `type base64` key, or null while it is not one. */
async function fingerprintOf(key: string): Promise<string | null> {
  const words = key.trim().split(/\s+/);
  const base64 = words[words.findIndex((w) => /^(ssh-|ecdsa-)/.test(w)) + 1];
  if (base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return null;
  try {
    const blob = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', blob));
    return `SHA256:${btoa(String.fromCharCode(...digest)).replace(/=+$/, '')}`;
  } catch {
    return null;
  }
}

/** In the table: the pinned key's fingerprint, or loudly that none is checked. */
function HostKeyBadge({ machine: m }: { machine: MachineAdminView }) {
  if (m.hostKeyPolicy === 'any') {
    return (
      <div>
        <span className="badge broken" data-testid={`host-key-${m.id}`} data-host-key="any">
          accepts any host key
        </span>
      </div>
    );
  }
  if (m.hostKeyFingerprint === null) {
    return (
      <div>
        <span className="badge missing" data-testid={`host-key-${m.id}`} data-host-key="none" title="A standard portal refuses sessions to SSH machines without a pinned host key.">
          host key not pinned
        </span>
      </div>
    );
  }
  return (
    <div className="muted" data-testid={`host-key-${m.id}`} data-host-key="pinned" title={m.hostKey ?? ''}>
      host key <code>{m.hostKeyFingerprint}</code>
    </div>
  );
}

/** SSH only: pin the host key (pasted, or fetched from the machine and confirmed), or accept any key, in red. */
function HostKeyFields({ d, set, saving }: { d: Draft; set: <K extends keyof Draft>(k: K, v: Draft[K]) => void; saving: Pick<Saving, 'fieldErrors'> }) {
  const [fingerprint, setFingerprint] = useState<string | null>(null);
  const [scan, setScan] = useState<{ kind: 'idle' } | { kind: 'busy' } | { kind: 'done'; result: HostKeyScan } | { kind: 'error'; message: string }>({ kind: 'idle' });
  useEffect(() => {
    let current = true;
    void fingerprintOf(d.hostKey).then((f) => {
      if (current) setFingerprint(f);
    });
    return () => {
      current = false;
    };
  }, [d.hostKey]);

  async function fetchKeys() {
    const port = Number(d.port);
    if (d.host.trim() === '' || !Number.isInteger(port)) {
      setScan({ kind: 'error', message: 'Enter the host and port first.' });
      return;
    }
    setScan({ kind: 'busy' });
    try {
      setScan({ kind: 'done', result: await adminScanHostKeys(d.host.trim(), port) });
    } catch (err) {
      setScan({ kind: 'error', message: errorMessage(err) });
    }
  }

  return (
    <fieldset data-testid="machine-host-key-fields">
      <legend>SSH host key</legend>
      <div className="inline-options">
        <label className="check">
          <input type="radio" name="host-key-policy" checked={d.hostKeyPolicy === 'pinned'} onChange={() => set('hostKeyPolicy', 'pinned')} data-testid="machine-host-key-pinned" />
          Pin the machine’s host key (guacd refuses any other)
        </label>
        <label className="check">
          <input type="radio" name="host-key-policy" checked={d.hostKeyPolicy === 'any'} onChange={() => set('hostKeyPolicy', 'any')} data-testid="machine-host-key-any" />
          Accept any host key
        </label>
      </div>
      <FieldError entity="machine" field="hostKeyPolicy" saving={saving} />
      {d.hostKeyPolicy === 'any' ? (
        <p role="alert" className="danger-block" data-testid="machine-host-key-any-warning">
          Any host key is accepted: Airlock cannot tell this machine from an impostor that takes over its address, and would hand it the machine’s
          credential. Use this only until you have the key.
        </p>
      ) : (
        <>
          <label>
            Host key
            <textarea
              value={d.hostKey}
              onChange={(e) => set('hostKey', e.target.value)}
              rows={2}
              spellCheck={false}
              className="mono"
              placeholder="ssh-ed25519 AAAA… (the machine’s /etc/ssh/ssh_host_*_key.pub)"
              aria-invalid={saving.fieldErrors['hostKey'] !== undefined}
              data-testid="machine-host-key"
            />
            <FieldError entity="machine" field="hostKey" saving={saving} />
          </label>
          {d.hostKey.trim() === '' ? (
            <p className="notice conflict" data-testid="machine-host-key-missing">
              No key pinned: a production (standard mode) portal refuses sessions to this machine until one is.
            </p>
          ) : (
            <p className="muted" data-testid="machine-host-key-fingerprint">
              Fingerprint: <code>{fingerprint ?? 'not a valid key yet'}</code>
            </p>
          )}
          <p className="actions">
            <button type="button" className="secondary" onClick={fetchKeys} disabled={scan.kind === 'busy'} data-testid="machine-host-key-fetch">
              Fetch from the machine
            </button>
          </p>
          {scan.kind === 'error' && <ErrorMessage message={scan.message} testId="machine-host-key-fetch-error" />}
          {scan.kind === 'done' && (
            <div className="notice" data-testid="machine-host-key-scan">
              <p>
                The machine answered with {scan.result.keys.length === 1 ? 'this key' : 'these keys'}; guacd checks the first. Compare its fingerprint with the one
                the machine shows (<code>ssh-keygen -lf /etc/ssh/ssh_host_{scan.result.preferred.type.startsWith('ecdsa') ? 'ecdsa' : scan.result.preferred.type.replace('ssh-', '')}_key.pub</code> on
                its console) before you pin it.
              </p>
              <ul>
                {scan.result.keys.map((k) => (
                  <li key={k.key}>
                    {k.type} <code data-testid={`machine-host-key-scanned-${k.type}`}>{k.fingerprint}</code>
                  </li>
                ))}
              </ul>
              <button
                type="button"
                onClick={() => {
                  set('hostKey', scan.result.preferred.key);
                  setScan({ kind: 'idle' });
                }}
                data-testid="machine-host-key-use"
              >
                Pin {scan.result.preferred.fingerprint}
              </button>
            </div>
          )}
        </>
      )}
    </fieldset>
  );
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
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    saving.touch(k);
    setD((prev) => ({ ...prev, [k]: v }));
  };

  function setProtocol(p: Protocol) {
    // Follow the protocol's usual port unless the admin typed another one.
    setD((prev) => ({ ...prev, protocol: p, port: prev.port === String(DEFAULT_PORTS[prev.protocol]) || prev.port === '' ? String(DEFAULT_PORTS[p]) : prev.port }));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const checked = inputOf(d, machine === null);
    if (!checked.ok) {
      saving.refuse(checked.errors);
      return;
    }
    const { input } = checked;
    await saving.save(async () => {
      await createOrUpdate(machine, input, adminCreateMachine, adminUpdateMachine);
      onSaved();
    });
  }
  const invalid = (field: string) => saving.fieldErrors[field] !== undefined;
  const error = (field: string) => <FieldError entity="machine" field={field} saving={saving} />;

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="machine-form">
      <FormTitle record={machine} newTitle="New machine" />
      <div className="row">
        <TextField entity="machine" field="id" label="Machine ID" value={d.id} onChange={(v) => set('id', v)} disabled={machine !== null} saving={saving} />
        <TextField entity="machine" field="name" label="Name" value={d.name} onChange={(v) => set('name', v)} saving={saving} />
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
          {error('siteId')}
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
          {error('protocol')}
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
            {error('rdpSecurity')}
          </label>
        )}
        <label>
          Host
          <input type="text" value={d.host} onChange={(e) => set('host', e.target.value)} required aria-invalid={invalid('host')} data-testid="machine-host" />
          {error('host')}
        </label>
        <NumberField entity="machine" field="port" label="Port" className="narrow" min={1} max={MAX_PORT} value={d.port} onChange={(v) => set('port', v)} required saving={saving} />
        <label>
          guacd
          <input type="text" value={d.guacd} onChange={(e) => set('guacd', e.target.value)} placeholder={DEFAULT_GUACD} aria-invalid={invalid('guacd')} data-testid="machine-guacd" />
          {error('guacd')}
        </label>
      </div>
      {d.protocol === 'ssh' && <HostKeyFields d={d} set={set} saving={saving} />}
      <label>
        Tags (comma-separated)
        <input type="text" value={d.tags} onChange={(e) => set('tags', e.target.value)} placeholder="plc, line-3, siemens" aria-invalid={invalid('tags')} data-testid="machine-tags" />
        {error('tags')}
      </label>
      <div className="row">
        <label>
          Required approvals
          <select value={d.requiredApprovals} onChange={(e) => set('requiredApprovals', e.target.value === '2' ? '2' : '1')} data-testid="machine-approvals">
            <option value="1">1</option>
            <option value="2">2 (four eyes)</option>
          </select>
        </label>
        <NumberField entity="machine" field="maxWindowMinutes" label="Maximum window (minutes)" min={MIN_WINDOW_MINUTES} max={MAX_WINDOW_MINUTES} step={1} value={d.maxWindowMinutes} onChange={(v) => set('maxWindowMinutes', v)} required saving={saving} testId="machine-max-window" />
        <NumberField entity="machine" field="stepUpMinutes" label="Step-up: second factor within (minutes, empty for none)" min={STEP_UP_MINUTES.min} max={STEP_UP_MINUTES.max} step={1} value={d.stepUpMinutes} onChange={(v) => set('stepUpMinutes', v)} saving={saving} testId="machine-step-up" />
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
      <div className="row">
        <label>
          Plant observer
          <select value={d.observer} onChange={(e) => set('observer', e.target.value === 'required' ? 'required' : 'none')} data-testid="machine-observer">
            <option value="none">not required</option>
            <option value="required">required: input held until a plant observer watches</option>
          </select>
        </label>
        {d.observer === 'required' && (
          <>
            <NumberField entity="machine" field="observerGraceSeconds" label="Unobserved grace (seconds, 0 = held from the start)" min={OBSERVER_GRACE.min} max={OBSERVER_GRACE.max} step={1} value={d.observerGraceSeconds} onChange={(v) => set('observerGraceSeconds', v)} saving={saving} testId="machine-observer-grace" />
            <NumberField entity="machine" field="observerLimitMinutes" label="End the session after waiting (minutes)" min={OBSERVER_LIMIT.min} max={OBSERVER_LIMIT.max} step="any" value={d.observerLimitMinutes} onChange={(v) => set('observerLimitMinutes', v)} saving={saving} testId="machine-observer-limit" />
          </>
        )}
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
        {error('policy')}
      </fieldset>
      <FormFooter entity="machine" saving={saving} onClose={onClose} onReload={onSaved} />
    </form>
  );
}

/** Write-only: fields start empty, are cleared after saving, and nothing is ever read back. */
function CredentialForm({ machine, onSaved, onClose }: { machine: MachineAdminView; onSaved: () => void; onClose: () => void }) {
  const [username, setUsername] = useState('');
  const [kind, setKind] = useState<'password' | 'privateKey'>('password');
  const [password, setPassword] = useState('');
  const [privateKey, setPrivateKey] = useState('');
  const [status, setStatus] = useState<{ kind: 'idle' } | { kind: 'busy' } | { kind: 'saved' } | { kind: 'error'; message: string; field?: string }>({ kind: 'idle' });

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
      // A refused key (a format guacd cannot read) is shown under the key itself.
      const issue = err instanceof ApiError ? err.issues[0] : undefined;
      setStatus(issue === undefined ? { kind: 'error', message: errorMessage(err) } : { kind: 'error', message: issue.message, field: issue.field });
    }
  }
  const keyError = status.kind === 'error' && status.field === 'privateKey' ? status.message : null;

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
          <span className="muted">
            RSA keys only (guacd 1.3): PEM, or OpenSSH and PKCS#8 format, converted when saved; no passphrase. The machine’s OpenSSH must accept
            guacd’s SHA-1 signatures: <code>PubkeyAcceptedAlgorithms +ssh-rsa</code>.
          </span>
          <textarea
            value={privateKey}
            onChange={(e) => setPrivateKey(e.target.value)}
            rows={6}
            spellCheck={false}
            className="mono"
            placeholder="-----BEGIN RSA PRIVATE KEY----- (or an OpenSSH-format RSA key, converted when saved)"
            aria-invalid={keyError !== null}
            data-testid="credential-private-key"
          />
          {keyError !== null && (
            <span className="field-error" role="alert" data-testid="credential-error-privateKey">
              {keyError}
            </span>
          )}
        </label>
      )}
      {status.kind === 'saved' && (
        <p role="status" className="notice" data-testid="credential-saved">
          credential set
        </p>
      )}
      <ErrorMessage message={status.kind === 'error' && keyError === null ? status.message : null} testId="credential-error" />
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
