// The layering of DESIGN.md, checked on the production tree's import graph (type imports
// included): kernel ← features ← recordings ← sessions ← app, no cycles, and nothing in
// production imports the development harness (dev/).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '..');
const PRODUCTION = ['server', 'recordings', 'sessions'];
/** Kernel folders under server/; every other folder there is a feature (except app/). */
const KERNEL_DIRS = new Set(['events', 'http']);

type Layer = 'kernel' | 'feature' | 'recordings' | 'sessions' | 'app' | 'dev' | 'outside';
const RANK: Record<Layer, number> = { kernel: 0, feature: 1, recordings: 2, sessions: 3, app: 4, dev: 5, outside: 6 };

function layerOf(file: string): Layer {
  const [top, second, third] = path.relative(ROOT, file).split(path.sep);
  if (top === 'recordings') return 'recordings';
  if (top === 'sessions') return 'sessions';
  if (top === 'dev') return 'dev';
  if (top !== 'server' || second === undefined) return 'outside';
  if (third === undefined) return 'kernel'; // server/*.ts
  if (second === 'app') return 'app';
  return KERNEL_DIRS.has(second) ? 'kernel' : 'feature';
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name)) out.push(full);
  }
  return out;
}

/** Every relative import of a file (static, dynamic, type-only, re-exports), resolved. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s));
}

const files = PRODUCTION.flatMap((d) => sourceFiles(path.join(ROOT, d)));
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string): string => path.relative(ROOT, f);

describe('import graph of the production tree', () => {
  test('finds the tree (the check cannot pass on an empty graph)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect([...graph.values()].flat().length).toBeGreaterThan(100);
  });

  test('imports point one way: kernel ← features ← recordings ← sessions ← app', () => {
    const against: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        if (RANK[layerOf(to)] > RANK[layerOf(from)]) against.push(`${rel(from)} (${layerOf(from)}) → ${rel(to)} (${layerOf(to)})`);
      }
    }
    expect(against).toEqual([]);
  });

  test('no production module imports the development harness (dev/)', () => {
    const intoDev = [...graph].flatMap(([from, targets]) => targets.filter((t) => layerOf(t) === 'dev').map((t) => `${rel(from)} → ${rel(t)}`));
    expect(intoDev).toEqual([]);
  });

  test('there is no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'visiting');
      stack.push(f);
      for (const to of graph.get(f) ?? []) {
        if (!graph.has(to)) continue;
        if (state.get(to) === 'visiting') cycles.push([...stack.slice(stack.indexOf(to)), to].map(rel).join(' → '));
        else if (state.get(to) === undefined) visit(to);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (state.get(f) === undefined) visit(f);
    expect(cycles).toEqual([]);
  });
});
