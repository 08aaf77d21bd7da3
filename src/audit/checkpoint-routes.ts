import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { errorResponses, pageOf } from '../http/common-schemas.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../http/pagination.js';
import type { Database } from '../store/schema.js';
import type { AuditCheckpoints } from './checkpoints.js';
import { type AuditExport, toJsonLine } from './export.js';
import { PLATFORM_CHAIN } from './kinds.js';
import type { OrganizationRefs } from './organization-refs.js';
import { AuditEvents } from './store.js';
import { signingKeySet } from './verify.js';

const Checkpoint = Type.Object(
  {
    chain_id: Type.String(),
    seq: Type.Integer({ description: 'The event this checkpoint vouches for.' }),
    hash: Type.String({ description: 'That event’s hash (hex SHA-256).' }),
    at: Type.String({ format: 'date-time', description: 'When it was signed.' }),
    kid: Type.String({ description: 'The signing key; its public JWK is in /oauth2/jwks while published, and in /v1/audit/jwks always.' }),
    jws: Type.String({ description: 'Compact JWS, typ audit-checkpoint+jwt, over { iss, chain_id, seq, hash, iat }.' }),
  },
  { title: 'AuditCheckpoint' },
);

const ChainRef = Type.String({ minLength: 1, maxLength: 100, description: 'Organization id or slug, or `platform`.' });

const CheckpointQuery = Type.Object({
  chain: ChainRef,
  after_seq: Type.Optional(Type.Integer({ minimum: 0, description: 'Only checkpoints of later events.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: 'Page size.' })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'The `next_cursor` of the previous page.' })),
});

const JwkSet = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }, { title: 'JWKSet' });

/** Checkpoints page by seq: the cursor is the last seq, kept opaque like every other cursor. */
function encodeSeqCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ after_seq: seq })).toString('base64url');
}

function decodeSeqCursor(cursor: string): number {
  try {
    const { after_seq } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after_seq?: unknown };
    if (Number.isSafeInteger(after_seq) && (after_seq as number) >= 0) return after_seq as number;
  } catch {
    // fall through to the error below
  }
  throw new InvalidRequestError('cursor is not valid; pass the next_cursor of a previous page');
}

export interface AuditIntegrityRouteOptions {
  db: Kysely<Database>;
  checkpoints: AuditCheckpoints;
  exporter: AuditExport;
  organizations: OrganizationRefs;
}

/**
 * Signed checkpoints for third parties to keep copies of, the keys that verify them, and a
 * chain's export (audit/export.ts) streamed as JSON Lines.
 */
export const auditIntegrityRoutes: FastifyPluginAsyncTypebox<AuditIntegrityRouteOptions> = async (
  app,
  { db, checkpoints, exporter, organizations },
) => {
  const tags = ['audit'];
  const security = [{ adminKey: [] }];
  const events = new AuditEvents(db);

  /** A chain id from `platform`, an organization id (a deleted organization's chain stays readable) or a slug. */
  const resolveChain = async (ref: string): Promise<string> => {
    const chainId = ref === PLATFORM_CHAIN || ref.startsWith('org_') ? ref : (await organizations.require(ref)).id;
    if (!(await events.head(chainId))) throw new NotFoundError('audit chain');
    return chainId;
  };

  app.get(
    '/audit/checkpoints',
    {
      schema: {
        tags,
        security,
        summary: 'Signed checkpoints of one audit chain, by ascending seq',
        querystring: CheckpointQuery,
        response: { 200: pageOf(Checkpoint), ...errorResponses },
      },
    },
    async (request) => {
      const { chain, cursor } = request.query;
      const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
      if (cursor !== undefined && request.query.after_seq !== undefined)
        throw new InvalidRequestError('pass cursor or after_seq, not both');
      const afterSeq = cursor === undefined ? (request.query.after_seq ?? 0) : decodeSeqCursor(cursor);
      const rows = await checkpoints.list(await resolveChain(chain), { afterSeq, limit: limit + 1 });
      const data = rows.slice(0, limit);
      const last = data.at(-1);
      return { data, next_cursor: rows.length > limit && last ? encodeSeqCursor(last.seq) : null };
    },
  );

  app.get(
    '/audit/checkpoints/latest',
    {
      schema: {
        tags,
        security,
        summary: 'The newest signed checkpoint of one audit chain',
        querystring: Type.Object({ chain: ChainRef }),
        response: { 200: Checkpoint, ...errorResponses },
      },
    },
    async (request) => {
      const latest = await checkpoints.latest(await resolveChain(request.query.chain));
      if (!latest) throw new NotFoundError('checkpoint');
      return latest;
    },
  );

  app.get(
    '/audit/jwks',
    {
      schema: {
        tags,
        security,
        summary: 'Every signing key’s public JWK, retired ones included, to verify old checkpoints',
        response: { 200: JwkSet, ...errorResponses },
      },
    },
    async () => signingKeySet(db),
  );

  app.get(
    '/audit/export',
    {
      schema: {
        tags,
        security,
        summary: 'One audit chain as JSON Lines (application/x-ndjson), streamed',
        description:
          'A first line `{"type":"chain",…}` naming the chain, its retained base and its head; then every event by ascending seq (`{"type":"event",…}`, all columns as stored), each followed by its signed checkpoint when it has one (`{"type":"checkpoint",…}`); a checkpoint of the head is signed for the export, so it ends with one. Verifies offline with `mandate audit verify --file … --jwks …`.',
        querystring: Type.Object({ org: ChainRef }),
        produces: ['application/x-ndjson'],
        response: { 200: Type.Unknown({ description: 'JSON Lines, one chain (see the description).' }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const chainId = await resolveChain(request.query.org);
      const exported = await exporter.chain(chainId);
      if (!exported) throw new NotFoundError('audit chain');
      const lines = (async function* () {
        for await (const line of exported.lines) yield toJsonLine(line);
      })();
      return reply
        .type('application/x-ndjson')
        .header('content-disposition', `attachment; filename="${chainId}.jsonl"`)
        .send(Readable.from(lines));
    },
  );
};
