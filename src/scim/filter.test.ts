import { describe, expect, it } from 'vitest';
import { matches, parseFilter, requiredEquality } from './filter.js';
import { ENTERPRISE_USER_SCHEMA, groupSchema, userSchema } from './schemas.js';

const users = userSchema();
const bob = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: 'mbr_01',
  externalId: 'Ext-1',
  userName: 'Bob.Smith@Example.com',
  name: { givenName: 'Bob', familyName: 'Smith' },
  title: '',
  active: true,
  emails: [
    { value: 'bob@example.com', type: 'work', primary: true },
    { value: 'bob@home.test', type: 'home' },
  ],
  [ENTERPRISE_USER_SCHEMA]: { department: 'Engineering', manager: { value: 'mbr_02' } },
  meta: { resourceType: 'User', created: '2024-03-01T10:00:00.000Z', lastModified: '2024-03-02T10:00:00.000Z' },
};

const cases: [string, boolean][] = [
  ['userName eq "bob.smith@example.com"', true],
  ['USERNAME EQ "BOB.SMITH@EXAMPLE.COM"', true],
  ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob.smith@example.com"', true],
  ['externalId eq "ext-1"', false],
  ['externalId eq "Ext-1"', true],
  ['emails.value eq "bob@home.test"', true],
  ['emails[type eq "work" and value co "example"]', true],
  ['emails[type eq "home" and value co "example"]', false],
  ['emails co "home"', true],
  ['name.givenName sw "bo" and name.familyName ew "TH"', true],
  ['userName eq "x" or name.givenName eq "Bob"', true],
  ['not (active eq true)', false],
  ['active eq True', true],
  ['active eq false', false],
  ['title pr', false],
  ['nickName pr', false],
  ['name.givenName pr', true],
  ['nickName eq null', true],
  ['userName ne "someone"', true],
  ['emails.value ne "bob@home.test"', false],
  ['meta.lastModified gt "2024-03-01T12:00:00Z"', true],
  ['meta.created ge "2024-03-01T10:00:00.000Z" and meta.created lt "2024-03-01T10:00:01Z"', true],
  [`${ENTERPRISE_USER_SCHEMA}:department eq "engineering"`, true],
  [`${ENTERPRISE_USER_SCHEMA}:manager.value eq "mbr_02"`, true],
  ['(userName sw "x" or userName sw "b") and (active eq true or title pr)', true],
];

describe('SCIM filters (RFC 7644 §3.4.2.2)', () => {
  it.each(cases)('%s → %s', (filter, expected) => {
    expect(matches(parseFilter(filter, users), bob)).toBe(expected);
  });

  const invalid = [
    'userName eq',
    'userName xx "a"',
    'userName eq "a" or',
    'userName eq "a" extra',
    '"a" eq userName',
    'nosuch eq "a"',
    'name eq "Bob"',
    'active gt true',
    '((userName eq "a")',
    'emails[type eq "work"',
    'emails[type eq "work"].value eq "x"',
    'userName eq "unterminated',
    'not userName eq "a"',
    '',
    `${'(userName eq "a") or '.repeat(150)}userName eq "b"`,
  ];
  it.each(invalid)('refuses %j with invalidFilter', (filter) => {
    expect(() => parseFilter(filter, users)).toThrowError(expect.objectContaining({ status: 400, scimType: 'invalidFilter' }));
  });

  it('accepts escaped quotes in strings', () => {
    expect(matches(parseFilter('userName eq "a\\"b"', users), { ...bob, userName: 'A"b' })).toBe(true);
  });

  it('finds the top-level equality a store can narrow by', () => {
    expect(requiredEquality(parseFilter('userName eq "Bob" and active eq true', users), 'userName')).toBe('Bob');
    expect(requiredEquality(parseFilter('userName eq "Bob" or active eq true', users), 'userName')).toBeUndefined();
    expect(requiredEquality(parseFilter('not (userName eq "Bob")', users), 'userName')).toBeUndefined();
  });

  it('knows groups: displayName and members', () => {
    const groups = groupSchema();
    const group = { id: 'scg_1', displayName: 'Engineers', members: [{ value: 'mbr_01', display: 'Bob' }] };
    expect(matches(parseFilter('displayName eq "engineers"', groups), group)).toBe(true);
    expect(matches(parseFilter('members[value eq "mbr_01"]', groups), group)).toBe(true);
    expect(matches(parseFilter('members.value eq "mbr_02"', groups), group)).toBe(false);
  });
});
