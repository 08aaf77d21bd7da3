import { randomBytes } from 'node:crypto';
import { type Clock, isoAt } from '../../clock.js';
import type { Envelope } from '../../crypto/envelope.js';
import { newId } from '../../crypto/ids.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import type { AuditContext, AuditLog } from '../audit-log.js';
import type { OrganizationRefs } from '../organization-refs.js';
import type { AuditSink, CreateAuditSink, CreatedAuditSink } from './schemas.js';
import { type AuditSinkRow, AuditSinkStore } from './store.js';
import { checkSinkUrl, type ResolveHost, redactSinkUrl } from './url.js';

/** Each sink costs a delivery lease and an outbound request per batch; a handful is what SIEMs need. */
const MAX_SINKS_PER_ORGANIZATION = 10;

/** Associated data of a sealed sink secret: a ciphertext cannot be moved to another sink. */
export function sinkSecretContext(id: string): string {
  return `audit_sinks:${id}`;
}

export interface AuditSinksDeps {
  store: Store;
  organizations: OrganizationRefs;
  audit: AuditLog;
  envelope: Envelope;
  clock: Clock;
  /** Development only: sink URLs over http:// on loopback. */
  allowLoopback: boolean;
  resolve?: ResolveHost;
}

/**
 * Management of an organization's audit webhook sinks. The HMAC secret is generated here,
 * returned once at creation and otherwise only ever held sealed (crypto/envelope.ts).
 */
export class AuditSinks {
  private readonly sinks: AuditSinkStore;

  constructor(private readonly deps: AuditSinksDeps) {
    this.sinks = new AuditSinkStore(deps.store.db);
  }

  async create(orgRef: string, input: CreateAuditSink, context: AuditContext): Promise<CreatedAuditSink> {
    const org = await this.deps.organizations.require(orgRef);
    const url = await checkSinkUrl(input.url, this.deps);
    const id = newId('snk', this.deps.clock.now());
    const secret = `mnd_whs_${randomBytes(32).toString('base64url')}`;
    const at = isoAt(this.deps.clock);
    const row: AuditSinkRow = {
      id,
      chain_id: org.id,
      url: url.href,
      secret_ciphertext: this.deps.envelope.seal(secret, sinkSecretContext(id)),
      status: 'active',
      delivered_seq: 0,
      attempts: 0,
      next_attempt_at: null,
      lease_owner: null,
      lease_until: null,
      dead_letters: 0,
      last_error: null,
      batch_to_seq: null,
      created_at: at,
      updated_at: at,
    };
    await inTransaction(this.deps.store, async (trx) => {
      // The chain lock serializes creations in one organization, so two concurrent ones cannot
      // both count 9 and insert an 11th (PostgreSQL; SQLite has one writer anyway).
      await this.deps.audit.lockChain(trx, org.id);
      if ((await this.sinks.count(trx, org.id)) >= MAX_SINKS_PER_ORGANIZATION) {
        throw new ConflictError(`an organization has at most ${MAX_SINKS_PER_ORGANIZATION} audit sinks`);
      }
      await this.sinks.insert(trx, row);
      // The query string may hold a receiver's token, so the trail records where, not how.
      await this.deps.audit.append(
        trx,
        { kind: 'audit_sink.created', orgId: org.id, detail: { id, url: url.origin + url.pathname } },
        context,
      );
    });
    return { ...toAuditSink(row), secret };
  }

  async list(orgRef: string): Promise<AuditSink[]> {
    const org = await this.deps.organizations.require(orgRef);
    return (await this.sinks.list(org.id)).map(toAuditSink);
  }

  /** Deletes a sink of this organization; an id of another organization's sink is a 404. */
  async remove(orgRef: string, id: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      if (!(await this.sinks.delete(trx, org.id, id))) throw new NotFoundError('audit sink');
      await this.deps.audit.append(trx, { kind: 'audit_sink.deleted', orgId: org.id, detail: { id } }, context);
    });
  }
}

function toAuditSink(row: AuditSinkRow): AuditSink {
  return {
    id: row.id,
    org_id: row.chain_id,
    url: redactSinkUrl(row.url),
    status: row.status,
    delivered_seq: Number(row.delivered_seq),
    attempts: Number(row.attempts),
    next_attempt_at: row.next_attempt_at,
    dead_letters: Number(row.dead_letters),
    last_error: row.last_error,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
