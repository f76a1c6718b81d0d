// The CloudTrail marker of a grant's kind, as a customer guardrail uses it: a policy keyed on `aws:SourceIdentity`
// `sentinel.????????????????.b.*` (the README's example) matches break-glass sessions and nothing else, whatever the user is
// called. Evaluated by an IAM policy simulator on the values the vend sets (formatSourceIdentity).
import fc from 'fast-check';
import { decide } from './support/iam-decide';
import { formatSourceIdentity, SourceIdentityKinds, type SourceIdentityKind } from '../src/shared/contract';

/** The README's example guardrail: no IAM or Organizations changes from break-glass sessions. */
const BREAK_GLASS_GUARDRAIL = {
  Version: '2012-10-17',
  Statement: [{
    Sid: 'NoIdentityChangesUnderBreakGlass',
    Effect: 'Deny',
    Action: ['iam:*', 'organizations:*'],
    Resource: '*',
    Condition: { StringLike: { 'aws:SourceIdentity': 'sentinel.????????????????.b.*' } },
  }],
};
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
const SESSION = 'arn:aws:sts::111122223333:assumed-role/prod-admin/tvm-0123456789abcdef-req00001';
const seed = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};

const decideFor = (sourceIdentity: string, action = 'iam:CreateUser', resource = 'arn:aws:iam::111122223333:user/backdoor') => decide({
  principal: SESSION,
  action,
  resource,
  resourceAccount: '111122223333',
  identityPolicies: [ALLOW_ALL, BREAK_GLASS_GUARDRAIL],
  context: { 'aws:SourceIdentity': sourceIdentity },
});

describe('GIVEN a guardrail keyed on the break-glass marker', () => {
  test('WHEN a break-glass session changes IAM THEN it is denied; an approved or standing session is not', async () => {
    const id = '0123456789abcdef';
    expect(await decideFor(formatSourceIdentity(id, SourceIdentityKinds.BREAK_GLASS, 'dana'))).toBe('ExplicitlyDenied');
    expect(await decideFor(formatSourceIdentity(id, SourceIdentityKinds.APPROVED, 'alice'))).toBe('Allowed');
    expect(await decideFor(formatSourceIdentity(id, SourceIdentityKinds.STANDING, 'alice'))).toBe('Allowed');
    // The guardrail is about identity changes only.
    expect(await decideFor(formatSourceIdentity(id, SourceIdentityKinds.BREAK_GLASS, 'dana'), 's3:GetObject', 'arn:aws:s3:::prod-data/report.csv'))
      .toBe('Allowed');
  });

  test('WHEN a user is named like the marker (b.alice, x.b.y) THEN only the kind slot decides', async () => {
    const hex = fc.stringMatching(/^[0-9a-f]{16}$/);
    const user = fc.oneof(fc.constantFrom('b.alice', 'a.b.c', '0123456789abcdef.b.x', '.b.', 'b'), fc.string({ maxLength: 40 }));
    const kind = fc.constantFrom<SourceIdentityKind>(...Object.values(SourceIdentityKinds));
    await fc.assert(fc.asyncProperty(hex, kind, user, async (id, k, u) => {
      const expected = k === SourceIdentityKinds.BREAK_GLASS ? 'ExplicitlyDenied' : 'Allowed';
      expect(await decideFor(formatSourceIdentity(id, k, u))).toBe(expected);
    }), { numRuns: 150, ...seed });
  });
});
