import { describe, expect, it } from 'vitest';
import type { AgentUsage } from '../../agents/usage.js';
import type { AgentRestrictionsView } from '../../anomaly/restrictions.js';
import type { AuditInput } from '../../audit/audit-log.js';
import type { AuditBatcher } from '../../audit/batcher.js';
import { Metrics } from '../../ops/metrics.js';
import type { PrincipalStops } from '../../tenancy/principal-stops.js';
import type { ClientAuthenticator, RegisteredClient } from '../clients/authenticate.js';
import { CIBA_GRANT_TYPE, CLIENT_CREDENTIALS, metricLabelOf, TOKEN_EXCHANGE } from '../grants/grant-types.js';
import { createGrantRegistry, defineGrant, type GrantHandler, type TokenRequest } from '../grants/registry.js';
import { tokenPipeline } from './token-pipeline.js';

const client: RegisteredClient = {
  id: 'cli_1',
  name: 'bot',
  orgId: 'org_1',
  agentId: 'agt_1',
  type: 'confidential',
  method: 'client_secret_post',
  grantTypes: new Set(['test']),
  scopes: [],
  resources: [],
  dynamic: false,
  redirectUris: [],
  active: true,
  secrets: [],
};

const response = { access_token: 'at', token_type: 'Bearer' as const, expires_in: 60, scope: 'crm.read crm.write' };

/** A pipeline around one handler, with what it recorded. */
function pipelineFor(handler: GrantHandler, options: { restrictions?: AgentRestrictionsView; stopped?: boolean } = {}) {
  const events: AuditInput[] = [];
  const usage: (string | null | undefined)[] = [];
  const metrics = new Metrics();
  const run = tokenPipeline({
    grantTypes: createGrantRegistry([handler]),
    clientAuth: { authenticate: async () => client } as unknown as ClientAuthenticator,
    stops: { isStopped: () => options.stopped ?? false } as unknown as PrincipalStops,
    auditBatcher: { record: async (event: AuditInput) => void events.push(event) } as unknown as AuditBatcher,
    metrics,
    agentUsage: { record: (agentId: string | null | undefined) => void usage.push(agentId) } as unknown as AgentUsage,
    ...(options.restrictions && { restrictions: options.restrictions }),
  });
  const request = (form: Record<string, string | string[]>) =>
    run({ authorization: undefined, body: { grant_type: 'test', ...form }, audit: {} });
  const issued = async () => (await metrics.tokensIssued.get()).values.map((v) => [v.labels.grant_type, v.value]);
  return { request, events, usage, issued };
}

describe('the token pipeline', () => {
  it('hands a grant only the parameters it declared', async () => {
    const seen: TokenRequest[] = [];
    const { request } = pipelineFor(
      defineGrant({
        grantType: 'test',
        parameters: ['scope'],
        admitsAgent: false,
        async handle(received) {
          // @ts-expect-error: an undeclared parameter does not even type-check.
          expect(received.params.code).toBeUndefined();
          seen.push(received);
          return { response, issued: null };
        },
      }),
    );
    await request({ scope: 'crm.read', client_id: 'cli_1', client_secret: 's3cret', code: 'undeclared', resource: ['https://r.test/'] });
    expect(seen[0]?.params).toEqual({ scope: 'crm.read' });
    expect(seen[0]?.resources).toEqual([]);
  });

  it('passes the repeatable resource indicators to a grant that declared `resource`', async () => {
    const seen: TokenRequest[] = [];
    const { request } = pipelineFor(
      defineGrant({
        grantType: 'test',
        parameters: ['resource'],
        admitsAgent: false,
        async handle(received) {
          seen.push(received);
          return { response, issued: null };
        },
      }),
    );
    await request({ resource: ['https://a.test/', 'https://b.test/'], scope: 'crm.read' });
    expect(seen[0]?.params).toEqual({});
    expect(seen[0]?.resources).toEqual(['https://a.test/', 'https://b.test/']);
  });

  it('records an issuance: its audit event, its count under the grant’s label, and the agent’s usage', async () => {
    const event: AuditInput = { kind: 'token.issued', orgId: 'org_1', detail: { grant_type: 'test' } };
    const { request, events, usage, issued } = pipelineFor(
      defineGrant({ grantType: 'test', parameters: [], admitsAgent: false, handle: async () => ({ response, issued: { event } }) }),
    );
    expect(await request({})).toEqual(response);
    expect(events).toEqual([event]);
    expect(await issued()).toEqual([['test', 1]]);
    expect(usage).toEqual(['agt_1']);
  });

  it('counts nothing when the handler minted nothing new, but still records usage', async () => {
    const { request, events, usage, issued } = pipelineFor(
      defineGrant({ grantType: 'test', parameters: [], admitsAgent: false, handle: async () => ({ response, issued: null }) }),
    );
    await request({});
    expect(events).toEqual([]);
    expect(await issued()).toEqual([]);
    expect(usage).toEqual(['agt_1']);
  });

  it('refuses a stopped agent before any handler runs, with a token.refused event', async () => {
    let ran = false;
    const { request, events } = pipelineFor(
      defineGrant({
        grantType: 'test',
        parameters: [],
        admitsAgent: false,
        async handle() {
          ran = true;
          return { response, issued: null };
        },
      }),
      { stopped: true },
    );
    await expect(request({})).rejects.toMatchObject({ error: 'unauthorized_client' });
    expect(ran).toBe(false);
    expect(events).toEqual([expect.objectContaining({ kind: 'token.refused', detail: { grant_type: 'test', reason: 'agent suspended' } })]);
  });

  it('admits the agent of a grant that asks for it: rate limit, then its read-only restriction on the scopes', async () => {
    let allowed = true;
    const admitted: string[] = [];
    const restrictions: AgentRestrictionsView = {
      restrictionOf: () => 'read_only',
      admit: async (_orgId, agentId) => {
        admitted.push(agentId);
        return { allowed, retryAfterSeconds: 42 };
      },
    };
    const narrowed: string[][] = [];
    const grant = (admitsAgent: boolean) =>
      defineGrant({
        grantType: 'test',
        parameters: [],
        admitsAgent,
        async handle({ restrictScopes }) {
          narrowed.push(restrictScopes(['crm.read', 'crm.write']));
          return { response, issued: null };
        },
      });
    await pipelineFor(grant(true), { restrictions }).request({});
    expect(narrowed).toEqual([['crm.read']]);
    expect(admitted).toEqual(['agt_1']);

    // A grant that does not admit the agent is neither counted nor narrowed.
    await pipelineFor(grant(false), { restrictions }).request({});
    expect(narrowed.at(-1)).toEqual(['crm.read', 'crm.write']);
    expect(admitted).toEqual(['agt_1']);

    allowed = false;
    await expect(pipelineFor(grant(true), { restrictions }).request({})).rejects.toMatchObject({
      error: 'invalid_request',
      code: 'rate_limited', // rendered 429 (http/status.ts) with the OAuth code invalid_request
      description: expect.stringContaining('retry in 42 s'),
    });
  });

  it('refuses an unknown grant type', async () => {
    const { request } = pipelineFor(
      defineGrant({ grantType: 'other', parameters: [], admitsAgent: false, handle: async () => ({ response, issued: null }) }),
    );
    await expect(request({})).rejects.toMatchObject({ error: 'unsupported_grant_type' });
  });
});

describe('metricLabelOf', () => {
  it('keeps the short labels the metric always had, and names CIBA', () => {
    expect([CLIENT_CREDENTIALS, 'authorization_code', 'refresh_token', TOKEN_EXCHANGE, CIBA_GRANT_TYPE].map(metricLabelOf)).toEqual([
      'client_credentials',
      'authorization_code',
      'refresh_token',
      'token_exchange',
      'ciba',
    ]);
  });
});
