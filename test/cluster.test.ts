import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { pgAvailable } from './support/databases.js';
import { createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

async function publishedKids(node: MandateNode): Promise<string[]> {
  const res = await node.app.inject({ method: 'GET', url: '/oauth2/jwks' });
  return (res.json() as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

describe.runIf(pgAvailable)('two nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: MandateNode;
  let b: MandateNode;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // Both start at once: migrations and first keys must not race into two active keys.
    [a, b] = await Promise.all([startTestNode(db), startTestNode(db)]);
  });
  afterAll(async () => {
    await Promise.all([a?.shutdown(), b?.shutdown()]);
    await db?.dispose();
  });

  it('agree on the signing keys after a simultaneous first start', async () => {
    expect(a.keyRing.activeKey().kid).toBe(b.keyRing.activeKey().kid);
    const states = (await a.keyRing.list()).map((k) => k.state).sort();
    expect(states).toEqual(['active', 'next']);
  });

  it('a rotation on node A shows in node B JWKS within 1 s, through LISTEN/NOTIFY', async () => {
    const { activeKid, nextKid } = await a.keyRing.rotate();
    const started = Date.now();
    let kids = await publishedKids(b);
    while (!(kids.includes(nextKid) && b.keyRing.activeKey().kid === activeKid) && Date.now() - started < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      kids = await publishedKids(b);
    }
    expect(kids).toContain(nextKid);
    expect(b.keyRing.activeKey().kid).toBe(activeKid);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
