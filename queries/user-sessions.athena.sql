-- The sessions of one user, one row per session id (overlapping sessions stay apart): first and last event, number
-- of events and of accounts, most recent first. See README.md in this folder.
-- {{table}}: the CloudTrail table. {{user}}: the <user> part of the SourceIdentity, exactly (compared as a whole).
-- {{startTime}}, {{endTime}}: ISO 8601 instants, e.g. 2026-11-30T00:00:00Z.
WITH events AS (
  SELECT
    from_iso8601_timestamp(eventtime) AS event_time,
    recipientaccountid AS account,
    useridentity.sessioncontext.sessionissuer.arn AS actor_role,
    useridentity.sessioncontext.sourceidentity AS caller_source_identity,
    coalesce(useridentity.sessioncontext.sourceidentity,
      json_extract_scalar(requestparameters, '$.sourceIdentity')) AS source_identity
  FROM {{table}}
  -- The day partition (yyyy/MM/dd), one day wider on each side: a log file can land in the next day's folder.
  WHERE "timestamp" BETWEEN date_format(from_iso8601_timestamp('{{startTime}}') - INTERVAL '1' DAY, '%Y/%m/%d')
      AND date_format(from_iso8601_timestamp('{{endTime}}') + INTERVAL '1' DAY, '%Y/%m/%d')
    AND from_iso8601_timestamp(eventtime) BETWEEN from_iso8601_timestamp('{{startTime}}') AND from_iso8601_timestamp('{{endTime}}')
),
parsed AS (
  SELECT event_time, account, caller_source_identity,
    regexp_extract(source_identity,
      -- session-match: the SourceIdentity sentinel.<sessionId>.<kind>.<user> (a chained hop keeps it)
      '^sentinel\.([0-9a-f]{16})\.([sab])\.([A-Za-z0-9_+=,.@-]+)$', 1) AS session_id,
    regexp_extract(source_identity,
      -- session-match
      '^sentinel\.([0-9a-f]{16})\.([sab])\.([A-Za-z0-9_+=,.@-]+)$', 2) AS session_kind,
    regexp_extract(source_identity,
      -- session-match
      '^sentinel\.([0-9a-f]{16})\.([sab])\.([A-Za-z0-9_+=,.@-]+)$', 3) AS session_user,
    regexp_like(coalesce(actor_role, ''),
      -- vend-match: a value in an AssumeRole request counts only when the TVM's vending role made it
      ':role/sentinel-tvm-runtime/[A-Za-z0-9_-]+/([A-Za-z0-9_-]+-vend-[a-z0-9-]+)$') AS by_tvm
  FROM events
)
SELECT
  session_id, session_kind,
  min(event_time) AS first_event, max(event_time) AS last_event,
  count(*) AS event_count, count(DISTINCT account) AS accounts
FROM parsed
WHERE session_user = '{{user}}' AND (caller_source_identity IS NOT NULL OR by_tvm)
GROUP BY session_id, session_kind
ORDER BY last_event DESC
