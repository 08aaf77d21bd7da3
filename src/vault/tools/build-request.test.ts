import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../providers/catalog.js';
import type { ToolEntry } from '../providers/types.js';
import { resolveApiUrl } from './api-url.js';
import { buildToolRequest, compileToolSchema } from './build-request.js';
import { TOOLS } from './catalog.js';
import { ToolInputError } from './errors.js';

function tool(name: string): ToolEntry {
  const found = TOOLS[name];
  if (!found) throw new Error(name);
  return found;
}

function inputError(run: () => unknown): ToolInputError {
  try {
    run();
  } catch (error) {
    if (error instanceof ToolInputError) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('TOOLS', () => {
  it('has the required tools', () => {
    for (const name of [
      'notion_page_search',
      'notion_page_create',
      'notion_page_get',
      'github_issue_create',
      'github_issue_get',
      'github_issue_search',
      'slack_message_post',
      'linear_issue_create',
      'google_calendar_events_list',
    ]) {
      expect(TOOLS[name]?.name).toBe(name);
    }
    expect(TOOLS.constructor).toBeUndefined();
  });

  it.each(Object.values(TOOLS))('$name: a known provider, its permission, a closed schema that compiles', (entry) => {
    expect(PROVIDERS[entry.provider]).toBeDefined();
    expect(entry.permission.tool).toBe(entry.provider);
    expect(entry.permission.action).toBe(entry.request.method === 'GET' || entry.name.endsWith('_search') ? 'read' : 'write');
    expect(entry.inputSchema).toMatchObject({ type: 'object', additionalProperties: false });
    expect(() => compileToolSchema(entry)).not.toThrow();
    for (const [name, property] of Object.entries(entry.inputSchema.properties as Record<string, Record<string, unknown>>)) {
      if (property.type === 'string' && !property.enum)
        expect(property.maxLength ?? property.pattern ?? property.format, name).toBeDefined();
    }
    for (const placeholder of entry.request.path.matchAll(/\{(\w+)\}/g)) {
      const field = placeholder[1] as string;
      const required = (entry.inputSchema.required as string[] | undefined) ?? [];
      const withDefault = (entry.inputSchema.properties as Record<string, { default?: unknown }>)[field]?.default !== undefined;
      expect(required.includes(field) || withDefault, field).toBe(true);
    }
  });
});

describe('buildToolRequest', () => {
  it('notion_page_search: drops absent optional fields from the body', () => {
    expect(buildToolRequest(tool('notion_page_search'), { query: 'roadmap' })).toEqual({
      method: 'POST',
      path: '/v1/search',
      body: { query: 'roadmap', filter: { property: 'object', value: 'page' } },
    });
    expect(buildToolRequest(tool('notion_page_search'), { query: 'q', page_size: 10, start_cursor: 'abc' }).body).toEqual({
      query: 'q',
      filter: { property: 'object', value: 'page' },
      page_size: 10,
      start_cursor: 'abc',
    });
  });

  it('notion_page_create: fills nested templates', () => {
    const request = buildToolRequest(tool('notion_page_create'), {
      parent_page_id: '59833787-2cf9-4fdf-8782-e53db20768a5',
      title: 'Weekly notes',
      content: 'Hello',
    });
    expect(request).toEqual({
      method: 'POST',
      path: '/v1/pages',
      body: {
        parent: { page_id: '59833787-2cf9-4fdf-8782-e53db20768a5' },
        properties: { title: { title: [{ type: 'text', text: { content: 'Weekly notes' } }] } },
        children: [{ object: 'block', type: 'paragraph', paragraph: { rich_text: [{ type: 'text', text: { content: 'Hello' } }] } }],
      },
    });
  });

  it('notion_page_get: path placeholder', () => {
    expect(buildToolRequest(tool('notion_page_get'), { page_id: '598337872cf94fdf8782e53db20768a5' })).toEqual({
      method: 'GET',
      path: '/v1/pages/598337872cf94fdf8782e53db20768a5',
    });
  });

  it('github_issue_create and github_issue_get', () => {
    expect(
      buildToolRequest(tool('github_issue_create'), { owner: 'octo-org', repo: 'hello.world', title: 'Bug', labels: ['bug'] }),
    ).toEqual({
      method: 'POST',
      path: '/repos/octo-org/hello.world/issues',
      body: { title: 'Bug', labels: ['bug'] },
    });
    expect(buildToolRequest(tool('github_issue_get'), { owner: 'o', repo: 'r', issue_number: 42 }).path).toBe('/repos/o/r/issues/42');
  });

  it('github_issue_search: query values, absent ones dropped', () => {
    expect(buildToolRequest(tool('github_issue_search'), { q: 'repo:o/r is:open label:"good first issue"', per_page: 5 })).toEqual({
      method: 'GET',
      path: '/search/issues',
      query: { q: 'repo:o/r is:open label:"good first issue"', per_page: '5' },
    });
  });

  it('slack_message_post', () => {
    expect(buildToolRequest(tool('slack_message_post'), { channel: 'C0123ABCD', text: 'hi', thread_ts: '1712345678.000100' })).toEqual({
      method: 'POST',
      path: '/chat.postMessage',
      body: { channel: 'C0123ABCD', text: 'hi', thread_ts: '1712345678.000100' },
    });
  });

  it('linear_issue_create: GraphQL variables filled, the query text left alone', () => {
    const request = buildToolRequest(tool('linear_issue_create'), {
      team_id: '9cfb482a-81e3-4154-b5b9-2c805e70a02d',
      title: 'Ship it',
      priority: 2,
    });
    expect(request.path).toBe('/graphql');
    expect(request.body).toMatchObject({
      query: expect.stringContaining('mutation IssueCreate($input: IssueCreateInput!)'),
      variables: { input: { teamId: '9cfb482a-81e3-4154-b5b9-2c805e70a02d', title: 'Ship it', priority: 2 } },
    });
    expect((request.body as { variables: { input: object } }).variables.input).not.toHaveProperty('description');
  });

  it('google_calendar_events_list: default calendar, encoded id, constant query values', () => {
    expect(buildToolRequest(tool('google_calendar_events_list'), { time_min: '2026-05-01T00:00:00Z', max_results: 10 })).toEqual({
      method: 'GET',
      path: '/calendar/v3/calendars/primary/events',
      query: { timeMin: '2026-05-01T00:00:00Z', maxResults: '10', singleEvents: 'true', orderBy: 'startTime' },
    });
    const input = { calendar_id: 'team+x@group.calendar.google.com' };
    expect(buildToolRequest(tool('google_calendar_events_list'), input).path).toBe(
      '/calendar/v3/calendars/team%2Bx%40group.calendar.google.com/events',
    );
    expect(input).toEqual({ calendar_id: 'team+x@group.calendar.google.com' });
  });

  it('every built path stays under its provider base', () => {
    const request = buildToolRequest(tool('github_issue_get'), { owner: 'o', repo: 'r', issue_number: 1 });
    expect(resolveApiUrl(PROVIDERS.github?.apiBaseUrl ?? '', request.path).href).toBe('https://api.github.com/repos/o/r/issues/1');
  });

  it.each([
    ['github_issue_create', { owner: 'o', repo: 'r' }, "must have required property 'title'"],
    ['github_issue_create', { owner: 'o', repo: 'r', title: 'x', extra: 1 }, 'must NOT have additional properties'],
    ['github_issue_create', { owner: 'o', repo: '..', title: 'x' }, '/repo must match pattern'],
    ['github_issue_create', { owner: '../x', repo: 'r', title: 'x' }, '/owner must match pattern'],
    ['github_issue_create', { owner: 'o', repo: 'r', title: 'x'.repeat(257) }, '/title must NOT have more than 256 characters'],
    ['github_issue_get', { owner: 'o', repo: 'r', issue_number: '1' }, '/issue_number must be integer'],
    ['github_issue_get', { owner: 'o', repo: 'r', issue_number: 0 }, '/issue_number must be >= 1'],
    ['notion_page_get', { page_id: '../../v1/users' }, '/page_id must match pattern'],
    ['slack_message_post', { channel: 'C0123', text: '' }, '/text must NOT have fewer than 1 characters'],
    ['google_calendar_events_list', { time_min: 'yesterday' }, '/time_min must match format "date-time"'],
    ['google_calendar_events_list', { calendar_id: '../x' }, '/calendar_id must match pattern'],
    ['linear_issue_create', { team_id: 'not-a-uuid', title: 'x' }, '/team_id must match format "uuid"'],
    ['notion_page_search', null, '/ must be object'],
    ['notion_page_search', [], '/ must be object'],
  ])('%s refuses %j', (name, input, message) => {
    const thrown = inputError(() => buildToolRequest(tool(name), input));
    expect(thrown.errors.join('; ')).toContain(message);
    expect(thrown.code).toBe('invalid_request');
  });

  it('refuses a path placeholder with no usable value', () => {
    const bare: ToolEntry = {
      name: 'x_get',
      provider: 'github',
      description: 'test',
      permission: { tool: 'github', action: 'read' },
      classification: 'internal',
      inputSchema: { type: 'object', properties: { id: { type: 'string', maxLength: 10 } }, additionalProperties: false },
      request: { method: 'GET', path: '/x/{id}' },
    };
    expect(inputError(() => buildToolRequest(bare, {})).errors).toEqual(['/id is required in the request path']);
    expect(inputError(() => buildToolRequest(bare, { id: '' })).errors).toEqual(['/id is required in the request path']);
    expect(buildToolRequest(bare, { id: 'a/b?c' }).path).toBe('/x/a%2Fb%3Fc');
  });

  it('compiles each schema once', () => {
    const entry = tool('notion_page_get');
    for (let i = 0; i < 3; i++) buildToolRequest(entry, { page_id: '598337872cf94fdf8782e53db20768a5' });
    expect(() => compileToolSchema(entry)).not.toThrow();
  });
});
