import { App, CfnResource, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ProtectedRole, RevocationEnforcement, SentinelSessionAuthorizer, SentinelTvm } from '../src';
import { acknowledgementsIn, describeViolations, unacknowledgedReport } from './support/nag-check';
import { ACCOUNT, ALICE, P, REGION, fullTvm, newApp, removeOutdirs, type FullTvm } from './support/synth';

afterAll(removeOutdirs);

describe('GIVEN a synthesized app with a full TVM (ProtectedRole, owned role, imported role)', () => {
  let full: FullTvm;

  beforeAll(() => {
    full = fullTvm();
    full.app.synth();
  });

  test('WHEN cdk-nag AwsSolutions checks it THEN nothing is left unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(full.app);
    expect(describeViolations(report)).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('WHEN nothing is acknowledged THEN cdk-nag does find something (the check above is not vacuous)', () => {
    expect(describeViolations(unacknowledgedReport(full.app)).length).toBeGreaterThan(0);
  });

  test('THEN every acknowledgement the construct records gives a reason', () => {
    const acks = acknowledgementsIn(full.app);
    expect(acks.length).toBeGreaterThan(0);
    const withoutReason = acks.filter((a) => typeof a.reason !== 'string' || a.reason.trim().length < 10);
    expect(withoutReason).toEqual([]);
  });

  test('THEN every cdk_nag suppression written into the template (cdk-nag 2 format) gives a reason', () => {
    const suppressions = full.app.node.findAll().filter(CfnResource.isCfnResource)
      .flatMap((r) => ((r.getMetadata('cdk_nag') as any)?.rules_to_suppress ?? []).map((s: any) => ({ path: r.node.path, ...s })));
    expect(suppressions.length).toBeGreaterThan(0);
    expect(suppressions.filter((s: any) => typeof s.reason !== 'string' || s.reason.trim().length < 10)).toEqual([]);
  });

  test('THEN every acknowledgement answers a finding cdk-nag really makes there (none hides a future regression)', () => {
    const findings = unacknowledgedReport(full.app).violations
      .flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
    const stale = acknowledgementsIn(full.app)
      .filter((a) => a.id.startsWith('AwsSolutions-'))
      .filter((a) => !findings.some((f) =>
        (f.rule === a.id || f.rule.startsWith(`${a.id}[`)) && (f.path === a.path || f.path.startsWith(`${a.path}/`))))
      .map((a) => `${a.id} at ${a.path}`);
    expect(stale).toEqual([]);
  });
});

describe('GIVEN a TVM without an enforcer (futureVendsOnly) whose roles live in a stack of their own', () => {
  let app: App;

  beforeAll(() => {
    app = newApp();
    const env = { account: ACCOUNT, region: REGION };
    const tvm = new SentinelTvm(new Stack(app, 'TvmStack', { env }), 'Tvm', { revocation: RevocationEnforcement.futureVendsOnly() });
    const roles = new Stack(app, 'RolesStack', { env });
    tvm.addProfile('readonly', { role: new ProtectedRole(roles, 'ReadOnly', { tvm }), allowedPrincipals: [P(ALICE)] });
    tvm.addProfile('deploy', { role: new iam.Role(roles, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() }), allowedPrincipals: [P(ALICE)] });
    app.synth();
  });

  test('WHEN cdk-nag AwsSolutions checks it THEN nothing is left unacknowledged, and no acknowledgement is stale', () => {
    expect(describeViolations(new AwsSolutionsChecks().validateScope(app))).toEqual([]);
    const findings = unacknowledgedReport(app).violations
      .flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
    const stale = acknowledgementsIn(app)
      .filter((a) => a.id.startsWith('AwsSolutions-'))
      .filter((a) => !findings.some((f) =>
        (f.rule === a.id || f.rule.startsWith(`${a.id}[`)) && (f.path === a.path || f.path.startsWith(`${a.path}/`))))
      .map((a) => `${a.id} at ${a.path}`);
    expect(stale).toEqual([]);
  });
});

describe('GIVEN a SentinelSessionAuthorizer of a relying party', () => {
  test('WHEN cdk-nag AwsSolutions checks it THEN nothing of it is left unacknowledged, and each acknowledgement has a finding', () => {
    const full = fullTvm();
    const authorizer = new SentinelSessionAuthorizer(full.stack, 'Sessions', { tvm: full.tvm, audience: 'orders.example.com' });
    full.app.synth();
    const ours = (path: string) => path.startsWith(authorizer.node.path);
    expect(describeViolations(new AwsSolutionsChecks().validateScope(full.app)).filter((line) => ours(line.split(' at ')[1] ?? '')))
      .toEqual([]);
    const findings = unacknowledgedReport(authorizer).violations.map((v) => v.ruleName);
    for (const ack of acknowledgementsIn(authorizer)) expect(findings).toContain(ack.id);
  });
});
