import { createHash } from 'crypto';
import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { describe, isNoSuchEntity, mapLimited, type EnforcerConfig, type EnforcerLog } from './enforce';
import { leaseWaitMs, type EnforcerLease } from './lease';
import { Attr, REVOCATION_CLEANUP_DECLARATIONS_ATTR, REVOCATION_CLEANUP_ITEM_ID, REVOCATION_CLEANUP_RESOURCE_TYPE } from '../../src/shared/contract';
import { checkStackRequest, CUSTOM_RESOURCE_STACK_STATUSES, type StackGuard } from '../aws/stack-guard';
import { sendResponse } from '../config/provider';

/**
 * The revocation cleanup, a CloudFormation custom resource served by the enforcer function: IAM refuses to delete a role
 * that still has inline policies, and CloudFormation deletes only the policies it created, so this TVM's revoked-sessions
 * policy is deleted from its roles right before CloudFormation deletes them.
 *
 * Create and Update delete nothing: they record the roles the resource now lists (in the control table, by logical id)
 * and answer a physical id that is a hash of the policy name and the sorted roles. A changed list thus changes the
 * physical id, which CloudFormation treats as a replacement: "If the value returned is different, AWS CloudFormation
 * recognizes the update as a replacement and sends a delete request to the old resource"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html). It sends that
 * Delete in the cleanup phase (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS; after a rollback, for the new id, in
 * UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS), in reverse dependency order: the old resource references the old roles,
 * so its Delete comes right before theirs. Deleting the policy earlier, during the update, left the whole update for an
 * enforcer run to write it again (the enforcer keeps denying revoked sessions on roles that left the configuration),
 * and the role's deletion then failed (DeleteConflict, an orphaned role).
 *
 * Delete: while the whole stack goes, from every listed role; otherwise from the listed roles that neither the deployed
 * configuration (the function's digest) nor a live cleanup resource still uses (a role still protected keeps its deny).
 *
 * Whoever may invoke the function could send such a request to strip the denies, so a request is obeyed only when it
 * names the function's own stack, that stack is in a status in which CloudFormation sends it, and it names this TVM's own
 * policy. That still leaves every update's cleanup phase open to a forged Delete, and its physical id and role names
 * are computable from the template: hence the deployed configuration has the last word outside a whole-stack deletion.
 * CloudFormation's own Deletes agree with it: the Delete of a replaced list comes after the configuration that dropped
 * its roles was deployed, and a rollback's after the old one was restored. A refused request is answered SUCCESS with
 * nothing done, and logged as an error: a FAILED answer would block a real deletion, and its ResponseURL is the
 * sender's anyway.
 */

export interface CleanupProperties {
  readonly RoleNames?: unknown;
  readonly PolicyName?: unknown;
}

export interface CleanupEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly ResourceType?: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties?: CleanupProperties;
  readonly OldResourceProperties?: CleanupProperties;
}

/** What one cleanup resource declared last (its Create or Update), and the physical id it was answered. */
export interface CleanupDeclaration {
  readonly physicalResourceId: string;
  readonly policyName: string;
  readonly roleNames: string[];
}

/** The declarations of the live cleanup resources, by logical id: one, or two while a moved resource is replaced. */
export type CleanupDeclarations = Record<string, CleanupDeclaration>;

/** Where the declarations are kept between requests. */
export interface CleanupStore {
  /** All declarations; none when nothing was written yet. */
  read(): Promise<CleanupDeclarations>;
  write(declarations: CleanupDeclarations): Promise<void>;
}

export interface CleanupDeps extends StackGuard {
  readonly iam: IAMClient;
  /** This TVM's revoked-sessions policy name: a request naming any other is refused. */
  readonly policyName: string;
  /** The deployed configuration (the function's digest): its roles keep their deny unless the whole stack goes. */
  readonly loadConfig: () => Promise<EnforcerConfig>;
  /** The declarations: {@link dynamoCleanupStore}. */
  readonly store: CleanupStore;
  /** Taken before any policy is deleted, so that a run in flight cannot write one again afterwards. */
  readonly lease?: EnforcerLease;
  readonly log?: EnforcerLog;
  /** Roles processed at once (IAM throttles writes; the SDK retries). @default 8 */
  readonly concurrency?: number;
}

export interface CleanupResult {
  readonly status: 'SUCCESS' | 'FAILED';
  readonly reason: string;
  readonly physicalResourceId: string;
  /** Roles whose policy was deleted. */
  readonly deleted: string[];
  /** Roles that had no such policy, or no longer exist. */
  readonly absent: string[];
  /** Roles whose policy could not be deleted, with the error. */
  readonly failed: string[];
  /** Listed roles that keep the policy: a live cleanup resource still declares them. */
  readonly kept: string[];
  /** Why the request was not obeyed. */
  readonly refused?: string;
}

/** The physical ids' prefix, and the id answered to a Create whose properties are refused. */
export const CLEANUP_PHYSICAL_ID_PREFIX = 'sentinel-tvm-revocation-cleanup';

/** The physical id of a resource listing these roles: the same list (in any order) gives the same id. */
export function cleanupPhysicalId(policyName: string, roleNames: readonly string[]): string {
  const digest = createHash('sha256').update(JSON.stringify([policyName, [...new Set(roleNames)].sort()])).digest('hex');
  return `${CLEANUP_PHYSICAL_ID_PREFIX}-${digest.slice(0, 32)}`;
}

/** The stack statuses in which CloudFormation sends each request (shared with the configuration writer). */
export const CLEANUP_STACK_STATUSES = CUSTOM_RESOURCE_STACK_STATUSES;

/** Statuses in which every resource of the stack goes, roles and configuration included: a deletion, a creation's rollback. */
const WHOLE_STACK_STATUSES: readonly string[] = ['DELETE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS'];
/** Statuses of a forward operation, which a FAILED answer rolls back cleanly. */
const FORWARD_STATUSES: readonly string[] = ['CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS'];

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
/** CloudFormation's logical ids. */
const LOGICAL_ID = /^[A-Za-z0-9]{1,255}$/;
const MAX_REASON = 1_000;
const REQUEST_TYPES: readonly string[] = ['Create', 'Update', 'Delete'];

/** Any CloudFormation custom-resource request (the enforcer's other events are stream batches and schedules). */
export function isCustomResourceEvent(event: unknown): event is CleanupEvent {
  const e = event as Partial<CleanupEvent> | null | undefined;
  return !!e && typeof e === 'object' && typeof e.RequestType === 'string' && typeof e.ResponseURL === 'string'
    && typeof e.StackId === 'string';
}

/** The declarations in the control table's {@link REVOCATION_CLEANUP_ITEM_ID} item (strongly consistent reads). */
export function dynamoCleanupStore(options: { readonly ddb: DynamoDBClient; readonly tableName: string }): CleanupStore {
  const { ddb, tableName } = options;
  const key = { [Attr.ID]: { S: REVOCATION_CLEANUP_ITEM_ID } };
  return {
    read: async () => {
      const item = (await ddb.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;
      const json = item?.[REVOCATION_CLEANUP_DECLARATIONS_ATTR]?.S;
      return json === undefined ? {} : parseDeclarations(JSON.parse(json));
    },
    write: async (declarations) => {
      await ddb.send(new PutItemCommand({
        TableName: tableName,
        Item: { ...key, [REVOCATION_CLEANUP_DECLARATIONS_ATTR]: { S: JSON.stringify(declarations) } },
      }));
    },
  };
}

/** Keeps the well-formed declarations only (the item is the enforcer's alone, but a role name must never be guessed). */
function parseDeclarations(value: unknown): CleanupDeclarations {
  const out: CleanupDeclarations = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [id, d] of Object.entries(value as Record<string, Partial<CleanupDeclaration>>)) {
    if (d && typeof d.physicalResourceId === 'string' && typeof d.policyName === 'string' && Array.isArray(d.roleNames)) {
      out[id] = { physicalResourceId: d.physicalResourceId, policyName: d.policyName, roleNames: d.roleNames.filter(isRoleName) };
    }
  }
  return out;
}

/** Handles one request; never throws (CloudFormation must always get an answer). */
export async function handleCleanup(deps: CleanupDeps, event: CleanupEvent, maxWaitMs: number): Promise<CleanupResult> {
  const log = deps.log ?? (() => undefined);
  const listed = listedOf(event.ResourceProperties, deps.policyName);
  const physicalResourceId = event.RequestType === 'Create'
    ? (typeof listed === 'string' ? CLEANUP_PHYSICAL_ID_PREFIX : cleanupPhysicalId(listed.policyName, listed.roles))
    : event.PhysicalResourceId ?? CLEANUP_PHYSICAL_ID_PREFIX;
  const done = { physicalResourceId, deleted: [] as string[], absent: [] as string[], failed: [] as string[], kept: [] as string[] };
  const refuse = (refused: string): CleanupResult => {
    log('ERROR', 'revocation cleanup request refused: nothing done', {
      refused,
      requestType: event.RequestType,
      stackId: event.StackId,
      logicalResourceId: event.LogicalResourceId,
    });
    return { ...done, status: 'SUCCESS', reason: `refused: ${refused}`.slice(0, MAX_REASON), refused };
  };

  if (!REQUEST_TYPES.includes(event.RequestType)) return refuse(`unknown request type ${String(event.RequestType).slice(0, 40)}`);
  if (event.ResourceType !== REVOCATION_CLEANUP_RESOURCE_TYPE) return refuse(`resource type ${String(event.ResourceType).slice(0, 80)}`);
  if (typeof event.LogicalResourceId !== 'string' || !LOGICAL_ID.test(event.LogicalResourceId)) return refuse('malformed LogicalResourceId');
  const stack = await checkStackRequest(deps, event);
  if ('refused' in stack) return refuse(stack.refused);
  const { stackStatus } = stack;
  if (typeof listed === 'string') return refuse(listed);
  if (listed.invalid.length > 0) log('WARN', 'revocation cleanup: role names skipped (not IAM role names)', { invalid: listed.invalid });

  const request = { event, stackStatus, listed, done, log, refuse };
  return event.RequestType === 'Delete' ? strip(deps, request, maxWaitMs) : declare(deps, request);
}

interface Listed {
  readonly policyName: string;
  /** Valid role names, each once, sorted. */
  readonly roles: string[];
  readonly invalid: string[];
}

interface Request {
  readonly event: CleanupEvent;
  readonly stackStatus: string;
  readonly listed: Listed;
  readonly done: Omit<CleanupResult, 'status' | 'reason'>;
  readonly log: EnforcerLog;
  readonly refuse: (refused: string) => CleanupResult;
}

/** Create, Update: records what the resource now lists, and answers the physical id of that list. */
async function declare(deps: CleanupDeps, { event, stackStatus, listed, done, log }: Request): Promise<CleanupResult> {
  const physicalResourceId = cleanupPhysicalId(listed.policyName, listed.roles);
  const fields = { requestType: event.RequestType, stackStatus, logicalResourceId: event.LogicalResourceId, physicalResourceId };
  try {
    const declarations = await deps.store.read();
    declarations[event.LogicalResourceId] = { physicalResourceId, policyName: listed.policyName, roleNames: listed.roles };
    await deps.store.write(declarations);
  } catch (err) {
    // Unrecorded, a later Delete would not know which roles to spare: FAILED where CloudFormation can still roll back
    // cleanly. During a rollback it would only stop there: the rollback goes on with the roles unrecorded.
    const forward = FORWARD_STATUSES.includes(stackStatus);
    log('ERROR', 'revocation cleanup: the listed roles could not be recorded', { ...fields, error: describe(err) });
    return {
      ...done,
      physicalResourceId: forward ? done.physicalResourceId : physicalResourceId,
      status: forward ? 'FAILED' : 'SUCCESS',
      reason: `the listed roles could not be recorded (${describe(err)})`.slice(0, MAX_REASON),
    };
  }
  log('INFO', 'revocation cleanup: listed roles recorded', { ...fields, previous: event.PhysicalResourceId, roles: listed.roles.length });
  return { ...done, physicalResourceId, status: 'SUCCESS', reason: 'OK' };
}

/**
 * Delete: the policy goes from the listed roles that neither the deployed configuration nor a live cleanup resource uses
 * any more; while the whole stack goes, from all of them.
 */
async function strip(deps: CleanupDeps, { event, stackStatus, listed, done, log, refuse }: Request, maxWaitMs: number): Promise<CleanupResult> {
  const wholeStack = WHOLE_STACK_STATUSES.includes(stackStatus);
  let declarations: CleanupDeclarations = {};
  let configured = new Set<string>();
  if (!wholeStack) {
    // Not knowing which roles are still protected, strip none: a role left with the policy fails its own deletion,
    // which CloudFormation reports; a deny stripped from a protected role would let revoked credentials work again.
    const nothing = (what: string, err: unknown): CleanupResult => {
      log('ERROR', `revocation cleanup: ${what}: nothing deleted`, { stackStatus, error: describe(err) });
      return { ...done, kept: listed.roles, status: 'SUCCESS', reason: `${what} (${describe(err)})`.slice(0, MAX_REASON) };
    };
    try {
      declarations = await deps.store.read();
    } catch (err) {
      return nothing('the recorded roles cannot be read', err);
    }
    try {
      configured = configuredRoleNames(await deps.loadConfig());
    } catch (err) {
      return nothing('the deployed configuration cannot be loaded', err);
    }
  }
  const own = declarations[event.LogicalResourceId];
  // A Delete of the physical id its logical resource holds now (or of one never recorded) removes that resource itself:
  // the TVM left the stack, or the update that added it rolled back. Otherwise it was replaced, and its new list counts.
  const leaving = !own || own.physicalResourceId === event.PhysicalResourceId;
  const declared = new Set(Object.entries(declarations)
    .filter(([id, d]) => (id !== event.LogicalResourceId || !leaving) && d.policyName === listed.policyName)
    .flatMap(([, d]) => d.roleNames));
  const inUse = listed.roles.filter((r) => configured.has(r) && !declared.has(r));
  // A resource that goes (no other one taking its roles over) while the deployed configuration still uses its roles:
  // not CloudFormation's own Delete (the configuration that drops a role is deployed first), or the TVM left a stack that
  // stays, whose roles then fail their own deletion rather than lose their deny on a forged request. Its record stays.
  if (leaving && inUse.length > 0) {
    done.kept.push(...listed.roles);
    return refuse(`the deployed configuration still uses ${inUse.length} of the listed roles (${inUse.slice(0, 5).join(', ')})`);
  }
  const roles = listed.roles.filter((r) => !declared.has(r) && !configured.has(r));
  done.kept.push(...listed.roles.filter((r) => declared.has(r) || configured.has(r)));

  let release: (() => Promise<void>) | undefined;
  // Nothing to delete (an update that only added roles): no run need wait for this one.
  if (deps.lease && roles.length > 0) {
    try {
      release = await deps.lease.acquire(maxWaitMs);
    } catch (err) {
      // A run still holding it now (or a crashed one) is rarer than the certainty of a blocked teardown.
      log('WARN', 'revocation cleanup proceeds without the enforcer lease: a run in flight may write the policy again', { error: describe(err) });
    }
  }
  try {
    await mapLimited(roles, deps.concurrency ?? 8, async (role) => {
      try {
        await deps.iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: listed.policyName }));
        done.deleted.push(role);
      } catch (err) {
        if (isNoSuchEntity(err)) done.absent.push(role);
        else done.failed.push(`${role} (${describe(err)})`);
      }
    });
  } finally {
    // In an update's cleanup the triggers stay: the lease is kept until it lapses (longer than the function runs), so
    // that no run writes the policy again before CloudFormation deletes the roles, right after this answer.
    if (wholeStack || done.deleted.length === 0) await release?.();
  }
  if (!wholeStack && leaving && own) {
    const { [event.LogicalResourceId]: _gone, ...rest } = declarations;
    try {
      await deps.store.write(rest);
    } catch (err) {
      // Its roles stay recorded: a later Delete spares them, which fails only the roles' own deletion.
      log('WARN', 'revocation cleanup: the removed resource\'s roles stay recorded', { error: describe(err) });
    }
  }

  const summary = { requestType: event.RequestType, stackStatus, policyName: listed.policyName, leaving, ...done };
  if (done.failed.length === 0) {
    log('INFO', 'revocation cleanup', summary);
    return { ...done, status: 'SUCCESS', reason: 'OK' };
  }
  log('ERROR', 'revocation cleanup failed on some roles', summary);
  // SUCCESS all the same: a failed deletion or cleanup only stops there, and the role's own deletion reports the policy.
  return { ...done, status: 'SUCCESS', reason: `${listed.policyName} could not be deleted from ${done.failed.join(', ')}`.slice(0, MAX_REASON) };
}

/** The policy and the roles the properties list, or why they are refused. */
function listedOf(props: CleanupProperties | undefined, ownPolicyName: string): Listed | string {
  const { PolicyName: policyName, RoleNames: roleNames } = props ?? {};
  // Only this TVM's own policy: a same-named TVM of another region shares the role path this enforcer may write under.
  if (typeof policyName !== 'string' || policyName !== ownPolicyName) return 'PolicyName is not this TVM\'s revoked-sessions policy';
  const candidates: unknown[] = Array.isArray(roleNames) ? roleNames : [];
  return {
    policyName,
    roles: [...new Set(candidates.filter(isRoleName))].sort(),
    invalid: candidates.filter((r) => !isRoleName(r)).map((r) => String(r).slice(0, 80)),
  };
}

const isRoleName = (r: unknown): r is string => typeof r === 'string' && ROLE_NAME.test(r);

/** The names of the configuration's roles (profiles' and chained): the cleanup lists names, the configuration ARNs. */
export function configuredRoleNames(config: EnforcerConfig): Set<string> {
  const arns = [...config.profiles.values()].flatMap((p) => [p.roleArn, ...(p.chainRoleArns ?? [])]);
  // A role's name is the last segment of its ARN, after any IAM path.
  return new Set(arns.map((arn) => arn.split('/').pop()!).filter(isRoleName));
}

/** The answer CloudFormation expects at the presigned ResponseURL (at most 4,096 bytes: the reason is cut short). */
export function cleanupResponseBody(event: CleanupEvent, result: CleanupResult): string {
  return JSON.stringify({
    Status: result.status,
    Reason: result.reason,
    PhysicalResourceId: result.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: {},
  });
}

/**
 * The cleanup half of the enforcer's handler: handles the request, then answers it. Rejects only when the answer could
 * not be sent, so that Lambda retries the (idempotent) request.
 */
export function createCleanupHandler(
  deps: CleanupDeps & { readonly send?: (url: string, body: string) => Promise<void> },
): (event: CleanupEvent, context?: { getRemainingTimeInMillis?(): number }) => Promise<CleanupResult> {
  return async (event, context) => {
    const result = await handleCleanup(deps, event, leaseWaitMs(context));
    await (deps.send ?? sendResponse)(event.ResponseURL, cleanupResponseBody(event, result));
    return result;
  };
}
