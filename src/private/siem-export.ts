import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as destinations from 'aws-cdk-lib/aws-logs-destinations';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeNag } from './nag';
import type { SiemBucketOptions, SiemExport } from '../siem-export';

export interface TvmSiemExportProps {
  readonly export: SiemExport;
  /** The vending function's log group: its decision lines are exported, nothing else of it. */
  readonly decisionLogGroup: logs.ILogGroup;
  /** The TVM's own session events (source, account, `detail.tvmName`). */
  readonly sessionEventPattern: events.EventPattern;
  /** The bus the TVM puts its events on; the account's default bus when absent. */
  readonly eventBus?: events.IEventBus;
  readonly tvmName: string;
  /** Retention of the log groups of the delivery streams' own errors (only with `toBucket`). @default ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The decision lines of the vending function's log, and nothing else of it: Powertools writes each as one JSON object
 * whose `message` is `decision` and whose `decision` is one of the three outcomes (lambda/observability.ts). Lambda's
 * own lines (START, END, REPORT), EMF metric documents and Powertools warnings do not match.
 */
export const DECISION_FILTER_PATTERN: string = logs.FilterPattern.all(
  logs.FilterPattern.stringValue('$.message', '=', 'decision'),
  logs.FilterPattern.any(
    logs.FilterPattern.stringValue('$.decision', '=', 'ALLOW'),
    logs.FilterPattern.stringValue('$.decision', '=', 'DENY'),
    logs.FilterPattern.stringValue('$.decision', '=', 'ERROR'),
  ),
).logPatternString;

/**
 * What the rule puts on the stream: the whole event as EventBridge delivers it (`<aws.events.event.json>`, the envelope
 * and its `detail`), then a newline, so that records Firehose concatenates stay one JSON per line.
 */
export const SESSION_EVENT_INPUT_TEMPLATE = '<aws.events.event.json>\n';

/** The layout of the bucket (`toBucket`): where each kind of line goes, below the prefix. */
export interface SiemBucketLayout {
  readonly prefix: string;
  readonly decisions: string;
  readonly sessionEvents: string;
  readonly decisionErrors: string;
  readonly sessionEventErrors: string;
}

const DAY = '!{timestamp:yyyy/MM/dd}/';
const ERROR_TYPE = '!{firehose:error-output-type}/';
const DEFAULT_BUFFERING_SECONDS = 60;

/** The S3 layout of an export to a bucket for a TVM: `<prefix>decisions/yyyy/MM/dd/`, `<prefix>session-events/…`, `<prefix>errors/…`. */
export function siemBucketLayout(tvmName: string, options: SiemBucketOptions = {}): SiemBucketLayout {
  const prefix = options.prefix ?? `sentinel-tvm/${tvmName}/`;
  return {
    prefix,
    decisions: `${prefix}decisions/${DAY}`,
    sessionEvents: `${prefix}session-events/${DAY}`,
    decisionErrors: `${prefix}errors/decisions/${ERROR_TYPE}${DAY}`,
    sessionEventErrors: `${prefix}errors/session-events/${ERROR_TYPE}${DAY}`,
  };
}

/**
 * Exports a TVM's decision lines and session events for a SIEM: a CloudWatch Logs subscription filter on the vending
 * function's log group (decision lines only) and an EventBridge rule (the TVM's session events), both delivering to
 * Firehose. With `toBucket`, two delivery streams of its own write to the bucket: CloudWatch Logs' records arrive
 * GZIP-compressed in their envelope, and Firehose's decompression (which then refuses any other source) and message
 * extraction turn them into the decision lines themselves; the events go to a stream of their own. Nothing else is
 * read: never the session table, never another log line.
 */
export class TvmSiemExport extends Construct {
  /** The stream the decision lines go to (the user's, or the TVM's own). */
  public readonly decisionStream: firehose.IDeliveryStream;
  /** The stream the session events go to (the user's, or the TVM's own). */
  public readonly sessionEventStream: firehose.IDeliveryStream;
  public readonly subscriptionFilter: logs.SubscriptionFilter;
  public readonly rule: events.Rule;
  /** The role CloudWatch Logs assumes to put decision lines on the stream. */
  public readonly logsRole: iam.Role;
  /** The role Firehose assumes to write to the bucket (`toBucket` only). */
  public readonly deliveryRole?: iam.Role;
  /** Where each kind of line goes in the bucket (`toBucket` only). */
  public readonly layout?: SiemBucketLayout;

  constructor(scope: Construct, id: string, props: TvmSiemExportProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const target = props.export?._bucket ?? props.export?._deliveryStream;
    if (!target) throw new Error('siemExport: use SiemExport.toBucket() or SiemExport.toDeliveryStream()');

    if (props.export._bucket) {
      const { bucket, options } = props.export._bucket;
      const layout = siemBucketLayout(props.tvmName, options);
      this.layout = layout;
      const role = this.bucketWriter(bucket, layout.prefix);
      this.deliveryRole = role;
      const stream = (streamId: string, dataOutputPrefix: string, errorOutputPrefix: string, processors: firehose.IDataProcessor[]) => {
        const errors = new logs.LogGroup(this, `${streamId}Errors`, { retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR });
        errors.grantWrite(role);
        const deliveryStream = new firehose.DeliveryStream(this, streamId, {
          destination: new firehose.S3Bucket(bucket, {
            // Its grants go nowhere: the role's own policy (bucketWriter) is scoped to the prefix, read-write grants are not.
            role: role.withoutPolicyUpdates(),
            dataOutputPrefix,
            errorOutputPrefix,
            compression: firehose.Compression.GZIP,
            bufferingInterval: options.bufferingInterval ?? Duration.seconds(DEFAULT_BUFFERING_SECONDS),
            processors,
            loggingConfig: new firehose.EnableLogging(errors),
          }),
          encryption: options.encryptionKey
            ? firehose.StreamEncryption.customerManagedKey(options.encryptionKey)
            : firehose.StreamEncryption.awsOwnedKey(),
        });
        // Firehose checks its role when the stream is created: the policy must exist first.
        deliveryStream.node.defaultChild!.node.addDependency(role);
        return deliveryStream;
      };
      this.decisionStream = stream('DecisionStream', layout.decisions, layout.decisionErrors, [
        new firehose.DecompressionProcessor(),
        new firehose.CloudWatchLogProcessor({ dataMessageExtraction: true }),
        // One decision per line, whatever the number of log events in a CloudWatch Logs record.
        new firehose.AppendDelimiterToRecordProcessor(),
      ]);
      // The rule's input ends with a newline already: no processor.
      this.sessionEventStream = stream('SessionEventStream', layout.sessionEvents, layout.sessionEventErrors, []);
      if (options.encryptionKey) this.acknowledgeStreamKeyGrants();
    } else {
      this.decisionStream = props.export._deliveryStream!;
      this.sessionEventStream = props.export._deliveryStream!;
    }

    // CloudWatch Logs of this account and region only (confused deputy); it may put records on the one stream, nothing else.
    this.logsRole = new iam.Role(this, 'LogsRole', {
      assumedBy: new iam.ServicePrincipal('logs.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'logs', resource: '*' }) },
        },
      }),
      description: `Sentinel TVM ${props.tvmName}: CloudWatch Logs puts the decision lines on the SIEM export's stream`,
    });
    this.subscriptionFilter = new logs.SubscriptionFilter(this, 'DecisionLines', {
      logGroup: props.decisionLogGroup,
      destination: new destinations.FirehoseDestination(this.decisionStream, { role: this.logsRole }),
      filterPattern: logs.FilterPattern.literal(DECISION_FILTER_PATTERN),
      filterName: `sentinel-tvm-${props.tvmName}-siem`,
    });

    this.rule = new events.Rule(this, 'SessionEvents', {
      eventBus: props.eventBus,
      eventPattern: props.sessionEventPattern,
      description: `Sentinel TVM ${props.tvmName}: exports its session events for a SIEM`,
      targets: [new targets.FirehoseDeliveryStream(this.sessionEventStream, { message: new EventLine() })],
    });
  }

  /**
   * The role Firehose writes to the bucket with: the S3 actions Firehose's documentation lists for an S3 destination,
   * objects under the prefix only (no delete, no other key), and the bucket's KMS key to encrypt with, if it has one.
   */
  private bucketWriter(bucket: s3.IBucket, prefix: string): iam.Role {
    const stack = Stack.of(this);
    const role = new iam.Role(this, 'DeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'Sentinel TVM SIEM export: Firehose writes decision lines and session events under the export\'s prefix',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
      resources: [bucket.bucketArn],
    }));
    const objects = `${bucket.bucketArn}/${prefix}*`;
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      resources: [objects],
    }));
    bucket.encryptionKey?.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
    acknowledgeNag(role, [{
      id: `AwsSolutions-IAM5[Resource::${flattenForNag(stack.resolve(objects))}]`,
      reason: 'Firehose names each object it writes (date, stream, time, random suffix): the wildcard is the keys under the '
        + 'export\'s own prefix, and nothing else of the bucket.',
    }]);
    return role;
  }

  /** The key grants `firehose.DeliveryStream` makes to its own role for a customer managed key (CDK's `grantEncryptDecrypt`). */
  private acknowledgeStreamKeyGrants(): void {
    for (const stream of [this.decisionStream, this.sessionEventStream]) {
      acknowledgeNag(stream, ['Action::kms:ReEncrypt*', 'Action::kms:GenerateDataKey*'].map((finding) => ({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason: 'CDK\'s Firehose delivery stream grants its role encrypt and decrypt on the customer managed key the stream '
          + 'encrypts its records with; the wildcards are the variants of those two KMS actions on that one key.',
      })));
    }
  }
}

/** The event as EventBridge delivers it, followed by a newline: one JSON per line once Firehose concatenates records. */
class EventLine extends events.RuleTargetInput {
  constructor() {
    super();
  }

  public bind(_rule: events.IRule): events.RuleTargetInputProperties {
    return { inputTemplate: SESSION_EVENT_INPUT_TEMPLATE, inputPathsMap: {} };
  }
}

/** A resolved policy resource as cdk-nag writes it in a finding: `Ref` as `<Id>`, `Fn::GetAtt` as `<Id.Attr>`, joins flattened. */
function flattenForNag(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const node = value as Record<string, any>;
  if (node && Array.isArray(node['Fn::Join'])) return (node['Fn::Join'][1] as unknown[]).map(flattenForNag).join(node['Fn::Join'][0]);
  if (node && Array.isArray(node['Fn::GetAtt'])) return `<${node['Fn::GetAtt'][0]}.${node['Fn::GetAtt'][1]}>`;
  if (node && typeof node.Ref === 'string') return `<${node.Ref}>`;
  if (node && node['Fn::Sub'] !== undefined) return flattenForNag(node['Fn::Sub']);
  if (node && node['Fn::ImportValue'] !== undefined) return flattenForNag(node['Fn::ImportValue']);
  return JSON.stringify(value);
}
