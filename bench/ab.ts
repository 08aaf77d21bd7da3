/**
 * `npx tsx bench/ab.ts <scenario> <other checkout> [--rounds 3] [--duration 8]`
 *
 * A/B of Mandate against another built checkout of it (e.g. `git worktree add /tmp/base main`
 * then `npm run build` there): the two take turns for each round, so background load falls on both
 * alike. Prints each round's rates and the median ratio this/other.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runOn } from './measure.js';
import { SCENARIOS } from './scenarios.js';
import { startMandate } from './targets/mandate.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '50' },
  },
});
const [name, other] = positionals;
const scenario = SCENARIOS.find((s) => s.name === name);
if (!scenario || !other) {
  process.stderr.write('usage: npx tsx bench/ab.ts <scenario> <other checkout> [--rounds 3] [--duration 8]\n');
  process.exit(2);
}
const otherTargets = (await import(path.resolve(other, 'bench/targets/mandate.ts'))) as { startMandate: typeof startMandate };
const load = { connections: Number(values.connections), duration: Number(values.duration) };
const ratios: number[] = [];
for (let i = 0; i < Number(values.rounds); i++) {
  const mine = await runOn(scenario, () => startMandate(), load);
  const theirs = await runOn(scenario, () => otherTargets.startMandate(), load);
  ratios.push(Math.round((mine.requests_per_sec / Math.max(1, theirs.requests_per_sec)) * 100) / 100);
  process.stdout.write(
    `round ${i + 1}: this ${mine.requests_per_sec} req/s, other ${theirs.requests_per_sec} req/s, ratio ${ratios.at(-1)}\n`,
  );
}
ratios.sort((a, b) => a - b);
process.stdout.write(`median ratio this/other: ${ratios[Math.floor(ratios.length / 2)]}\n`);
