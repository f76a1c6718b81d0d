import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AuthorizerFunction } from './private/authorizer-function';
import { acknowledgeNag } from './private/nag';
import { AuthorizerEnv, IdentityProof, Introspection, Patterns } from './shared/contract';
import { ISentinelTvm, SentinelTvmBase } from './tvm-reference';

/**
 * What a relying party does when the TVM cannot read its session store.
 *
 * @experimental
 */
export enum IntrospectionFailureMode {
  /** Refuse the request (the TVM answers 503; nothing is cached). */
  FAIL_CLOSED = 'fail_closed',
  /**
   * Admit the request (the TVM answers active with `store_unavailable`; nothing is cached), unless the TVM already knows
   * the session as inactive. A session revoked during the outage cannot be known as revoked until the store is back.
   */
  FAIL_OPEN = 'fail_open',
}

/**
 * Properties of a `SentinelSessionAuthorizer`.
 *
 * @experimental
 */
export interface SentinelSessionAuthorizerProps {
  /** The TVM whose sessions the API admits. It must be in this stack's account (HTTP APIs admit no other account). */
  readonly tvm: ISentinelTvm;

  /**
   * The API's audience: the name callers sign their identity proof for (`sentinel-tvm proof --audience <audience>`), e.g.
   * the API's host name. A proof made for any other audience is refused, so a service that receives one cannot replay
   * it here. 1 to 253 characters of letters, digits and `.:_-`, compared without case.
   */
  readonly audience: string;

  /**
   * The profiles whose sessions the API admits, e.g. `['orders-readonly']`: a live session of any other profile of the TVM
   * is refused (and, while profiles are restricted, every session during a store outage under `FAIL_OPEN`, whose profile
   * cannot be known then).
   *
   * @default - a live session of any profile of the TVM; the integration gets the profile in the authorizer's context
   */
  readonly allowedProfiles?: string[];

  /**
   * How long an active answer is cached in each authorizer container: a revocation takes at most this long to refuse
   * the session's requests here. Inactive answers are cached until any credentials of the session have expired
   * (1 hour). Between 0 (ask every time) and 5 minutes.
   *
   * @default Duration.seconds(30)
   */
  readonly activeCacheTtl?: Duration;

  /**
   * What to do when the TVM cannot read its session store.
   *
   * @default IntrospectionFailureMode.FAIL_CLOSED
   */
  readonly failureMode?: IntrospectionFailureMode;

  /**
   * Instruction set of the authorizer function.
   *
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;

  /**
   * Retention of the authorizer's log group (one JSON line per decision: session id, active, cached; never the proof).
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A Lambda authorizer for a downstream HTTP API that admits only requests of live TVM sessions: the caller sends an
 * identity proof (`x-sentinel-identity: $(sentinel-tvm proof --audience <audience>)`), the authorizer asks the TVM
 * (`POST /introspect`) whether the proof's session is active, and refuses a revoked, ended or expired one. The function
 * is bundled in this package (Node.js 22); nothing to write or bundle, from any jsii language.
 *
 * @example
 * const sessions = new SentinelSessionAuthorizer(this, 'Sessions', { tvm, audience: 'orders.example.com' });
 * api.addRoutes({ path: '/orders', methods: [apigwv2.HttpMethod.GET], integration, authorizer: sessions.httpAuthorizer });
 * @experimental
 */
export class SentinelSessionAuthorizer extends Construct implements iam.IGrantable {
  /** The authorizer function. */
  public readonly function: lambda.IFunction;
  /** The function's role: the relying party the TVM answers. */
  public readonly grantPrincipal: iam.IPrincipal;
  /** The authorizer to give the API's routes (`authorizer:`), or the API's `defaultAuthorizer`. */
  public readonly httpAuthorizer: apigwv2.IHttpRouteAuthorizer;

  constructor(scope: Construct, id: string, props: SentinelSessionAuthorizerProps) {
    super(scope, id);
    if (!props?.tvm) throw new Error('SentinelSessionAuthorizer: tvm is required');
    const audience = props.audience;
    if (typeof audience !== 'string' || (!Token.isUnresolved(audience) && !new RegExp(Introspection.AUDIENCE_PATTERN).test(audience))) {
      throw new Error(`audience is ${JSON.stringify(audience)}: expected 1 to 253 characters of letters, digits and .:_- (e.g. the API's `
        + 'host name), starting with a letter or digit');
    }
    (props.allowedProfiles ?? []).forEach((name, i) => {
      if (typeof name !== 'string' || (!Token.isUnresolved(name) && !new RegExp(Patterns.PROFILE).test(name))) {
        throw new Error(`allowedProfiles[${i}] is ${JSON.stringify(name)}: expected a profile name (${Patterns.PROFILE})`);
      }
    });
    const ttl = props.activeCacheTtl ?? Duration.seconds(Introspection.DEFAULT_ACTIVE_CACHE_SECONDS);
    if (!ttl.isUnresolved() && (ttl.toSeconds() < 0 || ttl.toSeconds() > 300)) {
      throw new Error(`activeCacheTtl is ${ttl.toHumanString()}: expected between 0 seconds and 5 minutes (a revocation takes up to this `
        + 'long to refuse requests here)');
    }
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR });
    const fn = new AuthorizerFunction(this, 'Function', {
      description: `Sentinel TVM session authorizer for ${audience}: admits live sessions of ${props.tvm.node.path}`,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: 256,
      // Above the verifier's own timeouts, below API Gateway's 10 s for an authorizer.
      timeout: Duration.seconds(8),
      logGroup,
      environment: {
        [AuthorizerEnv.TVM_URL]: props.tvm.url,
        [AuthorizerEnv.TVM_REGION]: tvmRegionOf(props.tvm, this),
        [AuthorizerEnv.AUDIENCE]: audience,
        [AuthorizerEnv.ACTIVE_CACHE_SECONDS]: String(ttl.toSeconds()),
        [AuthorizerEnv.ON_STORE_FAILURE]: props.failureMode ?? IntrospectionFailureMode.FAIL_CLOSED,
        ...(props.allowedProfiles && props.allowedProfiles.length > 0 ? { [AuthorizerEnv.ALLOWED_PROFILES]: props.allowedProfiles.join(',') } : {}),
      },
    });
    this.function = fn;
    this.grantPrincipal = fn.grantPrincipal;
    props.tvm.grantIntrospect(fn);
    // An imported TVM answers only the principals its own stack lists: say which one to add, or every request is refused.
    if (typeof (props.tvm as { addProfile?: unknown }).addProfile !== 'function') {
      Annotations.of(this).addWarningV2('cdk-sentinel-tvm:introspectionPrincipalNotListed',
        `${this.node.path}: the TVM ${props.tvm.node.path} is imported, so its stack must list this authorizer's role in `
        + 'introspectionPrincipals (PrincipalPattern.fromArnPattern of the role\'s ARN, printed by this stack): until then it answers '
        + '403 POLICY_DENY and every request is refused');
    }
    // No caching by API Gateway: a proof is valid for minutes, a revocation must refuse it within `activeCacheTtl`.
    this.httpAuthorizer = new HttpLambdaAuthorizer('SentinelSessions', fn, {
      authorizerName: 'SentinelSessions',
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      identitySource: [`$request.header.${IdentityProof.HEADER}`],
      resultsCacheTtl: Duration.seconds(0),
    });
    acknowledgeNag(fn, [
      { id: 'AwsSolutions-L1', reason: 'The function is bundled for and tested on nodejs22.x (esbuild target node22); its runtime moves with this library.' },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The authorizer writes its log and calls the TVM\'s API; the basic execution role is the least it needs to log.',
      },
    ]);
  }
}

/** The TVM's region: its stack's, or its URL's for an imported TVM. */
function tvmRegionOf(tvm: ISentinelTvm, scope: Construct): string {
  // Structural, not instanceof: that fails across copies of this library.
  const region = (tvm as Partial<Pick<SentinelTvmBase, '_region'>>)._region;
  return typeof region === 'function' ? region.call(tvm) : Stack.of(scope).region;
}
