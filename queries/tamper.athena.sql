-- Changes to what enforces revocation, newest first: every PutRolePolicy and DeleteRolePolicy of a TVM's
-- revoked-sessions deny (SentinelRevokedSessions-<tvmName>-<region>), and every UpdateAssumeRolePolicy, by anyone,
-- refused ones included, with the actor. See README.md in this folder.
-- {{table}}: the CloudTrail table. {{startTime}}, {{endTime}}: ISO 8601 instants, e.g. 2026-11-30T00:00:00Z.
WITH events AS (
  SELECT
    from_iso8601_timestamp(eventtime) AS event_time,
    recipientaccountid AS account,
    eventname AS event_name,
    errorcode AS error_code,
    json_extract_scalar(requestparameters, '$.roleName') AS role_name,
    json_extract_scalar(requestparameters, '$.policyName') AS policy_name,
    useridentity.type AS actor_type,
    useridentity.arn AS actor,
    useridentity.sessioncontext.sessionissuer.arn AS actor_role,
    useridentity.invokedby AS invoked_by,
    useridentity.sessioncontext.sourceidentity AS actor_source_identity,
    sourceipaddress AS source_ip,
    useragent AS user_agent,
    eventid AS event_id
  FROM {{table}}
  -- The day partition (yyyy/MM/dd), one day wider on each side: a log file can land in the next day's folder.
  WHERE "timestamp" BETWEEN date_format(from_iso8601_timestamp('{{startTime}}') - INTERVAL '1' DAY, '%Y/%m/%d')
      AND date_format(from_iso8601_timestamp('{{endTime}}') + INTERVAL '1' DAY, '%Y/%m/%d')
    AND from_iso8601_timestamp(eventtime) BETWEEN from_iso8601_timestamp('{{startTime}}') AND from_iso8601_timestamp('{{endTime}}')
    AND eventsource = 'iam.amazonaws.com'
    AND eventname IN ('PutRolePolicy', 'DeleteRolePolicy', 'UpdateAssumeRolePolicy')
)
SELECT
  event_time, account, event_name, error_code, role_name, policy_name,
  regexp_extract(actor_role,
    -- runtime-match: the TVM's own roles (enforcer, spoke enforcement roles) are the deny's expected writers
    ':role/sentinel-tvm-runtime/([A-Za-z0-9_-]+/[^/]+)$', 1) AS tvm_runtime_role,
  invoked_by, actor_type, actor, actor_role, actor_source_identity, source_ip, user_agent, event_id
FROM events
WHERE event_name = 'UpdateAssumeRolePolicy'
  OR regexp_like(coalesce(policy_name, ''),
    -- tamper-match: the deny's name, whatever its case
    '(?i)^SentinelRevokedSessions-')
ORDER BY event_time DESC
