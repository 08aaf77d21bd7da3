import type { MandateNode } from '../../src/node.js';
import { adminHeaders } from './nodes.js';

export const MCP = 'https://mcp.acme.test/';

export interface OAuthFixture {
  acme: { id: string };
  globex: { id: string };
  /** Confidential client_credentials clients (secret_basic) of each organization. */
  agentClient: { client_id: string; client_secret: string };
  postClient: { client_id: string; client_secret: string };
  globexClient: { client_id: string; client_secret: string };
  publicClient: { client_id: string };
}

async function admin<T>(node: MandateNode, method: 'POST' | 'PATCH', url: string, payload: object): Promise<T> {
  const res = await node.app.inject({ method, url, payload, headers: adminHeaders });
  if (res.statusCode >= 300) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`);
  return res.json() as T;
}

/** Two organizations, one MCP resource open to both, and clients of each kind. */
export async function createOAuthFixture(node: MandateNode): Promise<OAuthFixture> {
  const acme = await admin<{ id: string }>(node, 'POST', '/v1/organizations', { slug: 'acme', name: 'Acme' });
  const globex = await admin<{ id: string }>(node, 'POST', '/v1/organizations', { slug: 'globex', name: 'Globex' });
  await admin(node, 'POST', '/v1/resources', {
    identifier: MCP,
    name: 'Acme calendar MCP',
    scopes: [
      { name: 'calendar.read', description: 'Read your calendar' },
      { name: 'calendar.write', description: 'Create and change events' },
    ],
  });
  const confidential = (org: string, name: string, method = 'client_secret_basic') =>
    admin<{ client_id: string; client_secret: string }>(node, 'POST', `/v1/organizations/${org}/clients`, {
      client_name: name,
      client_type: 'confidential',
      token_endpoint_auth_method: method,
      grant_types: ['client_credentials'],
      scope: 'calendar.read calendar.write',
      resources: [MCP],
    });
  return {
    acme,
    globex,
    agentClient: await confidential('acme', 'Scheduling agent'),
    postClient: await confidential('acme', 'Reporting agent', 'client_secret_post'),
    globexClient: await confidential('globex', 'Globex agent'),
    publicClient: await admin(node, 'POST', '/v1/organizations/acme/clients', {
      client_name: 'Desktop app',
      client_type: 'public',
      grant_types: ['authorization_code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'calendar.read',
      resources: [MCP],
    }),
  };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export function form(values: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) for (const v of [value].flat()) params.append(key, v);
  return params.toString();
}
