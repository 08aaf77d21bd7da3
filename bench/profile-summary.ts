/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile|dir> [--top 25]`
 *
 * Summarizes V8 CPU profiles written by `node --cpu-prof` (for example through
 * `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- client-credentials`):
 * the functions with the most self time, and the packages (node_modules/<name>, node internals,
 * Mandate's own src/ folders) that time falls in, as shares of the sampled time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a package, a src/ folder of Mandate, node itself, or V8's own states. */
function areaOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'anonymous'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  const own = /\/dist\/src\/(.+)$/.exec(url) ?? /\/src\/(.+)$/.exec(url);
  if (own) return `src/${path.dirname(own[1] ?? '')}`.replace(/\/\.$/, '');
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

function summarize(file: string, top: number): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const selfMs = new Map<number, number>();
  // Self time per node from the samples and their time deltas (microseconds).
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    selfMs.set(id, (selfMs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0) / 1000);
  }
  const total = [...selfMs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    if (ms === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + ms);
  }
  const idle = byFunction.get('(idle)') ?? 0;
  const busy = total - idle;
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .filter(([name]) => name !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => `  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`)
      .join('\n');
  return [
    `${path.basename(file)}: ${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (shares below are of busy time)`,
    'top self time by function:',
    rows(byFunction),
    'self time by area:',
    rows(byArea),
  ].join('\n');
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
const target = positionals[0];
if (!target) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts <file.cpuprofile|dir> [--top 25]\n');
  process.exit(2);
}
const files = fs.statSync(target).isDirectory()
  ? fs
      .readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(target, f))
  : [target];
for (const file of files) process.stdout.write(`${summarize(file, Number(values.top))}\n\n`);
