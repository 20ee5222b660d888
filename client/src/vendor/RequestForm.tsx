// "Request access": a vendor picks a machine, a window and what the session may do, and says
// why. Also the form for extending an approved grant (`#/request?extends=<id>`). The client
// checks what it can so mistakes show at once; the server decides.
import { useState, type FormEvent } from 'react';
import {
  ApiError,
  createRequest,
  errorMessage,
  getRequest,
  listMachines,
  PERMISSIONS,
  type AccessRequest,
  type MachineView,
  type Permission,
  type Policy,
  type StartMode,
} from '../api.ts';
import { Chips, ErrorMessage, FieldErrors, Loading, Time, WindowTime } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';
import { href, navigate } from '../shared/route.ts';
import {
  addMinutes,
  DEFAULT_WINDOW_MINUTES,
  formatDateTime,
  formatDuration,
  fromZonedInput,
  minutesBetween,
  roundUpToNextStart,
  toZonedInput,
  viewerZone,
  windowInViewerZone,
  zoneLabel,
} from '../shared/time.ts';

/** The API refuses longer free-text fields. */
export const MAX_TEXT_LENGTH = 2000;
/** Work-order references are short codes; the server caps them at this length. */
export const MAX_WORK_ORDER_LENGTH = 100;
/** Above this many machines the picker gets a filter box. */
const FILTER_THRESHOLD = 6;
/** How long a "start when approved" request waits for a decision (server/requests/timing.ts). */
export const ON_APPROVAL_DECIDE_HOURS = 12;

const START_MODES: readonly { mode: StartMode; label: string; hint: string }[] = [
  { mode: 'at', label: 'At a set time', hint: 'The window is fixed. If it is approved late, you get what is left of it.' },
  { mode: 'now', label: 'Now', hint: 'The window starts now; an approval gives you the rest of it.' },
  { mode: 'on_approval', label: 'When approved', hint: `The window starts when a plant manager approves and lasts its full length. Undecided after ${ON_APPROVAL_DECIDE_HOURS} h, the request expires.` },
];

type Perms = Record<Permission, boolean>;

interface FormProblem {
  field: 'machine' | 'window' | 'reason' | 'workOrder';
  message: string;
}

/** The server's field names (zod paths of POST /api/requests) mapped to the form's fields. */
const SERVER_FIELDS: Record<string, FormProblem['field']> = {
  machineId: 'machine',
  windowStart: 'window',
  windowEnd: 'window',
  reason: 'reason',
  workOrder: 'workOrder',
};

/** Field problems in a refusal, when the server names fields (all of them, or the first). */
function serverFieldProblems(err: unknown): FormProblem[] {
  if (!(err instanceof ApiError)) return [];
  return err.fields.flatMap((f) => {
    const field = SERVER_FIELDS[f.field.split('.')[0] ?? ''];
    return field === undefined ? [] : [{ field, message: f.message }];
  });
}

function FieldMessages({ messages, testId }: { messages: readonly string[]; testId: string }) {
  if (messages.length === 0) return null;
  return (
    <span className="error field-error" data-testid={testId}>
      {messages.join(' ')}
    </span>
  );
}
const NO_PERMS: Perms = { clipboardCopy: false, clipboardPaste: false, fileTransfer: false };

interface Loaded {
  machines: MachineView[];
  extending: AccessRequest | null;
}

export function RequestForm({ extendsId, machineId = null }: { extendsId: string | null; machineId?: string | null }) {
  // Bumped by "New request" so the next form starts from scratch.
  const [round, setRound] = useState(0);
  const { state } = useLoad<Loaded>(
    async () => {
      const [machines, extending] = await Promise.all([listMachines(), extendsId === null ? null : getRequest(extendsId)]);
      return { machines, extending };
    },
    extendsId ?? '',
  );

  return (
    <section className="card" data-testid="request-form-screen">
      <h1>{extendsId === null ? 'Request access' : 'Extend access'}</h1>
      {state.status === 'loading' && <Loading />}
      {state.status === 'error' && <ErrorMessage message={state.message} testId="request-load-error" />}
      {state.status === 'ready' && (
        <Form
          key={`${extendsId ?? 'new'}-${round}`}
          machines={state.data.machines}
          extending={state.data.extending}
          initialMachineId={machineId}
          onNew={() => (extendsId === null ? setRound((r) => r + 1) : navigate('request'))}
        />
      )}
    </section>
  );
}

/** The window's inputs read as clocks of this zone: the machine's plant, or (none chosen yet) the viewer's. */
const zoneOfMachine = (m: MachineView | undefined): string => m?.siteTimeZone ?? viewerZone();

function initialWindow(extending: AccessRequest | null, machine: MachineView | undefined) {
  const zone = zoneOfMachine(machine);
  if (extending !== null) {
    const startIso = extending.grant?.end ?? extending.windowEnd;
    const minutes = Math.min(DEFAULT_WINDOW_MINUTES, machine?.maxWindowMinutes ?? DEFAULT_WINDOW_MINUTES);
    return { fixedStart: startIso, start: toZonedInput(new Date(startIso), zone), end: toZonedInput(addMinutes(new Date(startIso), minutes), zone) };
  }
  const start = roundUpToNextStart(new Date());
  return { fixedStart: null, start: toZonedInput(start, zone), end: toZonedInput(addMinutes(start, DEFAULT_WINDOW_MINUTES), zone) };
}

function Form({
  machines,
  extending,
  initialMachineId,
  onNew,
}: {
  machines: MachineView[];
  extending: AccessRequest | null;
  initialMachineId: string | null;
  onNew: () => void;
}) {
  const extendedMachine = extending === null ? undefined : machines.find((m) => m.id === extending.machine.id);
  const [machineId, setMachineId] = useState(extending?.machine.id ?? (machines.some((m) => m.id === initialMachineId) ? (initialMachineId ?? '') : ''));
  const [init] = useState(() => initialWindow(extending, extendedMachine ?? machines.find((m) => m.id === machineId)));
  const [filter, setFilter] = useState('');
  // When extending, the window must start exactly at the grant's end: keep the exact instant.
  const fixedStart = init.fixedStart;
  const [start, setStart] = useState(init.start);
  const [end, setEnd] = useState(init.end);
  // An extension is a set window: it starts when the grant it extends ends.
  const [mode, setMode] = useState<StartMode>('at');
  const [length, setLength] = useState(String(DEFAULT_WINDOW_MINUTES));
  const [reason, setReason] = useState(extending?.reason ?? '');
  const [workOrder, setWorkOrder] = useState(extending?.workOrder ?? '');
  const [perms, setPerms] = useState<Perms>(() => {
    const p = extending?.grant?.policy ?? extending?.requestedPolicy;
    return p === undefined ? NO_PERMS : { clipboardCopy: p.clipboardCopy, clipboardPaste: p.clipboardPaste, fileTransfer: p.fileTransfer };
  });
  const [submit, setSubmit] = useState<
    | { kind: 'idle' }
    | { kind: 'submitting' }
    | { kind: 'invalid'; problems: FormProblem[] }
    | { kind: 'error'; message: string; fields: FormProblem[] }
    | { kind: 'done'; request: AccessRequest; overlaps: readonly string[] }
  >({
    kind: 'idle',
  });

  if (extending !== null && extendedMachine === undefined) {
    return <ErrorMessage message={`The machine of request ${extending.id} is no longer available to you.`} testId="request-load-error" />;
  }
  if (machines.length === 0) {
    return (
      <p className="muted" data-testid="no-machines">
        No machines are open to your company yet. Ask the plant to allow your company on its site.
      </p>
    );
  }

  if (submit.kind === 'done') {
    const r = submit.request;
    return (
      <div className="notice-block" data-testid="request-created" data-request-id={r.id}>
        <p role="status">
          Request submitted for <strong>{r.machine.name}</strong>,{' '}
          {r.timing.start === 'on_approval' ? <>starting when approved, for {formatDuration(r.timing.durationMinutes)}</> : <WindowTime start={r.windowStart} end={r.windowEnd} zone={r.machine.siteTimeZone} />}. It waits for{' '}
          {r.requiredApprovals === 2 ? 'two approvals' : 'approval'} by a plant manager
          {r.timing.start === 'on_approval' ? <>; undecided by <Time iso={r.timing.decideBy} zone={r.machine.siteTimeZone} />, it expires.</> : <>, until the window ends.</>}
        </p>
        {submit.overlaps.length > 0 && (
          <p className="overlap-warning" data-testid="request-overlaps" data-overlaps={submit.overlaps.join(' ')}>
            Its window overlaps {submit.overlaps.length === 1 ? 'another of your requests' : `${submit.overlaps.length} of your other requests`} for this machine.
            Each grant opens in its own window; cancel the one you do not need. The plant manager sees the overlap too.
          </p>
        )}
        <p className="actions">
          <a className="button" href={href('my')} data-testid="go-my-requests">
            See my requests
          </a>
          <button type="button" className="secondary" onClick={onNew} data-testid="new-request">
            New request
          </button>
        </p>
      </div>
    );
  }

  const machine = machines.find((m) => m.id === machineId);
  const zone = zoneOfMachine(machine);
  const startDate = fixedStart !== null ? new Date(fixedStart) : fromZonedInput(start, zone);
  const endDate = fromZonedInput(end, zone);
  const lengthMinutes = /^\d{1,5}$/.test(length.trim()) ? Number(length.trim()) : null;
  const duration = mode !== 'at' ? lengthMinutes : startDate !== null && endDate !== null ? minutesBetween(startDate, endDate) : null;
  const tooLong = machine !== undefined && duration !== null && duration > machine.maxWindowMinutes;

  function windowProblem(): string | null {
    if (mode !== 'at') {
      if (lengthMinutes === null || lengthMinutes < 1) return 'Enter how many minutes the window lasts.';
    } else {
      if (startDate === null) return 'Enter a valid start date and time.';
      if (endDate === null) return 'Enter a valid end date and time.';
      if (endDate <= startDate) return 'The end must be after the start.';
      if (fixedStart === null && startDate.getTime() < Date.now()) return 'The window cannot start in the past.';
    }
    if (machine !== undefined && tooLong && duration !== null) {
      return `This window is ${formatDuration(duration)}; ${machine.name} allows at most ${formatDuration(machine.maxWindowMinutes)}.`;
    }
    return null;
  }

  /** Every problem of the form, each tied to its field: all are shown at once. */
  function problems(): FormProblem[] {
    const out: FormProblem[] = [];
    if (machine === undefined) out.push({ field: 'machine', message: 'Choose a machine.' });
    const w = windowProblem();
    if (w !== null) out.push({ field: 'window', message: w });
    if (reason.trim() === '') out.push({ field: 'reason', message: 'Give a reason for the access.' });
    if (reason.length > MAX_TEXT_LENGTH) out.push({ field: 'reason', message: `The reason is too long (at most ${MAX_TEXT_LENGTH} characters).` });
    if (workOrder.trim().length > MAX_WORK_ORDER_LENGTH) out.push({ field: 'workOrder', message: `The work order is too long (at most ${MAX_WORK_ORDER_LENGTH} characters).` });
    return out;
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    const found = problems();
    if (found.length > 0 || machine === undefined || (mode === 'at' && (startDate === null || endDate === null))) {
      setSubmit({ kind: 'invalid', problems: found });
      return;
    }
    const policy: Policy = {
      clipboardCopy: perms.clipboardCopy && machine.policy.clipboardCopy,
      clipboardPaste: perms.clipboardPaste && machine.policy.clipboardPaste,
      fileTransfer: perms.fileTransfer && machine.policy.fileTransfer,
      readOnly: machine.policy.readOnly,
    };
    setSubmit({ kind: 'submitting' });
    try {
      const window =
        mode === 'at' && startDate !== null && endDate !== null
          ? { start: mode, windowStart: fixedStart ?? startDate.toISOString(), windowEnd: endDate.toISOString() }
          : { start: mode, durationMinutes: lengthMinutes ?? DEFAULT_WINDOW_MINUTES };
      const { request, overlaps } = await createRequest({
        machineId: machine.id,
        ...window,
        reason: reason.trim(),
        ...(workOrder.trim() === '' ? {} : { workOrder: workOrder.trim() }),
        policy,
        ...(extending === null ? {} : { extendsRequestId: extending.id }),
      });
      setSubmit({ kind: 'done', request, overlaps });
    } catch (err) {
      setSubmit({ kind: 'error', message: errorMessage(err), fields: serverFieldProblems(err) });
    }
  }

  function chooseMachine(m: MachineView) {
    // The same instants, now read on the new machine's plant clock.
    const to = zoneOfMachine(m);
    if (to !== zone) {
      if (startDate !== null && fixedStart === null) setStart(toZonedInput(startDate, to));
      if (endDate !== null) setEnd(toZonedInput(endDate, to));
    }
    setMachineId(m.id);
    // Least privilege: a new machine starts with nothing extra requested.
    setPerms(NO_PERMS);
  }

  const needle = filter.trim().toLowerCase();
  const shown =
    extending !== null
      ? machines.filter((m) => m.id === extending.machine.id)
      : machines.filter(
          (m) =>
            needle === '' ||
            m.id === machineId ||
            [m.name, m.siteName, m.protocol, ...m.tags].some((s) => s.toLowerCase().includes(needle)),
        );
  const winProblem = windowProblem();
  // Plant time when a machine is chosen, with the viewer's own clock beside it when it differs.
  const clockName = machine === undefined ? `your time, ${zoneLabel(zone)}` : `${machine.siteName} time, ${zoneLabel(zone)}`;
  const yourTime = startDate !== null && endDate !== null && endDate > startDate ? windowInViewerZone(startDate.toISOString(), endDate.toISOString(), zone) : null;
  // After a submit: the client's problems, or the server's (by field when it names them).
  const shownProblems = submit.kind === 'invalid' ? submit.problems : submit.kind === 'error' ? submit.fields : [];
  const invalid = (field: FormProblem['field']) => shownProblems.some((p) => p.field === field);
  const messagesFor = (field: FormProblem['field']) => shownProblems.filter((p) => p.field === field).map((p) => p.message);

  return (
    <form className="form" onSubmit={onSubmit} noValidate data-testid="request-form">
      {extending !== null && (
        <p className="notice" data-testid="extending">
          Extends request for {extending.machine.name}, <WindowTime start={extending.grant?.start ?? extending.windowStart} end={extending.grant?.end ?? extending.windowEnd} zone={extending.machine.siteTimeZone} />. The
          extension starts when that grant ends.
        </p>
      )}

      <fieldset className="machine-picker" data-testid="machine-select" aria-invalid={invalid('machine')}>
        <legend>Machine</legend>
        <FieldMessages messages={messagesFor('machine')} testId="machine-error" />
        {extending === null && machines.length > FILTER_THRESHOLD && (
          <label className="inline">
            Filter machines
            <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name, site, tag…" data-testid="machine-filter" />
          </label>
        )}
        <div className="machine-list" role="radiogroup" aria-label="Machine">
          {shown.map((m) => (
            <label key={m.id} className={`machine-option${m.id === machineId ? ' selected' : ''}`}>
              <input
                type="radio"
                name="machine"
                value={m.id}
                checked={m.id === machineId}
                disabled={extending !== null}
                onChange={() => chooseMachine(m)}
                data-testid={`machine-option-${m.id}`}
              />
              <span className="machine-body">
                <span className="machine-name">{m.name}</span>
                <span className="muted">
                  {m.siteName} · <span className="protocol">{m.protocol.toUpperCase()}</span> · up to {formatDuration(m.maxWindowMinutes)}
                  {m.requiredApprovals === 2 ? ' · needs 2 approvals' : ''}
                </span>
                <Chips items={m.tags} />
              </span>
            </label>
          ))}
          {shown.length === 0 && <p className="muted">No machine matches “{filter}”.</p>}
        </div>
      </fieldset>

      <fieldset data-testid="window-fieldset">
        <legend>Window</legend>
        {extending === null && (
          <div className="start-modes" role="radiogroup" aria-label="When the window starts">
            {START_MODES.map((m) => (
              <label key={m.mode} className={`start-mode${mode === m.mode ? ' selected' : ''}`}>
                <input type="radio" name="start-mode" value={m.mode} checked={mode === m.mode} onChange={() => setMode(m.mode)} data-testid={`start-mode-${m.mode}`} />
                <span>
                  <span className="start-mode-label">{m.label}</span>
                  <span className="muted">{m.hint}</span>
                </span>
              </label>
            ))}
          </div>
        )}
        {mode === 'at' ? (
          <div className="row">
            <label>
              Start ({clockName})
              <input
                type="datetime-local"
                value={start}
                onChange={(e) => setStart(e.target.value)}
                disabled={fixedStart !== null}
                required
                data-testid="window-start"
              />
            </label>
            <label>
              End ({clockName})
              <input type="datetime-local" value={end} min={start} onChange={(e) => setEnd(e.target.value)} required data-testid="window-end" />
            </label>
          </div>
        ) : (
          <div className="row">
            <label className="narrow">
              Length (minutes)
              <input type="number" min={1} max={machine?.maxWindowMinutes} step={5} value={length} onChange={(e) => setLength(e.target.value)} required data-testid="window-length" />
            </label>
          </div>
        )}
        <p className="muted" data-testid="window-duration">
          {duration !== null && duration > 0 ? `Duration ${formatDuration(duration)}` : 'Duration —'}
          {machine !== undefined ? ` · maximum for ${machine.name}: ${formatDuration(machine.maxWindowMinutes)}` : ''}
          {fixedStart !== null ? ` · starts ${formatDateTime(fixedStart, false, zone)}` : ''}
          {mode === 'at' && yourTime !== null && (
            <>
              <br />
              <span data-testid="window-your-time">That is {yourTime} your time.</span>
            </>
          )}
        </p>
        {winProblem !== null && ((mode !== 'at' || (start !== '' && end !== '')) || submit.kind === 'invalid') && (
          <p className="error" role="alert" data-testid="window-error">
            {winProblem}
          </p>
        )}
      </fieldset>

      <label>
        Reason
        <textarea
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          required
          maxLength={MAX_TEXT_LENGTH}
          rows={3}
          placeholder="What needs doing on the machine, and why now"
          aria-invalid={invalid('reason')}
          data-testid="reason"
        />
        <FieldMessages messages={messagesFor('reason')} testId="reason-error" />
      </label>
      <label>
        Work order (optional)
        <input type="text" value={workOrder} onChange={(e) => setWorkOrder(e.target.value)} maxLength={MAX_WORK_ORDER_LENGTH} aria-invalid={invalid('workOrder')} data-testid="work-order" />
        <FieldMessages messages={messagesFor('workOrder')} testId="work-order-error" />
      </label>

      {machine !== undefined && <PolicyPicker machine={machine} perms={perms} onChange={setPerms} />}

      {/* All problems at once by the submit button, where the eye is; each field marks its own too. */}
      {submit.kind === 'invalid' && <FieldErrors messages={submit.problems.map((p) => p.message)} testId="request-error" />}
      {submit.kind === 'error' && <ErrorMessage message={submit.message} testId="request-error" />}
      <p className="actions">
        <button type="submit" disabled={submit.kind === 'submitting'} data-testid="submit-request">
          {submit.kind === 'submitting' ? 'Submitting…' : extending === null ? 'Submit request' : 'Submit extension'}
        </button>
      </p>
    </form>
  );
}

function PolicyPicker({ machine, perms, onChange }: { machine: MachineView; perms: Perms; onChange: (p: Perms) => void }) {
  const allowed = PERMISSIONS.filter(({ key }) => machine.policy[key]);
  const refused = PERMISSIONS.filter(({ key }) => !machine.policy[key]);
  return (
    <fieldset data-testid="policy-picker">
      <legend>Session permissions</legend>
      {allowed.length === 0 && <p className="muted">This machine allows no clipboard or file transfer.</p>}
      {allowed.map(({ key, label }) => (
        <label key={key} className="check">
          <input type="checkbox" checked={perms[key]} onChange={(e) => onChange({ ...perms, [key]: e.target.checked })} data-testid={`policy-${key}`} />
          {label}
        </label>
      ))}
      {allowed.length > 0 && refused.length > 0 && (
        <p className="muted">Not allowed on this machine: {refused.map((p) => p.label.toLowerCase()).join(', ')}.</p>
      )}
      {machine.policy.readOnly && (
        <p className="info" data-testid="read-only-info">
          View only: sessions on this machine can watch the screen but not type or click.
        </p>
      )}
    </fieldset>
  );
}
