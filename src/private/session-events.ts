import { Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EventsFunction } from './events-function';
import { onlyFromFunction } from './trust';
import { Env } from '../shared/contract';
import { SESSION_STREAM_FILTERS } from '../shared/session-stream';

export interface TvmSessionEventsProps {
  readonly table: dynamodb.ITable;
  /** Where the events go; the account's default bus when absent. */
  readonly eventBus?: events.IEventBus;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly runtimeRolePath: string;
  readonly tvmName: string;
  readonly observability: Record<string, string>;
  readonly tracing: lambda.Tracing;
  readonly architecture: lambda.Architecture;
}

const PUT_EVENTS = ['events:PutEvents'];

/** The ARN of the bus events go to: the one given, or the account's default bus. */
export function eventBusArnOf(scope: Construct, bus: events.IEventBus | undefined): string {
  return bus?.eventBusArn ?? Stack.of(scope).formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' });
}

/** The event bus name or ARN the runtime puts events on (`SENTINEL_EVENT_BUS`), when it is not the default bus. */
export function eventBusEnvironment(bus: events.IEventBus | undefined): Record<string, string> {
  return bus ? { [Env.EVENT_BUS]: bus.eventBusArn } : {};
}

/**
 * The session events publisher: a function on the session table's stream that puts `Session Started`, `Ended` and
 * `Revoked`, and the events of gated access (`Access …`, `Break Glass …`), on EventBridge. It reads the stream the
 * vending and access functions write, so a vend makes no request for it and cannot fail because of it. Only the changes
 * of a session's status and a break-glass review reach it (stream filters): a continued vend, of a standing session or
 * of a grant, does not invoke it.
 */
export class TvmSessionEvents extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: TvmSessionEventsProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      path: props.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM session events: puts session changes on EventBridge',
    });
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention });
    logGroup.grantWrite(this.role);
    props.encryptionKey?.grantDecrypt(this.role);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: PUT_EVENTS, resources: [eventBusArnOf(this, props.eventBus)] }));
    this.function = new EventsFunction(this, 'Function', {
      description: 'Sentinel TVM: puts session changes (started, ended, revoked) and gated access events on EventBridge',
      architecture: props.architecture,
      memorySize: 256,
      timeout: Duration.seconds(30),
      role: this.role,
      logGroup,
      environment: {
        [Env.TVM_NAME]: props.tvmName,
        ...eventBusEnvironment(props.eventBus),
        ...props.observability,
      },
      tracing: props.tracing,
    });
    new iam.Policy(this, 'OnlyFromFunction', {
      roles: [this.role],
      statements: [onlyFromFunction(this.function.functionArn, PUT_EVENTS)],
    });
    this.function.addEventSource(new DynamoEventSource(props.table, {
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(1),
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      // No retryAttempts: a record whose event could not be put is retried until it is 6 hours old (an EventBridge outage).
      maxRecordAge: Duration.hours(6),
      // The changes of a session's status, and a break-glass review (src/shared/session-stream.ts, which local mode evaluates).
      filters: SESSION_STREAM_FILTERS.map((pattern) => lambda.FilterCriteria.filter(pattern)),
    }));
  }
}
