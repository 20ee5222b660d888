// Process-table helpers for the dev supervisor: find every process a daemon spawned (through
// its parent chain, process group or session) so that stopping a service leaves nothing behind.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** One-letter state from /proc/PID/stat; 'Z' is a zombie (dead, not yet reaped). */
  state: string;
  /** Clock ticks since boot: together with the pid it identifies a process despite pid reuse. */
  startTime: number;
}

/** How often we look at /proc while waiting for processes to exit. */
const EXIT_POLL_MS = 50;

export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session ...": comm may contain spaces and parentheses, so the
  // fields are counted from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    startTime: Number(fields[19]),
  };
}

export function listProcesses(): ProcessInfo[] {
  const table: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info) table.push(info);
  }
  return table;
}

/** True while the process exists and is not a zombie (a zombie has already exited). */
export function isAlive(pid: number, startTime?: number): boolean {
  const info = readProcess(pid);
  if (!info || info.state === 'Z') return false;
  return startTime === undefined || info.startTime === startTime;
}

/** A process we started or saw in a family: pid plus start time, so pid reuse is not mistaken for it. */
export interface ProcessRef {
  pid: number;
  startTime: number;
}

/**
 * The roots plus everything descended from them: children by parent pid, and any process whose
 * process group or session a family member created (this catches children re-parented to init
 * after their parent died, since a dead root still names its group and session).
 *
 * A group or session counts by its leader's pid *and* start time: pids are reused (pid_max is
 * 32768 here), and a dead root's pid may now lead another program's session. Matching the
 * number alone made one test run's stop kill another run's daemons (a bench's xterm, whose
 * session id was the pid of a dead process one of the suites had tracked).
 */
export function processFamily(roots: Iterable<ProcessRef>, table: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const rootList = [...roots];
  const byPid = new Map(table.map((proc) => [proc.pid, proc]));
  /** Group and session leaders of the family: pid → start time. */
  const leaders = new Map(rootList.map((r) => [r.pid, r.startTime]));
  const ledByFamily = (id: number, proc: ProcessInfo): boolean => {
    const leaderStart = leaders.get(id);
    if (leaderStart === undefined) return false;
    const now = byPid.get(id);
    // The number now belongs to another process: its group is not ours.
    if (now !== undefined && now.startTime !== leaderStart) return false;
    // A member of the leader's group or session started after the leader did.
    return proc.startTime >= leaderStart;
  };
  const members = new Map<number, ProcessInfo>();
  for (const proc of table) {
    if (rootList.some((r) => r.pid === proc.pid && r.startTime === proc.startTime)) members.set(proc.pid, proc);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const proc of table) {
      if (members.has(proc.pid)) continue;
      if (members.has(proc.ppid) || ledByFamily(proc.pgid, proc) || ledByFamily(proc.sid, proc)) {
        members.set(proc.pid, proc);
        if (proc.pid === proc.pgid || proc.pid === proc.sid) leaders.set(proc.pid, proc.startTime);
        grew = true;
      }
    }
  }
  return [...members.values()].filter((proc) => proc.state !== 'Z');
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone (ESRCH): exactly what we want.
  }
}

/** Polls until none of the processes is alive (by pid and start time) or the deadline passes. */
export async function waitForExit(procs: ProcessRef[], timeoutMs: number): Promise<ProcessRef[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = procs.filter((p) => isAlive(p.pid, p.startTime));
  while (alive.length > 0 && Date.now() < deadline) {
    await delay(EXIT_POLL_MS);
    alive = alive.filter((p) => isAlive(p.pid, p.startTime));
  }
  return alive;
}
