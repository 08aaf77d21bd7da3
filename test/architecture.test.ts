import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph, LAYERS, layerViolations } from '../scripts/layers.js';

const src = path.resolve(import.meta.dirname, '..', 'src');

describe('the dependency rule (docs/architecture.md §2)', () => {
  const graph = importGraph();

  it('reads the real import graph', () => {
    // A regression in the parser would make every other check here pass vacuously.
    expect(graph.size).toBeGreaterThan(200);
    expect(graph.get('app.ts')).toContain('modules.ts');
    expect(graph.get('oauth/tokens/live-tokens.ts')).toContain('authz/liveness.ts');
  });

  it('has no import from a lower layer to a higher one, nor between peers', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('has no files that import each other, directly or round a loop', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('catches an upward import and a loop when there is one', () => {
    const broken = new Map(graph);
    broken.set('audit/audit-log.ts', new Set([...(graph.get('audit/audit-log.ts') ?? []), 'oauth/tokens/access-token.ts']));
    broken.set('oauth/tokens/access-token.ts', new Set([...(graph.get('oauth/tokens/access-token.ts') ?? []), 'audit/audit-log.ts']));
    expect(layerViolations(broken)).toContainEqual({
      from: 'audit/audit-log.ts',
      to: 'oauth/tokens/access-token.ts',
      reason: 'audit imports oauth, a higher layer',
    });
    expect(importCycles(broken).some((cycle) => cycle.includes('audit/audit-log.ts'))).toBe(true);
  });

  it('places every folder and root file of src/ in a layer, and every capability has its module', () => {
    const placed = new Set(LAYERS.flat());
    const units = fs.readdirSync(src, { withFileTypes: true }).flatMap((entry) => {
      if (entry.isDirectory()) return [entry.name];
      return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [entry.name.replace(/\.ts$/, '')] : [];
    });
    expect(units.filter((unit) => !placed.has(unit))).toEqual([]);
    const modules = fs.readFileSync(path.join(src, 'modules.ts'), 'utf8');
    for (const unit of units) {
      if (!fs.existsSync(path.join(src, unit, 'module.ts'))) continue;
      expect(modules, `modules.ts builds ${unit}/module.ts`).toContain(`./${unit}/module.js`);
    }
  });
});
