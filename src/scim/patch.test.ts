import { describe, expect, it } from 'vitest';
import { applyPatch } from './patch.js';
import { ENTERPRISE_USER_SCHEMA, groupSchema, PATCH_OP_SCHEMA, userSchema } from './schemas.js';

const users = userSchema();
const groups = groupSchema();
const user = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: 'mbr_01',
  userName: 'bob@example.com',
  name: { givenName: 'Bob', familyName: 'Smith' },
  active: true,
  emails: [{ value: 'bob@example.com', type: 'work', primary: true }],
  meta: { resourceType: 'User', created: '2024-03-01T10:00:00.000Z', lastModified: '2024-03-01T10:00:00.000Z' },
};
const group = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  id: 'scg_01',
  displayName: 'Engineers',
  members: [{ value: 'mbr_01' }, { value: 'mbr_02' }],
  meta: { resourceType: 'Group', created: '2024-03-01T10:00:00.000Z', lastModified: '2024-03-01T10:00:00.000Z' },
};
const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });

describe('SCIM PATCH (RFC 7644 §3.5.2) with IdP shapes', () => {
  it('Okta: replace without path, value {active: false}', async () => {
    expect((await applyPatch(users, user, patch({ op: 'replace', value: { active: false } })))?.active).toBe(false);
  });

  it('Entra: "Replace" capitalised, "False" as a string', async () => {
    expect((await applyPatch(users, user, patch({ op: 'Replace', path: 'active', value: 'False' })))?.active).toBe(false);
    expect((await applyPatch(users, user, patch({ op: 'Replace', value: { active: 'False' } })))?.active).toBe(false);
  });

  it('Entra: name.givenName and emails[type eq "work"].value', async () => {
    const patched = await applyPatch(
      users,
      user,
      patch(
        { op: 'Replace', path: 'name.givenName', value: 'Robert' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'robert@example.com' },
      ),
    );
    expect(patched?.name).toEqual({ givenName: 'Robert', familyName: 'Smith' });
    expect(patched?.emails).toEqual([{ value: 'robert@example.com', type: 'work', primary: true }]);
  });

  it('Entra: a value filter matching nothing adds the element it describes', async () => {
    const patched = await applyPatch(users, user, patch({ op: 'Add', path: 'emails[type eq "home"].value', value: 'bob@home.test' }));
    expect(patched?.emails).toEqual([
      { value: 'bob@example.com', type: 'work', primary: true },
      { value: 'bob@home.test', type: 'home' },
    ]);
  });

  it('Entra: the enterprise manager as a bare id', async () => {
    const patched = await applyPatch(users, user, patch({ op: 'Add', path: `${ENTERPRISE_USER_SCHEMA}:manager`, value: 'mbr_09' }));
    expect(patched?.[ENTERPRISE_USER_SCHEMA]).toEqual({ manager: { value: 'mbr_09' } });
  });

  it('answers undefined when nothing changes', async () => {
    expect(await applyPatch(users, user, patch({ op: 'replace', path: 'userName', value: 'bob@example.com' }))).toBeUndefined();
  });

  it('removes an attribute replaced by null', async () => {
    expect((await applyPatch(users, user, patch({ op: 'replace', path: 'name.givenName', value: null })))?.name).toEqual({
      familyName: 'Smith',
    });
  });

  const refusals: [string, unknown, string][] = [
    ['an unknown op', patch({ op: 'move', path: 'userName', value: 'x' }), 'invalidSyntax'],
    ['an unknown attribute', patch({ op: 'replace', path: 'nosuch', value: 'x' }), 'invalidPath'],
    ['a wrong type', patch({ op: 'replace', path: 'active', value: 'maybe' }), 'invalidValue'],
    ['removing userName', patch({ op: 'remove', path: 'userName' }), 'invalidValue'],
    ['changing id', patch({ op: 'replace', path: 'id', value: 'mbr_99' }), 'mutability'],
    ['writing groups', patch({ op: 'add', path: 'groups', value: [{ value: 'scg_1' }] }), 'mutability'],
    ['remove without path', patch({ op: 'remove' }), 'noTarget'],
    ['no operations', patch(), 'invalidValue'],
    ['the wrong message schema', { schemas: ['urn:nope'], Operations: [{ op: 'remove', path: 'title' }] }, 'invalidSyntax'],
  ];
  it.each(refusals)('refuses %s', async (_name, body, scimType) => {
    await expect(applyPatch(users, user, body)).rejects.toMatchObject({ status: 400, scimType });
  });

  it('groups: Okta add and remove by value filter, Entra remove by value with $ref null, replace', async () => {
    const added = await applyPatch(groups, group, patch({ op: 'add', path: 'members', value: [{ value: 'mbr_03', display: 'C' }] }));
    expect((added?.members as { value: string }[] | undefined)?.map((m) => m.value)).toEqual(['mbr_01', 'mbr_02', 'mbr_03']);
    const removed = await applyPatch(groups, group, patch({ op: 'remove', path: 'members[value eq "mbr_01"]' }));
    expect(removed?.members).toEqual([{ value: 'mbr_02' }]);
    const entra = await applyPatch(groups, group, patch({ op: 'Remove', path: 'members', value: [{ $ref: null, value: 'mbr_02' }] }));
    expect(entra?.members).toEqual([{ value: 'mbr_01' }]);
    const entraAdd = await applyPatch(groups, group, patch({ op: 'Add', path: 'members', value: [{ $ref: null, value: 'mbr_04' }] }));
    expect((entraAdd?.members as { value: string }[] | undefined)?.map((m) => m.value)).toEqual(['mbr_01', 'mbr_02', 'mbr_04']);
    const replaced = await applyPatch(groups, group, patch({ op: 'replace', path: 'members', value: [{ value: 'mbr_05' }] }));
    expect(replaced?.members).toEqual([{ value: 'mbr_05' }]);
    const renamed = await applyPatch(groups, group, patch({ op: 'replace', value: { id: 'scg_01', displayName: 'Staff' } }));
    expect(renamed?.displayName).toBe('Staff');
  });
});
