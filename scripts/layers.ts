/**
 * The dependency rule (docs/architecture.md §2): folders under src/ stand in layers, and a file
 * may import only from its own folder or from a lower layer. Run `npx tsx scripts/layers.ts` to
 * list what breaks the rule; test/architecture.test.ts fails on any of it.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * From the ground up. Folders on one line are peers: they may not import each other. Files at
 * the root of src/ are named without their extension.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['clock', 'config', 'context', 'errors'],
  ['store'],
  // Above store: cluster events are rows of the outbox, written in the caller's transaction.
  ['events'],
  ['crypto', 'outbound', 'ui', 'counters'],
  ['ops'],
  ['http'],
  ['platform'],
  ['audit'],
  ['consent'],
  ['tenancy', 'admin-keys'],
  ['agents'],
  ['authz'],
  ['anomaly', 'sessions'],
  ['elevations', 'sso', 'break-glass', 'impersonation'],
  ['oauth'],
  ['decisions', 'approvals'],
  ['sign-in', 'activity'],
  ['vault', 'scim'],
  ['seed', 'modules', 'lifecycle'],
  ['app'],
  ['cli'],
  ['node'],
  ['serve'],
  ['main'],
];

export interface Violation {
  from: string;
  to: string;
  reason: string;
}

const SRC = path.resolve(import.meta.dirname, '..', 'src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** The folder (or root file) a path under src/ belongs to. */
function unitOf(file: string): string {
  const [first = ''] = path.relative(SRC, file).split(path.sep);
  return first.replace(/\.ts$/, '');
}

/** Every import between files under src/, as relative paths (types count: they are dependencies too). */
export function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const targets = new Set<string>();
    for (const match of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), (match[1] as string).replace(/\.js$/, '.ts'));
      if (target.startsWith(SRC + path.sep)) targets.add(path.relative(SRC, target));
    }
    graph.set(path.relative(SRC, file), targets);
  }
  return graph;
}

/** Imports that run up the layers or sideways between peers, and folders missing from LAYERS. */
export function layerViolations(graph = importGraph()): Violation[] {
  const layerOf = new Map(LAYERS.flatMap((units, index) => units.map((unit) => [unit, index] as const)));
  const violations: Violation[] = [];
  for (const [from, targets] of graph) {
    const fromUnit = unitOf(path.join(SRC, from));
    const fromLayer = layerOf.get(fromUnit);
    if (fromLayer === undefined) {
      violations.push({ from, to: '', reason: `${fromUnit} is in no layer of scripts/layers.ts` });
      continue;
    }
    for (const to of targets) {
      const toUnit = unitOf(path.join(SRC, to));
      if (toUnit === fromUnit) continue;
      const toLayer = layerOf.get(toUnit) ?? Number.POSITIVE_INFINITY;
      if (toLayer > fromLayer) violations.push({ from, to, reason: `${fromUnit} imports ${toUnit}, a higher layer` });
      else if (toLayer === fromLayer) violations.push({ from, to, reason: `${fromUnit} imports its peer ${toUnit}` });
    }
  }
  return violations;
}

/** Files that import each other, directly or round a longer loop (Tarjan's strongly connected components). */
export function importCycles(graph = importGraph()): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) as number, low.get(target) as number));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) as number, index.get(target) as number));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const graph = importGraph();
  const violations = layerViolations(graph);
  const cycles = importCycles(graph);
  for (const v of violations) console.log(`${v.from} -> ${v.to}: ${v.reason}`);
  for (const cycle of cycles) console.log(`cycle: ${cycle.join(' <-> ')}`);
  process.exitCode = violations.length + cycles.length > 0 ? 1 : 0;
}
