// The SourceIdentity format (`sentinel.<sessionId>.<kind>.<user>`): within STS's limits for any user, the session id never
// cut, and read back exactly, whatever the user is named (a user named like a kind or a session cannot pass for one).
import * as fc from 'fast-check';
import { formatSourceIdentity, parseSourceIdentity, SourceIdentityKinds, type SourceIdentityKind } from '../src/shared/contract';

const ID = fc.stringMatching(/^[0-9a-f]{16}$/);
const KIND = fc.constantFrom<SourceIdentityKind>(...Object.values(SourceIdentityKinds));

describe('GIVEN any session id, kind and user name', () => {
  test('THEN the value is 2 to 64 characters of STS\'s set, keeps the whole id, and reads back to the same id and kind', () => {
    fc.assert(fc.property(ID, KIND, fc.string({ maxLength: 200, unit: 'binary' }), (id, kind, user) => {
      const value = formatSourceIdentity(id, kind, user);
      expect(value).toMatch(/^[\w+=,.@-]{2,64}$/);
      expect(value.startsWith(`sentinel.${id}.${kind}.`)).toBe(true);
      expect(parseSourceIdentity(value)).toMatchObject({ sessionId: id, kind });
    }));
  });

  test('THEN a user named like a kind or like another session cannot pass for it', () => {
    const id = '0123456789abcdef';
    expect(parseSourceIdentity(formatSourceIdentity(id, 's', 'b.alice'))).toEqual({ sessionId: id, kind: 's', user: 'b.alice' });
    const other = 'fedcba9876543210';
    expect(parseSourceIdentity(formatSourceIdentity(id, 's', `${other}.b.mallory`))).toEqual({ sessionId: id, kind: 's', user: `${other}.b.mallory` });
  });

  test('THEN the earlier form reads back as a user without a session, and anything else as nothing', () => {
    expect(parseSourceIdentity('sentinel.alice')).toEqual({ user: 'alice' });
    for (const value of ['alice', 'sentinel.', `sentinel.${'x'.repeat(60)}`, 'sentinel.a:b', 42, undefined]) {
      expect(parseSourceIdentity(value)).toBeUndefined();
    }
  });
});
