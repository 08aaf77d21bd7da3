import type { MembersTable } from '../store/schema.js';
import { getAttribute, isObject } from './attribute-paths.js';
import { invalidValue } from './errors.js';
import { withVersion } from './etag.js';
import { ENTERPRISE_USER_SCHEMA, type ScimDocument, USER_SCHEMA } from './schemas.js';
import type { GroupRef } from './store.js';

/** Attributes Mandate keeps in member columns or computes; everything else the IdP sent is kept as sent. */
const OWN_ATTRIBUTES = new Set(['schemas', 'id', 'externalid', 'username', 'active', 'groups', 'meta']);

const MAX_USER_NAME = 256;
const MAX_EMAIL = 254;
const MAX_NAME = 200;
/** Members are keyed by email and log in by it: it must at least look like one. */
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/**
 * A member as a SCIM User (RFC 7643 §4.1): id is the member id; userName the SCIM userName (the
 * email for members SCIM did not create); active mirrors the status; groups are its SCIM groups.
 */
export function userDocument(row: MembersTable, groups: GroupRef[], base: string): ScimDocument {
  const attributes = row.scim_attributes ? (JSON.parse(row.scim_attributes) as ScimDocument) : {};
  const document: ScimDocument = {
    schemas: attributes[ENTERPRISE_USER_SCHEMA] ? [USER_SCHEMA, ENTERPRISE_USER_SCHEMA] : [USER_SCHEMA],
    id: row.id,
    ...(row.external_id && { externalId: row.external_id }),
    userName: row.user_name ?? row.email,
    ...(row.scim_attributes ? {} : { ...(row.name && { displayName: row.name }), emails: [{ value: row.email, primary: true }] }),
    ...attributes,
    active: row.status === 'active',
    ...(groups.length > 0 && {
      groups: groups.map((group) => ({ value: group.id, display: group.display_name, $ref: `${base}/Groups/${group.id}`, type: 'direct' })),
    }),
    meta: { resourceType: 'User', created: row.created_at, lastModified: row.updated_at, location: `${base}/Users/${row.id}` },
  };
  return withVersion(document);
}

/** What a SCIM User sets on a member. */
export interface MemberFields {
  userName: string;
  externalId: string | null;
  email: string;
  name: string | null;
  /** Undefined when the resource does not say (a PUT without `active` keeps the status). */
  active: boolean | undefined;
  /** The rest of the resource, as JSON for `members.scim_attributes`. */
  attributes: string;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim().length > 0 ? value.trim() : undefined;
}

/** The email Mandate keys the member by: the primary email, else the first, else the userName. */
function emailOf(document: ScimDocument, userName: string): string {
  const emails = getAttribute(document, 'emails');
  const list = Array.isArray(emails) ? emails.filter(isObject) : [];
  const chosen = list.find((email) => getAttribute(email, 'primary') === true) ?? list[0];
  return (text(getAttribute(chosen, 'value')) ?? userName).toLowerCase();
}

function nameOf(document: ScimDocument): string | null {
  const name = getAttribute(document, 'name');
  const joined = [text(getAttribute(name, 'givenName')), text(getAttribute(name, 'familyName'))].filter(Boolean).join(' ');
  const chosen = text(getAttribute(document, 'displayName')) ?? text(getAttribute(name, 'formatted')) ?? text(joined);
  return chosen ? chosen.slice(0, MAX_NAME) : null;
}

/** The member fields of a validated SCIM User (scimmy has checked types and that userName is there). */
export function memberFieldsOf(document: ScimDocument): MemberFields {
  const userName = text(getAttribute(document, 'userName'));
  if (!userName) throw invalidValue('userName is required and must not be empty');
  if (userName.length > MAX_USER_NAME) throw invalidValue(`userName is longer than ${MAX_USER_NAME} characters`);
  const email = emailOf(document, userName);
  if (email.length > MAX_EMAIL) throw invalidValue(`the email is longer than ${MAX_EMAIL} characters`);
  if (!EMAIL.test(email)) throw invalidValue('the primary email (or, without emails, the userName) must be an email address');
  const active = getAttribute(document, 'active');
  const rest = Object.fromEntries(Object.entries(document).filter(([key]) => !OWN_ATTRIBUTES.has(key.toLowerCase())));
  return {
    userName,
    externalId: text(getAttribute(document, 'externalId')) ?? null,
    email,
    name: nameOf(document),
    active: typeof active === 'boolean' ? active : undefined,
    attributes: JSON.stringify(rest),
  };
}
