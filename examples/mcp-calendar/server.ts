/**
 * A calendar MCP server protected by Mandate.
 *
 * - RFC 9728 metadata tells MCP clients which authorization server issues tokens for it;
 * - every request to the MCP endpoint needs a Mandate access token for this resource (audience);
 * - each tool needs its own scope: `list_events` needs `calendar.read`, `create_event` needs `calendar.write`;
 * - events are kept per organization and user, so nobody sees anyone else's calendar.
 *
 * Run it: `MANDATE_ISSUER=http://localhost:4000 node --import tsx examples/mcp-calendar/server.ts`
 * (add `MCP_INTROSPECTION_ID` and `MCP_INTROSPECTION_SECRET`, a resource credential, to introspect every token)
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { hostHeaderValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import {
  errorResponseOf,
  type MandateTokenClaims,
  mandateExpress,
  protectedResourceMetadataUrl,
  registerProtectedResourceMetadataExpress,
  requireScopes,
} from '../../sdk/src/index.js';

/** Options of {@link createCalendarServer}. */
export interface CalendarServerOptions {
  /** The Mandate issuer, exactly as in the tokens' `iss` claim, e.g. `http://localhost:4000`. */
  issuer: string;
  /** This MCP server's resource identifier and public URL, e.g. `http://127.0.0.1:8787/mcp`. Tokens must name it in `aud`. */
  resource: string;
  /** The port to listen on. Default: the port of `resource`, or any free port when it names none. */
  port?: number;
  /** The address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Signing keys to verify tokens with. Default: Mandate's JWKS at `${issuer}/oauth2/jwks`. */
  jwks?: JWTVerifyGetKey;
  /**
   * When set, every request's token is introspected at Mandate (RFC 7662) instead of verified
   * locally, so a revoked token is refused at once. Use the resource's own credential
   * (`POST /v1/resources/{resource}/credentials`): it reads the tokens of every organization.
   */
  introspection?: { clientId: string; clientSecret: string };
}

/** A running calendar server. */
export interface CalendarServer {
  /** The MCP endpoint the server listens on, e.g. `http://127.0.0.1:8787/mcp`. */
  url: string;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

export const SCOPES = { read: 'calendar.read', write: 'calendar.write' } as const;

/** The scope each tool needs. Tools not listed here need only a valid token. */
const TOOL_SCOPES = new Map<string, string>([
  ['list_events', SCOPES.read],
  ['create_event', SCOPES.write],
]);

// ---------------------------------------------------------------------------------------------
// Event store: in memory, one calendar per (organization, user).
// ---------------------------------------------------------------------------------------------

/** One calendar event. */
export interface CalendarEvent {
  id: string;
  title: string;
  start: string;
}

/** Whose calendar: the token's organization and subject. */
type Owner = Pick<MandateTokenClaims, 'org_id' | 'sub'>;

interface EventStore {
  list(owner: Owner): CalendarEvent[];
  add(owner: Owner, event: Omit<CalendarEvent, 'id'>): CalendarEvent;
}

function createEventStore(): EventStore {
  const calendars = new Map<string, CalendarEvent[]>();
  // The organization is part of the key: the same `sub` in two organizations has two calendars.
  const keyOf = (owner: Owner) => JSON.stringify([owner.org_id, owner.sub]);
  return {
    list: (owner) => [...(calendars.get(keyOf(owner)) ?? [])].sort((a, b) => Date.parse(a.start) - Date.parse(b.start)),
    add(owner, event) {
      const created = { id: randomUUID(), ...event };
      const key = keyOf(owner);
      calendars.set(key, [...(calendars.get(key) ?? []), created]);
      return created;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// MCP server factory: one McpServer per request (stateless), bound to the caller's identity.
// ---------------------------------------------------------------------------------------------

const eventSchema = z.object({ id: z.string(), title: z.string(), start: z.string() });

function createMcpServer(caller: Owner, store: EventStore): McpServer {
  const server = new McpServer({ name: 'mandate-calendar-example', version: '0.1.0' });

  server.registerTool(
    'list_events',
    {
      title: 'List events',
      description: `List the signed-in user's calendar events, earliest first. Requires the ${SCOPES.read} scope.`,
      outputSchema: { events: z.array(eventSchema) },
      annotations: { readOnlyHint: true },
    },
    () => {
      const events = store.list(caller);
      return { content: [{ type: 'text', text: JSON.stringify(events) }], structuredContent: { events } };
    },
  );

  server.registerTool(
    'create_event',
    {
      title: 'Create event',
      description: `Add an event to the signed-in user's calendar. Requires the ${SCOPES.write} scope.`,
      inputSchema: {
        title: z.string().min(1).max(200).describe('What the event is'),
        start: z.iso.datetime({ offset: true }).describe('When it starts, ISO 8601, e.g. 2030-01-01T09:00:00Z'),
      },
      outputSchema: { event: eventSchema },
      annotations: { readOnlyHint: false, idempotentHint: false },
    },
    ({ title, start }) => {
      const event = store.add(caller, { title, start });
      return { content: [{ type: 'text', text: JSON.stringify(event) }], structuredContent: { event } };
    },
  );

  return server;
}

// ---------------------------------------------------------------------------------------------
// Scope gate: tool calls share one endpoint, so the JSON-RPC body says which scope is needed.
// ---------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The scopes the JSON-RPC message (or batch) needs: one per `tools/call` of a protected tool. */
export function requiredScopesOf(body: unknown): string[] {
  const scopes = new Set<string>();
  for (const message of Array.isArray(body) ? body : [body]) {
    if (!isRecord(message) || message.method !== 'tools/call' || !isRecord(message.params)) continue;
    const scope = typeof message.params.name === 'string' ? TOOL_SCOPES.get(message.params.name) : undefined;
    if (scope !== undefined) scopes.add(scope);
  }
  return [...scopes];
}

/**
 * Refuses a tool call whose token lacks the tool's scope: 403 with
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="…", resource_metadata="…"`,
 * which MCP clients answer by asking the user for the missing scope (step-up authorization).
 */
function requireToolScopes(resourceMetadataUrl: string): RequestHandler {
  return (req, res, next) => {
    try {
      requireScopes(req.mandate?.scope ?? '', requiredScopesOf(req.body));
    } catch (error) {
      const refusal = errorResponseOf(error, resourceMetadataUrl);
      if (!refusal) return next(error);
      res.status(refusal.status).set(refusal.headers).json(refusal.body);
      return;
    }
    next();
  };
}

// ---------------------------------------------------------------------------------------------
// MCP endpoint: Streamable HTTP, stateless, JSON responses.
// ---------------------------------------------------------------------------------------------

function handleMcp(store: EventStore): RequestHandler {
  return async (req, res, next) => {
    const caller = req.mandate;
    if (!caller) return next(new Error('the MCP endpoint must sit behind mandateExpress'));
    const server = createMcpServer(caller, store);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      // `?? null`: the transport must never read a body the scope gate did not see.
      await transport.handleRequest(req, res, req.body ?? null);
    } catch (error) {
      next(error);
    }
  };
}

/** Stateless mode keeps no session: there is no stream to GET and no session to DELETE. */
const methodNotAllowed: RequestHandler = (_req, res) => {
  res
    .status(405)
    .set('allow', 'POST')
    .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
};

/** Malformed JSON and unexpected failures, answered as JSON-RPC errors. */
const jsonRpcErrors: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  if (res.headersSent) return next(error);
  const parseFailed = isRecord(error) && error.type === 'entity.parse.failed';
  if (!parseFailed) console.error(error);
  const rpcError = parseFailed ? { code: -32700, message: 'Parse error' } : { code: -32603, message: 'Internal error' };
  res.status(parseFailed ? 400 : 500).json({ jsonrpc: '2.0', error: rpcError, id: null });
};

// ---------------------------------------------------------------------------------------------
// The app: metadata, then authentication, then the scope gate, then MCP.
// ---------------------------------------------------------------------------------------------

function createApp(options: CalendarServerOptions): Express {
  const { issuer, resource, jwks, introspection } = options;
  const resourceUrl = new URL(resource);
  const path = resourceUrl.pathname;
  const resourceMetadataUrl = protectedResourceMetadataUrl(resource);
  const store = createEventStore();

  const app = express();
  app.disable('x-powered-by');
  // DNS rebinding protection: only requests addressed to loopback or to the resource's own host.
  app.use(hostHeaderValidation(['localhost', '127.0.0.1', '[::1]', resourceUrl.hostname]));

  // RFC 9728: where MCP clients learn that Mandate is the authorization server, and which scopes exist.
  registerProtectedResourceMetadataExpress(app, {
    resource,
    authorizationServers: [issuer],
    scopesSupported: [SCOPES.read, SCOPES.write],
    resourceName: 'Calendar (Mandate MCP example)',
  });

  // Every method on the MCP endpoint needs a valid token for this resource: 401 + resource_metadata otherwise.
  app.all(path, mandateExpress({ issuer, resource, ...(jwks && { jwks }), ...(introspection && { introspection }) }));
  app.post(path, express.json(), requireToolScopes(resourceMetadataUrl), handleMcp(store));
  app.all(path, methodNotAllowed);
  app.use(jsonRpcErrors);
  return app;
}

/**
 * Starts the calendar MCP server.
 *
 * @param options - The Mandate issuer, this server's resource identifier, where to listen.
 * @returns The MCP endpoint URL and a `close` function.
 */
export async function createCalendarServer(options: CalendarServerOptions): Promise<CalendarServer> {
  const app = createApp(options);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? Number(new URL(options.resource).port || 0);
  const httpServer = createServer(app);
  httpServer.listen(port, host);
  await once(httpServer, 'listening');
  const address = httpServer.address() as AddressInfo;
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostInUrl}:${address.port}${new URL(options.resource).pathname}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        httpServer.closeAllConnections();
        httpServer.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Run directly: `node --import tsx examples/mcp-calendar/server.ts`
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const issuer = process.env.MANDATE_ISSUER ?? 'http://localhost:4000';
  const resource = process.env.MCP_RESOURCE ?? 'http://127.0.0.1:8787/mcp';
  // A resource credential turns on introspection: revocation is seen at once, at a round trip per request.
  const clientId = process.env.MCP_INTROSPECTION_ID;
  const clientSecret = process.env.MCP_INTROSPECTION_SECRET;
  const introspection = clientId && clientSecret ? { clientId, clientSecret } : undefined;
  const server = await createCalendarServer({ issuer, resource, ...(introspection && { introspection }) });
  console.log(`Calendar MCP server listening on ${server.url}`);
  console.log(`  resource:          ${resource}`);
  console.log(`  resource metadata: ${protectedResourceMetadataUrl(resource)}`);
  console.log(`  issuer:            ${issuer}`);
  console.log(`  tokens checked by: ${introspection ? `introspection as ${introspection.clientId}` : 'local JWT verification'}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void server.close().then(() => process.exit(0)));
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
