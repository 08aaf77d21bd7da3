import type { ToolEntry } from '../providers/types.js';

// Shared schema pieces. Every object schema is closed (additionalProperties: false) and every
// string bounded, so a tool input cannot carry more than its request needs.
const NOTION_ID = { type: 'string', pattern: '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$' };
const NOTION_CURSOR = { type: 'string', minLength: 1, maxLength: 200 };
const PAGE_SIZE = { type: 'integer', minimum: 1, maximum: 100 };
// GitHub logins: alphanumerics and single hyphens, up to 39 characters.
const GITHUB_OWNER = { type: 'string', pattern: '^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$' };
// Repository names: letters, digits, `.`, `-`, `_`, never `.` or `..`.
const GITHUB_REPO = { type: 'string', pattern: '^(?!\\.\\.?$)[A-Za-z0-9._-]{1,100}$' };
const GITHUB_LOGIN_LIST = { type: 'array', maxItems: 10, uniqueItems: true, items: GITHUB_OWNER };

function tools(entries: ToolEntry[]): Readonly<Record<string, ToolEntry>> {
  const byName = Object.create(null) as Record<string, ToolEntry>;
  for (const entry of entries) byName[entry.name] = entry;
  return Object.freeze(byName);
}

/**
 * Named tools as data (docs/architecture.md §3.1): each is an input schema and a request template under its
 * provider's API base. The permission's `tool` is the provider's catalog name: reading is
 * `read`, creating or posting is `write`.
 */
export const TOOLS: Readonly<Record<string, ToolEntry>> = tools([
  {
    name: 'notion_page_search',
    provider: 'notion',
    description: 'Search the Notion pages shared with the integration by title.',
    permission: { tool: 'notion', action: 'read' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', maxLength: 200 },
        page_size: PAGE_SIZE,
        start_cursor: NOTION_CURSOR,
      },
      additionalProperties: false,
    },
    request: {
      method: 'POST',
      path: '/v1/search',
      body: {
        query: '$input.query',
        filter: { property: 'object', value: 'page' },
        page_size: '$input.page_size',
        start_cursor: '$input.start_cursor',
      },
    },
  },
  {
    name: 'notion_page_create',
    provider: 'notion',
    description: 'Create a Notion page with a title and one paragraph of text under a parent page.',
    permission: { tool: 'notion', action: 'write' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        parent_page_id: NOTION_ID,
        title: { type: 'string', minLength: 1, maxLength: 200 },
        // Notion's limit for one rich-text content string.
        content: { type: 'string', minLength: 1, maxLength: 2000 },
      },
      required: ['parent_page_id', 'title', 'content'],
      additionalProperties: false,
    },
    request: {
      method: 'POST',
      path: '/v1/pages',
      body: {
        parent: { page_id: '$input.parent_page_id' },
        properties: { title: { title: [{ type: 'text', text: { content: '$input.title' } }] } },
        children: [
          {
            object: 'block',
            type: 'paragraph',
            paragraph: { rich_text: [{ type: 'text', text: { content: '$input.content' } }] },
          },
        ],
      },
    },
  },
  {
    name: 'notion_page_get',
    provider: 'notion',
    description: "Retrieve a Notion page's properties.",
    permission: { tool: 'notion', action: 'read' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: { page_id: NOTION_ID },
      required: ['page_id'],
      additionalProperties: false,
    },
    request: { method: 'GET', path: '/v1/pages/{page_id}' },
  },
  {
    name: 'github_issue_create',
    provider: 'github',
    description: 'Open an issue in a GitHub repository.',
    permission: { tool: 'github', action: 'write' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        owner: GITHUB_OWNER,
        repo: GITHUB_REPO,
        title: { type: 'string', minLength: 1, maxLength: 256 },
        body: { type: 'string', maxLength: 65536 },
        labels: { type: 'array', maxItems: 20, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 50 } },
        assignees: GITHUB_LOGIN_LIST,
      },
      required: ['owner', 'repo', 'title'],
      additionalProperties: false,
    },
    request: {
      method: 'POST',
      path: '/repos/{owner}/{repo}/issues',
      body: { title: '$input.title', body: '$input.body', labels: '$input.labels', assignees: '$input.assignees' },
    },
  },
  {
    name: 'github_issue_get',
    provider: 'github',
    description: 'Get one issue of a GitHub repository.',
    permission: { tool: 'github', action: 'read' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        owner: GITHUB_OWNER,
        repo: GITHUB_REPO,
        issue_number: { type: 'integer', minimum: 1, maximum: 2147483647 },
      },
      required: ['owner', 'repo', 'issue_number'],
      additionalProperties: false,
    },
    request: { method: 'GET', path: '/repos/{owner}/{repo}/issues/{issue_number}' },
  },
  {
    name: 'github_issue_search',
    provider: 'github',
    description: 'Search GitHub issues and pull requests with GitHub search syntax (e.g. "repo:org/app is:open label:bug").',
    permission: { tool: 'github', action: 'read' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        // GitHub refuses queries longer than 256 characters.
        q: { type: 'string', minLength: 1, maxLength: 256 },
        sort: { enum: ['comments', 'reactions', 'created', 'updated'] },
        order: { enum: ['asc', 'desc'] },
        per_page: PAGE_SIZE,
        page: { type: 'integer', minimum: 1, maximum: 10 },
      },
      required: ['q'],
      additionalProperties: false,
    },
    request: {
      method: 'GET',
      path: '/search/issues',
      query: { q: '$input.q', sort: '$input.sort', order: '$input.order', per_page: '$input.per_page', page: '$input.page' },
    },
  },
  {
    name: 'slack_message_post',
    provider: 'slack',
    description: 'Post a message to a Slack channel as the user, optionally in a thread.',
    permission: { tool: 'slack', action: 'write' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        // A conversation id (C…, G…, D…) or a #channel name.
        channel: { type: 'string', pattern: '^(?:[CGD][A-Z0-9]{2,30}|#[a-z0-9][a-z0-9._-]{0,79})$' },
        // Slack truncates text beyond 40,000 characters.
        text: { type: 'string', minLength: 1, maxLength: 40000 },
        thread_ts: { type: 'string', pattern: '^[0-9]{1,12}\\.[0-9]{1,8}$' },
      },
      required: ['channel', 'text'],
      additionalProperties: false,
    },
    request: {
      method: 'POST',
      path: '/chat.postMessage',
      body: { channel: '$input.channel', text: '$input.text', thread_ts: '$input.thread_ts' },
    },
  },
  {
    name: 'linear_issue_create',
    provider: 'linear',
    description: 'Create a Linear issue in a team.',
    permission: { tool: 'linear', action: 'write' },
    classification: 'internal',
    inputSchema: {
      type: 'object',
      properties: {
        team_id: { type: 'string', format: 'uuid' },
        title: { type: 'string', minLength: 1, maxLength: 255 },
        description: { type: 'string', maxLength: 65536 },
        // 0 no priority, 1 urgent, 2 high, 3 normal, 4 low.
        priority: { type: 'integer', minimum: 0, maximum: 4 },
      },
      required: ['team_id', 'title'],
      additionalProperties: false,
    },
    request: {
      method: 'POST',
      path: '/graphql',
      body: {
        query:
          'mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier title url } } }',
        variables: {
          input: { teamId: '$input.team_id', title: '$input.title', description: '$input.description', priority: '$input.priority' },
        },
      },
    },
  },
  {
    name: 'google_calendar_events_list',
    provider: 'google',
    description: "List events of one of the user's Google calendars (the primary one by default), expanded and ordered by start time.",
    permission: { tool: 'google', action: 'read' },
    classification: 'confidential',
    inputSchema: {
      type: 'object',
      properties: {
        calendar_id: {
          type: 'string',
          minLength: 1,
          maxLength: 254,
          pattern: '^(?:primary|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)$',
          default: 'primary',
        },
        time_min: { type: 'string', format: 'date-time' },
        time_max: { type: 'string', format: 'date-time' },
        q: { type: 'string', minLength: 1, maxLength: 200 },
        max_results: { type: 'integer', minimum: 1, maximum: 250 },
        page_token: { type: 'string', minLength: 1, maxLength: 1024 },
      },
      additionalProperties: false,
    },
    request: {
      method: 'GET',
      path: '/calendar/v3/calendars/{calendar_id}/events',
      query: {
        timeMin: '$input.time_min',
        timeMax: '$input.time_max',
        q: '$input.q',
        maxResults: '$input.max_results',
        pageToken: '$input.page_token',
        singleEvents: 'true',
        orderBy: 'startTime',
      },
    },
  },
]);
