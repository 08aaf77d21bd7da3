import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerProtectedResourceMetadata } from '../src/fastify.js';
import { protectedResourceMetadata, protectedResourceMetadataPath, protectedResourceMetadataUrl } from '../src/protected-resource.js';

describe('RFC 9728 protected resource metadata', () => {
  it.each([
    { resource: 'https://mcp.example.com/mcp', path: '/.well-known/oauth-protected-resource/mcp' },
    { resource: 'https://mcp.example.com/', path: '/.well-known/oauth-protected-resource' },
    { resource: 'https://mcp.example.com', path: '/.well-known/oauth-protected-resource' },
    { resource: 'https://api.example.com/v1/calendar', path: '/.well-known/oauth-protected-resource/v1/calendar' },
    { resource: 'https://api.example.com/mcp/', path: '/.well-known/oauth-protected-resource/mcp/' },
    { resource: 'https://api.example.com:8443/mcp', path: '/.well-known/oauth-protected-resource/mcp' },
    { resource: 'https://api.example.com/mcp?tenant=a', path: '/.well-known/oauth-protected-resource/mcp?tenant=a' },
  ])('path of $resource is $path', ({ resource, path }) => {
    expect(protectedResourceMetadataPath(resource)).toBe(path);
  });

  it('builds the absolute URL on the resource origin', () => {
    expect(protectedResourceMetadataUrl('https://mcp.example.com/mcp')).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
    );
    expect(protectedResourceMetadataUrl('http://127.0.0.1:3000/')).toBe('http://127.0.0.1:3000/.well-known/oauth-protected-resource');
  });

  it.each(['not a url', '/mcp', 'https://mcp.example.com/mcp#frag', 'urn:example:resource'])('refuses the resource %j', (resource) => {
    expect(() => protectedResourceMetadataPath(resource)).toThrow(TypeError);
  });

  it('builds the document', () => {
    expect(
      protectedResourceMetadata({
        resource: 'https://mcp.example.com/mcp',
        authorizationServers: ['https://auth.example.com'],
        scopesSupported: ['calendar.read'],
        resourceName: 'Calendar MCP',
      }),
    ).toEqual({
      resource: 'https://mcp.example.com/mcp',
      authorization_servers: ['https://auth.example.com'],
      scopes_supported: ['calendar.read'],
      bearer_methods_supported: ['header'],
      resource_name: 'Calendar MCP',
    });
    expect(protectedResourceMetadata({ resource: 'https://mcp.example.com/', authorizationServers: ['https://auth.example.com'] })).toEqual(
      {
        resource: 'https://mcp.example.com/',
        authorization_servers: ['https://auth.example.com'],
        bearer_methods_supported: ['header'],
      },
    );
  });

  it('is served by Fastify at the path-inserted well-known URI over real HTTP', async () => {
    const app = Fastify();
    const resource = 'https://mcp.example.com/mcp';
    registerProtectedResourceMetadata(app, {
      resource,
      authorizationServers: ['https://auth.example.com'],
      scopesSupported: ['calendar.read', 'calendar.write'],
      resourceName: 'Calendar MCP',
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const response = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(await response.json()).toEqual({
        resource,
        authorization_servers: ['https://auth.example.com'],
        scopes_supported: ['calendar.read', 'calendar.write'],
        bearer_methods_supported: ['header'],
        resource_name: 'Calendar MCP',
      });
      expect((await fetch(`${base}/.well-known/oauth-protected-resource`)).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});
