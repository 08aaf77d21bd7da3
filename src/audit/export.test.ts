import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeJsonlDurably } from './export.js';

describe('writeJsonlDurably', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-export-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function* lines(tag: string, n: number) {
    for (let i = 0; i < n; i++) yield `{"writer":"${tag}","i":${i}}\n`;
  }

  it('lets writers of one file in one process (as containers sharing a directory and a pid) never mix their lines', async () => {
    const file = path.join(dir, 'chain', '1-9.jsonl');
    await Promise.all(['a', 'b', 'c'].map((tag) => writeJsonlDurably(file, lines(tag, 20_000))));
    const written = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(written).toHaveLength(20_000);
    expect(new Set(written.map((l) => (JSON.parse(l) as { writer: string }).writer)).size).toBe(1);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['1-9.jsonl']);
  });

  it('removes its temporary file when the lines fail', async () => {
    const file = path.join(dir, 'failed.jsonl');
    async function* failing() {
      yield '{}\n';
      throw new Error('broken chain');
    }
    await expect(writeJsonlDurably(file, failing())).rejects.toThrow('broken chain');
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('failed'))).toEqual([]);
  });
});
