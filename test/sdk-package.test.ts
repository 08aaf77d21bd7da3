import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const SDK = path.join(ROOT, 'sdk');
const FIXTURE = path.join(ROOT, 'test/fixtures/sdk-consumer');
const RESOURCE = 'https://calendar.acme.test/';
const OTHER_RESOURCE = 'https://crm.acme.test/';
const NPM_QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

/**
 * `@mandate/sdk` as a user gets it: `npm pack` (its prepack builds JavaScript and declarations),
 * the tarball installed into a fresh project outside the repository, and there a resource server on
 * Express, Fastify and node:http verifying tokens a real Mandate node issued.
 */
describe('the packed @mandate/sdk in a fresh project', () => {
  let project: string;
  let packed: { files: { path: string }[] };
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let servers: ChildProcess | undefined;
  let urls: Record<string, string>;
  let client: { client_id: string; client_secret: string };

  async function token(resource: string): Promise<string> {
    const res = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
      body: form({ grant_type: 'client_credentials', scope: 'calendar.read', resource }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function admin(url: string, payload: object): Promise<Record<string, unknown>> {
    const res = await fetch(`${issuer}${url}`, {
      method: 'POST',
      headers: { ...adminHeaders, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    if (res.status !== 201) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  }

  beforeAll(async () => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-sdk-consumer-'));
    // prepack's own output comes first on stdout, then the JSON report.
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', project, ...NPM_QUIET], {
      cwd: SDK,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    [packed] = JSON.parse(out.slice(out.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
    const tarball = path.join(project, (packed as unknown as { filename: string }).filename);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'sdk-consumer', private: true, type: 'module' }));
    // The SDK and its one dependency (jose) come from the tarball and the registry (or npm's cache).
    execFileSync('npm', ['install', tarball, '--prefer-offline', '--ignore-scripts', ...NPM_QUIET], { cwd: project, encoding: 'utf8' });
    // The frameworks are the application's own; this project borrows the repository's copies.
    for (const name of ['express', 'fastify']) {
      fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(project, 'node_modules', name), 'dir');
    }
    for (const file of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, file), path.join(project, file));

    db = await createTestDatabase('sqlite');
    ({ node, issuer } = await startListeningNode(db));
    await admin('/v1/organizations', { slug: 'acme', name: 'Acme' });
    for (const identifier of [RESOURCE, OTHER_RESOURCE]) {
      await admin('/v1/resources', { identifier, name: identifier, scopes: [{ name: 'calendar.read', description: 'Read' }] });
    }
    client = (await admin('/v1/organizations/acme/clients', {
      client_name: 'Agent',
      client_type: 'confidential',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      scope: 'calendar.read',
      resources: [RESOURCE, OTHER_RESOURCE],
    })) as typeof client;

    const child = spawn(process.execPath, ['servers.mjs', issuer, RESOURCE], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    servers = child;
    urls = await new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout?.on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(JSON.parse(out) as Record<string, string>);
      });
      child.stderr?.on('data', (chunk) => {
        err += chunk;
      });
      child.on('exit', (code) => reject(new Error(`servers.mjs exited ${code}: ${err}`)));
    });
  }, 120_000);
  afterAll(async () => {
    servers?.kill('SIGTERM');
    await node?.shutdown();
    await db?.dispose();
    if (project) fs.rmSync(project, { recursive: true, force: true });
  });

  it('ships built JavaScript, declarations and the sources their maps point to, never its tests', () => {
    const files = packed.files.map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/index.d.ts.map',
        'dist/express.js',
        'src/index.ts',
      ]),
    );
    expect(files.filter((file) => file.startsWith('test/') || file.endsWith('.test.ts'))).toEqual([]);
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/@mandate/sdk/package.json'), 'utf8'));
    expect(manifest.exports['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js' });
  });

  it('resolves only through its exports map', () => {
    const deep = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('@mandate/sdk/dist/verify.js')"], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(deep.status).not.toBe(0);
    expect(deep.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks a consumer against its declarations (NodeNext)', () => {
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['types-check.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it.each(['express', 'fastify', 'node:http'])(
    '%s: admits a token Mandate issued for the resource and hands over its claims',
    async (framework) => {
      const res = await fetch(`${urls[framework]}/whoami`, { headers: { authorization: `Bearer ${await token(RESOURCE)}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ client_id: client.client_id, aud: RESOURCE });
    },
  );

  it.each(['express', 'fastify', 'node:http'])('%s: refuses a token for another resource, a tampered one and none', async (framework) => {
    const url = `${urls[framework]}/whoami`;
    const foreign = await fetch(url, { headers: { authorization: `Bearer ${await token(OTHER_RESOURCE)}` } });
    expect(foreign.status).toBe(401);
    expect(foreign.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const good = await token(RESOURCE);
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'calendar.read calendar.write admin' })).toString('base64url');
    const tampered = await fetch(url, { headers: { authorization: `Bearer ${header}.${forged}.${signature}` } });
    expect(tampered.status).toBe(401);
    expect(tampered.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('resource_metadata=');
  });
});
