-- Every CloudTrail event of one TVM session, newest first: the TVM's AssumeRole calls that vended its credentials, the
-- calls made with them, and chained hops into other roles and accounts. See README.md in this folder.
-- {{table}}: the CloudTrail table. {{sessionId}}: the session's id, 16 characters of 0-9a-f.
-- {{startTime}}, {{endTime}}: ISO 8601 instants, e.g. 2026-11-30T00:00:00Z.
WITH events AS (
  SELECT
    from_iso8601_timestamp(eventtime) AS event_time,
    recipientaccountid AS account,
    awsregion AS region,
    eventsource AS event_source,
    eventname AS event_name,
    errorcode AS error_code,
    useridentity.arn AS actor,
    useridentity.sessioncontext.sessionissuer.arn AS actor_role,
    useridentity.sessioncontext.sourceidentity AS caller_source_identity,
    coalesce(useridentity.sessioncontext.sourceidentity,
      json_extract_scalar(requestparameters, '$.sourceIdentity')) AS source_identity,
    json_extract_scalar(requestparameters, '$.roleArn') AS assumed_role,
    json_extract_scalar(requestparameters, '$.roleSessionName') AS role_session_name,
    sourceipaddress AS source_ip,
    useragent AS user_agent,
    eventid AS event_id
  FROM {{table}}
  -- The day partition (yyyy/MM/dd), one day wider on each side: a log file can land in the next day's folder.
  WHERE "timestamp" BETWEEN date_format(from_iso8601_timestamp('{{startTime}}') - INTERVAL '1' DAY, '%Y/%m/%d')
      AND date_format(from_iso8601_timestamp('{{endTime}}') + INTERVAL '1' DAY, '%Y/%m/%d')
    AND from_iso8601_timestamp(eventtime) BETWEEN from_iso8601_timestamp('{{startTime}}') AND from_iso8601_timestamp('{{endTime}}')
),
parsed AS (
  SELECT *,
    regexp_extract(source_identity,
      -- session-match: the SourceIdentity sentinel.<sessionId>.<kind>.<user> (a chained hop keeps it)
      '^sentinel\.([0-9a-f]{16})\.([sab])\.([A-Za-z0-9_+=,.@-]+)$', 1) AS session_id,
    regexp_like(coalesce(actor_role, ''),
      -- vend-match: a value in an AssumeRole request counts only when the TVM's vending role made it
      ':role/sentinel-tvm-runtime/[A-Za-z0-9_-]+/([A-Za-z0-9_-]+-vend-[a-z0-9-]+)$') AS by_tvm,
    regexp_extract(actor,
      -- legacy-match: sessions vended before the SourceIdentity carried the id, by the RoleSessionName of their calls
      ':assumed-role/[^/]+/tvm-([0-9a-f]{16})-[A-Za-z0-9_+=,.@-]{2,8}$', 1) AS caller_session_id,
    regexp_extract(role_session_name,
      -- legacy-match: and of the TVM's AssumeRole that vended them
      '^tvm-([0-9a-f]{16})-[A-Za-z0-9_+=,.@-]{2,8}$', 1) AS vend_session_id
  FROM events
)
SELECT
  event_time, account, region, event_source, event_name, error_code,
  CASE WHEN caller_source_identity IS NULL THEN 'vend' ELSE 'session' END AS via,
  actor, assumed_role, source_identity, role_session_name, source_ip, user_agent, event_id
FROM parsed
WHERE (session_id = '{{sessionId}}' AND (caller_source_identity IS NOT NULL OR by_tvm))
  OR (caller_session_id = '{{sessionId}}' AND caller_source_identity LIKE 'sentinel.%')
  OR (vend_session_id = '{{sessionId}}' AND by_tvm)
ORDER BY event_time DESC
