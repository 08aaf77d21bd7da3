import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withConfigTable } from '../scripts/generate-config-docs.js';
import { OPTIONS } from '../src/config.js';

const root = path.resolve(import.meta.dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('has the configuration table generated from src/config.ts (run npm run docs:config)', () => {
    expect(readme).toBe(withConfigTable(readme));
    for (const option of OPTIONS) expect(readme).toContain(`\`${option.env}\``);
  });

  it('names exactly the two set-up commands, and CI runs the same test command', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
    expect(fs.readFileSync(path.join(root, '.ci/run'), 'utf8')).toMatch(/^\s*npm test\b/m);
  });
});
