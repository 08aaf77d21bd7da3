import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { createRemoteJWKSet, customFetch, importSPKI, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { ReplayCache } from '../crypto/replay-cache.js';
import { bearerChallenge, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import { isBlockedAddress, isLoopbackHostname } from '../outbound/address-guard.js';
import { OutboundRequestError, outboundRequest } from '../outbound/request.js';
import type { TrustedTokenProfilesTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { LoginPolicyGuard, Organizations } from '../tenancy/organizations.js';
import type { ClaimMapping, CreateTrustedTokenProfile, TrustedTokenProfile } from './schemas.js';

/** Asymmetric algorithms only: a shared-secret HS* token could be forged by anyone holding the key. */
const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const JWKS_TIMEOUT_MS = 5000;
const JWKS_MAX_BYTES = 262_144;

/** The identity a verified trusted token asserts. */
export interface AssertedIdentity {
  profileId: string;
  subject: string;
  email: string;
  name?: string;
  roles: string[];
}

/** Thrown for a token that does not verify; the description names the check, never the token. */
export class TrustedTokenRejected extends MandateError {
  constructor(reason: string) {
    super('unauthorized', `trusted token rejected: ${reason}`, { challenge: bearerChallenge({ error: 'invalid_token' }) });
  }
}

export interface TrustedTokensDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  clock: Clock;
  /** Refuses removing the last way into an organization (tenancy/login-policy.ts). */
  guard?: LoginPolicyGuard;
  /** Development only (MANDATE_DEV_ALLOW_LOOPBACK_FETCH): a jwks_url may be http:// on loopback. */
  allowLoopback: boolean;
}

/**
 * Trusted-token profiles per organization: Mandate sits beside an existing identity stack and
 * accepts its signed JWTs (issuer, audience, key, claim mapping, maximum age) as proof of who
 * the user is.
 */
export class TrustedTokens {
  private readonly remoteKeys = new Map<string, JWTVerifyGetKey>();
  private readonly replays: ReplayCache;

  constructor(private readonly deps: TrustedTokensDeps) {
    this.replays = new ReplayCache(deps.store.db);
  }

  async create(orgRef: string, input: CreateTrustedTokenProfile, context: AuditContext): Promise<TrustedTokenProfile> {
    if (!input.jwks_url === !input.public_key_pem) throw new InvalidRequestError('give exactly one of jwks_url or public_key_pem');
    if (input.jwks_url) assertJwksUrl(input.jwks_url, this.deps);
    if (input.public_key_pem) {
      try {
        createPublicKey(input.public_key_pem);
      } catch {
        throw new InvalidRequestError('public_key_pem is not a valid SPKI public key');
      }
    }
    const org = await this.deps.organizations.require(orgRef);
    const at = isoAt(this.deps.clock);
    const row: TrustedTokenProfilesTable = {
      id: newId('ttp', this.deps.clock.now()),
      org_id: org.id,
      name: input.name,
      issuer: input.issuer,
      audience: input.audience,
      jwks_url: input.jwks_url ?? null,
      public_key_pem: input.public_key_pem ?? null,
      claim_mapping: JSON.stringify(input.claim_mapping ?? { subject: 'sub', email: 'email', name: 'name', roles: 'roles' }),
      max_token_age_seconds: input.max_token_age_seconds ?? 300,
      jit_provisioning: input.jit_provisioning ? 1 : 0,
      login_url: input.login_url ?? null,
      created_at: at,
      updated_at: at,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('trusted_token_profiles').values(row).execute();
      await this.deps.audit.append(
        trx,
        { kind: 'trusted_token_profile.created', orgId: org.id, detail: { id: row.id, issuer: row.issuer } },
        context,
      );
    });
    return toProfile(row);
  }

  async list(orgRef: string): Promise<TrustedTokenProfile[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db
      .selectFrom('trusted_token_profiles')
      .selectAll()
      .where('org_id', '=', org.id)
      .orderBy('id')
      .execute();
    return rows.map(toProfile);
  }

  async remove(orgRef: string, id: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const result = await trx.deleteFrom('trusted_token_profiles').where('org_id', '=', org.id).where('id', '=', id).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) throw new NotFoundError('trusted token profile');
      await this.deps.guard?.assertReachable(org.id, trx);
      await this.deps.audit.append(trx, { kind: 'trusted_token_profile.deleted', orgId: org.id, detail: { id } }, context);
    });
  }

  /** The login URL of an organization's first profile that has one. */
  async loginUrl(orgId: string): Promise<string | undefined> {
    const row = await this.deps.store.db
      .selectFrom('trusted_token_profiles')
      .select('login_url')
      .where('org_id', '=', orgId)
      .where('login_url', 'is not', null)
      .orderBy('id')
      .executeTakeFirst();
    return row?.login_url ?? undefined;
  }

  /**
   * Verifies a token against the organization's profiles (the one whose issuer matches) and maps
   * its claims. Checks signature, `iss`, `aud`, `exp`/`nbf` and that `iat` is recent.
   */
  async verify(orgId: string, token: string): Promise<AssertedIdentity> {
    const rows = await this.deps.store.db.selectFrom('trusted_token_profiles').selectAll().where('org_id', '=', orgId).execute();
    let issuer: unknown;
    try {
      issuer = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).iss;
    } catch {
      throw new TrustedTokenRejected('not a JWT');
    }
    const profile = rows.find((row) => row.issuer === issuer);
    if (!profile) throw new TrustedTokenRejected('no trusted-token profile of this organization has that issuer');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keyFor(profile), {
        issuer: profile.issuer,
        audience: profile.audience,
        algorithms: ALGORITHMS,
        maxTokenAge: profile.max_token_age_seconds,
        clockTolerance: 5,
        currentDate: new Date(this.deps.clock.now()),
      }));
    } catch (error) {
      if (error instanceof TrustedTokenRejected) throw error;
      throw new TrustedTokenRejected((error as { code?: string }).code ?? 'signature or claims invalid');
    }
    // A trusted token proves a login once: a copy replayed within its maximum age (a leaked
    // redirect, a log line) must not start another session. Keyed by `jti` when the issuer sets
    // one, else by the token itself; remembered until the token is too old to be accepted.
    const oldestAccepted = ((payload.iat as number) + profile.max_token_age_seconds + 5) * 1000;
    const until = new Date(Math.min(oldestAccepted, typeof payload.exp === 'number' ? (payload.exp + 5) * 1000 : oldestAccepted));
    if (
      !(await this.replays.firstUse(
        `trusted_token ${profile.issuer}`,
        typeof payload.jti === 'string' ? `jti ${payload.jti}` : token,
        until,
      ))
    ) {
      throw new TrustedTokenRejected('already used: a trusted token starts one session');
    }
    await this.replays.prune(new Date(this.deps.clock.now()));
    const mapping = JSON.parse(profile.claim_mapping) as ClaimMapping;
    const subject = payload[mapping.subject];
    const email = payload[mapping.email];
    if (typeof subject !== 'string' || !subject) throw new TrustedTokenRejected(`claim ${mapping.subject} is missing`);
    if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email))
      throw new TrustedTokenRejected(`claim ${mapping.email} is missing or not an email`);
    const name = mapping.name ? payload[mapping.name] : undefined;
    const roles = mapping.roles ? payload[mapping.roles] : undefined;
    return {
      profileId: profile.id,
      subject,
      email,
      ...(typeof name === 'string' && { name }),
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
    };
  }

  /** Whether the profile that asserted an identity may create members just in time. */
  async allowsJit(profileId: string): Promise<boolean> {
    const row = await this.deps.store.db
      .selectFrom('trusted_token_profiles')
      .select('jit_provisioning')
      .where('id', '=', profileId)
      .executeTakeFirst();
    return row?.jit_provisioning === 1;
  }

  private keyFor(profile: TrustedTokenProfilesTable): JWTVerifyGetKey {
    if (profile.jwks_url) {
      let keys = this.remoteKeys.get(profile.jwks_url);
      if (!keys) {
        // Fetched through the guarded client like every server-side request: an administrator's
        // URL must not make Mandate a proxy into its own network (profiles stored before the
        // check at creation are refused here too).
        keys = createRemoteJWKSet(new URL(profile.jwks_url), {
          timeoutDuration: JWKS_TIMEOUT_MS,
          cooldownDuration: 30_000,
          [customFetch]: guardedJwksFetch(this.deps),
        });
        this.remoteKeys.set(profile.jwks_url, keys);
      }
      return keys;
    }
    const pem = profile.public_key_pem as string;
    // The header's alg picks the import; jwtVerify has already checked it against ALGORITHMS.
    return (header) => importSPKI(pem, header.alg);
  }
}

/** Refuses (400) a jwks_url the guarded client would refuse: not https, or a private, loopback or reserved literal address. */
function assertJwksUrl(value: string, options: { allowLoopback: boolean }): void {
  const url = new URL(value);
  if (url.protocol !== 'https:' && !(options.allowLoopback && url.protocol === 'http:'))
    throw new InvalidRequestError('jwks_url must be an https URL');
  if (url.username || url.password) throw new InvalidRequestError('jwks_url must not contain credentials');
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  const loopbackName = !isIP(literal) && isLoopbackHostname(url.hostname);
  if ((isIP(literal) && isBlockedAddress(literal, options)) || (loopbackName && !options.allowLoopback))
    throw new InvalidRequestError('jwks_url must not point at a private, loopback or reserved address');
}

/** jose's fetch for a remote JWKS, through the SSRF-guarded outbound client. */
function guardedJwksFetch(options: { allowLoopback: boolean }) {
  return async (url: string, init: { headers: Headers; signal: AbortSignal }): Promise<Response> => {
    init.signal.throwIfAborted();
    try {
      const response = await outboundRequest({
        method: 'GET',
        url: new URL(url),
        headers: Object.fromEntries(init.headers),
        allowLoopback: options.allowLoopback,
        timeoutMs: JWKS_TIMEOUT_MS,
        maxBytes: JWKS_MAX_BYTES,
      });
      return new Response(response.body, { status: response.status, headers: { 'content-type': 'application/json' } });
    } catch (error) {
      if (error instanceof OutboundRequestError) throw new TrustedTokenRejected(`the profile's jwks_url was refused: ${error.message}`);
      throw error;
    }
  };
}

function toProfile(row: TrustedTokenProfilesTable): TrustedTokenProfile {
  return {
    id: row.id,
    org_id: row.org_id,
    name: row.name,
    issuer: row.issuer,
    audience: row.audience,
    jwks_url: row.jwks_url,
    public_key_pem: row.public_key_pem,
    claim_mapping: JSON.parse(row.claim_mapping) as ClaimMapping,
    max_token_age_seconds: row.max_token_age_seconds,
    jit_provisioning: row.jit_provisioning === 1,
    login_url: row.login_url,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
