/**
 * Linux's process table, read from /proc: the one parser npm start (its ancestors), the benchmarks
 * (memory of a process tree) and the tests (what a command left running) share. `stat`'s comm may
 * hold spaces and parentheses, so fields are split after its last ')'. Everything here returns
 * empty or undefined where /proc is missing (not Linux) or a process ended meanwhile.
 *
 * @example
 * processTree(child.pid!).filter((p) => p.comm === 'workerd').reduce((s, p) => s + rssMb(p.pid), 0)
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcEntry {
  pid: number;
  ppid: number;
  /** The kernel's name for it (at most 15 characters; `npm start` sets its own). */
  comm: string;
  /** Its command line, arguments joined by spaces. */
  cmd: string;
}

/** One process, or undefined when it is gone. */
export function procEntry(pid: number): ProcEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      // a zombie has none
    }
    return { pid, ppid, comm, cmd };
  } catch {
    return undefined;
  }
}

/** Every process this user can see. */
export function processTable(): Map<number, ProcEntry> {
  const t = new Map<number, ProcEntry>();
  let dirs: string[] = [];
  try {
    dirs = readdirSync('/proc');
  } catch {
    return t;
  }
  for (const d of dirs) {
    if (!/^\d+$/.test(d)) continue;
    const e = procEntry(Number(d));
    if (e) t.set(e.pid, e);
  }
  return t;
}

/** `root` and all its descendants, parents before children. */
export function processTree(root: number): ProcEntry[] {
  const t = processTable();
  const kids = new Map<number, ProcEntry[]>();
  for (const e of t.values()) kids.set(e.ppid, [...(kids.get(e.ppid) ?? []), e]);
  const out: ProcEntry[] = [];
  const visit = (e: ProcEntry | undefined) => {
    if (!e) return;
    out.push(e);
    for (const k of kids.get(e.pid) ?? []) visit(k);
  };
  visit(t.get(root));
  return out;
}

/** Resident memory (VmRSS) in MB, 0 once the process is gone. */
export function rssMb(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time a process has used so far, user + system, in ms (/proc/<pid>/stat utime and stime); with
 * `thread`, only that thread's (/proc/<pid>/task/<thread>/stat; a process's main thread has its pid).
 */
export function cpuMs(pid: number, ticksPerSecond = 100, thread?: number): number {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}
