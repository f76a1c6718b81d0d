import { Duration, Token } from 'aws-cdk-lib';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * Options of `SiemExport.toBucket`.
 *
 * @experimental
 */
export interface SiemBucketOptions {
  /**
   * Where in the bucket the TVM writes, ending with `/`: decision lines under `<prefix>decisions/`, session events under
   * `<prefix>session-events/`, each by day (`yyyy/MM/dd/`, UTC), and records Firehose could not deliver under
   * `<prefix>errors/`. The delivery streams may write only under it.
   *
   * @default - `sentinel-tvm/<tvmName>/`
   * @experimental
   */
  readonly prefix?: string;

  /**
   * How long Firehose buffers records before it writes an object: the longest a line waits before a SIEM can read it.
   * From 0 to 900 seconds.
   *
   * @default Duration.seconds(60)
   * @experimental
   */
  readonly bufferingInterval?: Duration;

  /**
   * A customer managed key the delivery streams encrypt the records they hold with (server-side encryption of the
   * stream). The objects are encrypted as the bucket's default encryption says.
   *
   * @default - an AWS owned key
   * @experimental
   */
  readonly encryptionKey?: kms.IKey;
}

/** The longest buffering interval Firehose accepts for an S3 destination. */
const MAX_BUFFERING_SECONDS = 900;
/** Firehose's limit of a prefix; ours adds at most about 60 characters to the one given. */
const MAX_PREFIX_LENGTH = 900;

/**
 * Where a TVM exports its decision log lines and session events for a SIEM (Splunk, Security Lake, Sentinel, …): only
 * the decision lines of the vending function's log (never another line) and the TVM's session events, never the
 * session table.
 *
 * @experimental
 */
export abstract class SiemExport {
  /**
   * Firehose delivery streams the TVM creates write to `bucket`: newline-delimited JSON, one decision or one event per
   * line, GZIP-compressed objects under `<prefix>decisions/yyyy/MM/dd/` and `<prefix>session-events/yyyy/MM/dd/`.
   * The bucket is yours: its encryption, retention and access are not changed (Firehose's role gets write access to
   * the prefix only; a bucket encrypted with a KMS key of this app gets the grant to encrypt with it).
   *
   * @experimental
   */
  public static toBucket(bucket: s3.IBucket, options: SiemBucketOptions = {}): SiemExport {
    if (!bucket) throw new Error('SiemExport.toBucket: bucket is required');
    validatePrefix(options.prefix);
    const interval = options.bufferingInterval;
    if (interval !== undefined && !Token.isUnresolved(interval.toSeconds())) {
      const seconds = interval.toSeconds();
      if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_BUFFERING_SECONDS) {
        throw new Error(`SiemExport.toBucket: bufferingInterval is ${seconds} seconds: expected 0 to ${MAX_BUFFERING_SECONDS}`);
      }
    }
    return new Export('BUCKET', { _bucket: { bucket, options: { ...options } } });
  }

  /**
   * Your own delivery stream (to Splunk, an HTTP endpoint, your S3 layout, …) gets both: the CloudWatch Logs
   * subscription delivers the decision lines in CloudWatch Logs' envelope (GZIP-compressed, as CloudWatch Logs sends
   * them), and an EventBridge rule puts each session event as one JSON line. The stream must not turn on Firehose's
   * CloudWatch Logs decompression: Firehose then refuses records from any other source, the events included.
   *
   * @experimental
   */
  public static toDeliveryStream(stream: firehose.IDeliveryStream): SiemExport {
    if (!stream) throw new Error('SiemExport.toDeliveryStream: stream is required');
    return new Export('DELIVERY_STREAM', { _deliveryStream: stream });
  }

  /**
   * Where the export goes: `BUCKET` or `DELIVERY_STREAM`.
   *
   * @experimental
   */
  public abstract readonly kind: string;

  /**
   * The bucket and its options (`toBucket`).
   * @internal
   */
  public abstract readonly _bucket?: { readonly bucket: s3.IBucket; readonly options: SiemBucketOptions };

  /**
   * The user's stream (`toDeliveryStream`).
   * @internal
   */
  public abstract readonly _deliveryStream?: firehose.IDeliveryStream;
}

class Export extends SiemExport {
  public readonly _bucket?: { readonly bucket: s3.IBucket; readonly options: SiemBucketOptions };
  public readonly _deliveryStream?: firehose.IDeliveryStream;

  constructor(public readonly kind: string, target: Pick<Export, '_bucket' | '_deliveryStream'>) {
    super();
    this._bucket = target._bucket;
    this._deliveryStream = target._deliveryStream;
  }
}

/** A prefix names a folder: relative, ending with `/`, without Firehose expressions (the export adds the partitions). */
function validatePrefix(prefix: string | undefined): void {
  if (prefix === undefined) return;
  if (typeof prefix !== 'string' || Token.isUnresolved(prefix)) {
    throw new Error('SiemExport.toBucket: prefix must be a literal string (the streams\' permissions are scoped to it)');
  }
  const problem = prefix.length === 0 ? 'is empty'
    : prefix.startsWith('/') ? 'starts with "/"'
      : !prefix.endsWith('/') ? 'does not end with "/"'
        : /!\{|\*/.test(prefix) ? 'contains "!{" or "*" (the export adds the date partitions itself)'
          : prefix.includes('//') ? 'contains "//"'
            : prefix.length > MAX_PREFIX_LENGTH ? `is longer than ${MAX_PREFIX_LENGTH} characters`
              : undefined;
  if (problem) throw new Error(`SiemExport.toBucket: prefix ${JSON.stringify(prefix)} ${problem}`);
}
