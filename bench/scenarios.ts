/** One benchmark: a request autocannon repeats against a freshly started Mandate. */
export interface Scenario {
  name: string;
  description: string;
  method: 'GET' | 'POST';
  path: string;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'discovery',
    description: 'GET /.well-known/oauth-authorization-server',
    method: 'GET',
    path: '/.well-known/oauth-authorization-server',
  },
  { name: 'jwks', description: 'GET /oauth2/jwks', method: 'GET', path: '/oauth2/jwks' },
];
