import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { type CodeFlowFixture, createCodeFlowFixture, obtainCode } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

type Tokens = { access_token: string; refresh_token: string; scope: string; expires_in: number };

describe.each(dialects)('refresh-token reuse window on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let strict: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  const clock = new FrozenClock(Date.now());

  const post = (on: MandateNode, url: string, body: Record<string, string>, authorization?: string) =>
    on.app.inject({
      method: 'POST',
      url,
      payload: form(body),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
    });
  const refresh = (refreshToken: string, on: MandateNode = node) =>
    post(on, '/oauth2/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: fx.publicClient });
  const active = async (accessToken: string, on: MandateNode = node) =>
    (await post(on, '/oauth2/introspect', { token: accessToken }, basic(fx.webClient.client_id, fx.webClient.client_secret))).json()
      .active as boolean;
  const tokens = async (): Promise<Tokens> => {
    const c = await obtainCode(node, fx);
    const res = await post(node, '/oauth2/token', {
      grant_type: 'authorization_code',
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: c.redirectUri,
      client_id: fx.publicClient,
    });
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const sealedRows = () =>
    node.runtime.store.db.selectFrom('refresh_tokens').selectAll().where('successor_ciphertext', 'is not', null).execute();

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    strict = await startTestNode(db, { clock, config: { refreshTokenReuseWindowSeconds: 0 } });
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    // The clock was frozen when the suites were collected: catch up, so trusted tokens minted now are not from the future.
    clock.advance((Date.now() - clock.now()) / 1000);
    fx = await createCodeFlowFixture(node, loginApp);
  });
  afterAll(async () => {
    await strict?.shutdown();
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('gives concurrent refreshes of one token the one same successor pair, and the grant stays live', async () => {
    const first = await tokens();
    const results = await Promise.all(Array.from({ length: 6 }, () => refresh(first.refresh_token)));
    expect(results.map((r) => r.statusCode)).toEqual(Array(6).fill(200));
    const bodies = results.map((r) => r.json() as Tokens);
    const [one] = bodies as [Tokens];
    expect(one.refresh_token).not.toBe(first.refresh_token);
    for (const body of bodies) {
      expect(body.refresh_token).toBe(one.refresh_token);
      expect(body.access_token).toBe(one.access_token);
      expect(body.expires_in).toBeGreaterThan(0);
    }
    expect(await active(one.access_token)).toBe(true);
    expect(await active(first.access_token)).toBe(true);
    // Five of the six were answered from the window, and the trail says so.
    const reused = await node.runtime.store.db
      .selectFrom('audit_events')
      .select('detail')
      .where('kind', '=', 'token.refreshed')
      .where('detail', 'like', '%reuse_within_grace_window%')
      .execute();
    expect(reused.length).toBe(5);
    // The successor is kept sealed, never in clear text.
    const sealed = await sealedRows();
    expect(sealed.some((r) => r.successor_ciphertext?.startsWith('v1.'))).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain(one.refresh_token);
    expect(JSON.stringify(sealed)).not.toContain(one.access_token);

    // The successor works and rotates as usual.
    const next = await refresh(one.refresh_token);
    expect(next.statusCode).toBe(200);
    expect(await active(next.json().access_token)).toBe(true);
  });

  it('a retry after a lost response gets the same pair; after the window, the old token is reuse and revokes the grant', async () => {
    const first = await tokens();
    const lost = (await refresh(first.refresh_token)).json() as Tokens;
    clock.advance(20);
    const retry = await refresh(first.refresh_token);
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toMatchObject({ refresh_token: lost.refresh_token, access_token: lost.access_token });
    expect(retry.json().expires_in).toBe(lost.expires_in - 20);

    clock.advance(11);
    const late = await refresh(first.refresh_token);
    expect(late.statusCode).toBe(400);
    expect(late.json().error).toBe('invalid_grant');
    expect(await active(lost.access_token)).toBe(false);
    expect((await refresh(lost.refresh_token)).json().error).toBe('invalid_grant');
  });

  it('forgets the sealed successor once its window has passed', async () => {
    const first = await tokens();
    const second = (await refresh(first.refresh_token)).json() as Tokens;
    clock.advance(31);
    await node.refreshTokens.forgetExpiredSuccessors(node.runtime.store.db);
    const rows = await node.runtime.store.db.selectFrom('refresh_tokens').select('successor_ciphertext').execute();
    expect(rows.every((r) => r.successor_ciphertext === null)).toBe(true);
    expect((await refresh(second.refresh_token)).statusCode).toBe(200);
  });

  it('once the successor was used, the previous token is reuse even inside the window, and revokes the grant', async () => {
    const first = await tokens();
    const second = (await refresh(first.refresh_token)).json() as Tokens;
    const third = (await refresh(second.refresh_token)).json() as Tokens;
    const reuse = await refresh(first.refresh_token);
    expect(reuse.statusCode).toBe(400);
    expect(reuse.json().error).toBe('invalid_grant');
    expect(await active(third.access_token)).toBe(false);
    expect((await refresh(third.refresh_token)).json().error).toBe('invalid_grant');
  });

  it('only the immediately previous token is forgiven: the one before it revokes', async () => {
    const first = await tokens();
    const second = (await refresh(first.refresh_token)).json() as Tokens;
    const third = (await refresh(second.refresh_token)).json() as Tokens;
    expect((await refresh(second.refresh_token)).json().refresh_token).toBe(third.refresh_token);
    expect((await refresh(first.refresh_token)).json().error).toBe('invalid_grant');
    expect(await active(third.access_token)).toBe(false);
  });

  it('a grant revoked meanwhile: the window answers invalid_grant, never the successor', async () => {
    const first = await tokens();
    const second = (await refresh(first.refresh_token)).json() as Tokens;
    const revoked = await post(node, '/oauth2/revoke', { token: second.refresh_token, client_id: fx.publicClient });
    expect(revoked.statusCode).toBe(200);
    const retry = await refresh(first.refresh_token);
    expect(retry.statusCode).toBe(400);
    expect(retry.json()).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
  });

  it('another client presenting the previous token gets invalid_grant and the grant stays', async () => {
    const first = await tokens();
    const second = (await refresh(first.refresh_token)).json() as Tokens;
    const foreign = await post(
      node,
      '/oauth2/token',
      { grant_type: 'refresh_token', refresh_token: first.refresh_token },
      basic(fx.webClient.client_id, fx.webClient.client_secret),
    );
    expect(foreign.json().error).toBe('invalid_grant');
    expect(await active(second.access_token)).toBe(true);
  });

  it('with the window set to 0, any reuse revokes the grant at once', async () => {
    const first = await tokens();
    const second = (await refresh(first.refresh_token, strict)).json() as Tokens;
    const reuse = await refresh(first.refresh_token, strict);
    expect(reuse.json().error).toBe('invalid_grant');
    expect(await active(second.access_token, strict)).toBe(false);
    expect((await refresh(second.refresh_token, strict)).json().error).toBe('invalid_grant');
  });
});
