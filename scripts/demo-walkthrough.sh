#!/usr/bin/env bash
# Walks sessions through a running `sentinel-tvm local` (examples/local/config.json) with the real client:
#   scripts/demo-walkthrough.sh http://127.0.0.1:PORT/ STS-URL AWS-URL   (the URLs local mode prints)
# alice vends prod-readonly credentials, reuses them from the cache, continues her session, lists it; the admin
# revokes it; alice is refused. Then carol, of the spoke account 444455556666, vends spoke-readonly through a caller
# role; alice's and carol's credentials call AWS; the admin revokes both sessions, and the same credentials are refused.
# Last, a downstream service (examples/downstream/serve-local.js, the orders API of examples/downstream-api.ts) admits
# alice's new session with an identity proof, and refuses it once the admin has revoked it.
set -euo pipefail
cd "$(dirname "$0")/.."
usage='usage: scripts/demo-walkthrough.sh URL-of-sentinel-tvm-local STS-URL AWS-URL'
url=${1:?$usage}
sts_url=${2:?$usage}
aws_url=${3:?$usage}
cli=(node assets/cli/sentinel-tvm/index.js)
export SENTINEL_TVM_CACHE_DIR=${SENTINEL_TVM_CACHE_DIR:-$(mktemp -d)}
orders_pid=""
stop_orders() {
  if [ -n "$orders_pid" ] && kill -0 "$orders_pid" 2>/dev/null; then
    kill -TERM "$orders_pid" 2>/dev/null || true
    wait "$orders_pid" 2>/dev/null || true
  fi
  orders_pid=""
}
trap stop_orders EXIT
# Only the made-up keys of the example config sign requests: no AWS profile or instance role of this machine.
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

step() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
show() { printf '  $ %s\n' "$*"; }
as() {  # as alice|admin COMMAND...: run the client with that principal's keys
  local who=$1; shift
  case $who in
    alice) AWS_ACCESS_KEY_ID=AKIDLOCALALICE AWS_SECRET_ACCESS_KEY=local-alice-secret-not-a-real-key "${cli[@]}" "$@" ;;
    # The admin works on another machine: a cache of their own.
    admin) SENTINEL_TVM_CACHE_DIR="$SENTINEL_TVM_CACHE_DIR/admin" \
      AWS_ACCESS_KEY_ID=AKIDLOCALADMIN AWS_SECRET_ACCESS_KEY=local-admin-secret-not-a-real-key "${cli[@]}" "$@" ;;
    # carol works in account 444455556666, on a machine of her own.
    carol) SENTINEL_TVM_CACHE_DIR="$SENTINEL_TVM_CACHE_DIR/carol" \
      AWS_ACCESS_KEY_ID=AKIDLOCALCAROL AWS_SECRET_ACCESS_KEY=local-carol-secret-not-a-real-key "${cli[@]}" "$@" ;;
  esac
}
# creds_env FILE: the credential_process JSON in FILE as AWS_* variables, for `env`.
creds_env() { node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`AWS_ACCESS_KEY_ID=${c.AccessKeyId} AWS_SECRET_ACCESS_KEY=${c.SecretAccessKey} AWS_SESSION_TOKEN=${c.SessionToken}`)' "$1"; }
# s3_as FILE: S3 ListBuckets at local mode's AWS endpoint with the credentials in FILE.
s3_as() { env $(creds_env "$1") node scripts/local-call.js "$aws_url"; }
id_of() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sessionId)' "$1"; }
now_ms() { date +%s%3N; }
# credential_process JSON, with the secret parts hidden.
masked() { node -e '
  const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(`  Version ${c.Version}, AccessKeyId ${c.AccessKeyId}, Expiration ${c.Expiration}`);
  console.log(`  SecretAccessKey (${c.SecretAccessKey.length} chars) and SessionToken (${c.SessionToken.length} chars) not shown`);'; }
session_id() { node -e 'const fs = require("fs"), d = process.argv[1];
  console.log(JSON.parse(fs.readFileSync(`${d}/${fs.readdirSync(d).find((f) => f.endsWith(".json"))}`, "utf8")).sessionId)' "$SENTINEL_TVM_CACHE_DIR"; }
field() { node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")).Session; console.log(process.argv.slice(1).map((k) => `${k}=${s[k]}`).join(" "))' "$@"; }

step "4. alice asks which profiles she may use"
show "sentinel-tvm profiles --url $url"
as alice profiles --url "$url" | sed 's/^/  /'

step "5. alice vends credentials of prod-readonly (credential_process JSON; a new session)"
show "sentinel-tvm credentials --url $url --profile prod-readonly"
as alice credentials --url "$url" --profile prod-readonly | masked
id=$(session_id)
cache_file=$(ls "$SENTINEL_TVM_CACHE_DIR"/session-*.json)
echo "  session id $id and its credentials cached in $cache_file (mode $(stat -c %a "$cache_file"))"

step "6. alice's next call is answered from the cache; --no-cache vends, continuing the same session; exec runs a command"
show "sentinel-tvm credentials --url $url --profile prod-readonly --verbose"
as alice credentials --url "$url" --profile prod-readonly --verbose 2>&1 >/dev/null | sed 's/^/  /'
show "sentinel-tvm credentials --url $url --profile prod-readonly --no-cache --verbose"
as alice credentials --url "$url" --profile prod-readonly --no-cache --verbose 2>&1 >/dev/null | sed 's/^/  /'
show "sentinel-tvm exec --url $url --profile prod-readonly -- sh -c 'echo \$SENTINEL_TVM_SESSION_ID'"
as alice exec --url "$url" --profile prod-readonly -- sh -c 'echo "  a command run with the credentials of session $SENTINEL_TVM_SESSION_ID"'
[ "$(session_id)" = "$id" ] || { echo "demo: the session was not continued" >&2; exit 1; }
as alice sessions get "$id" --url "$url" --json | field id status request_count source_identity | sed 's/^/  /'

step "7. alice lists her sessions"
show "sentinel-tvm sessions list --url $url"
as alice sessions list --url "$url" | sed 's/^/  /'

step "8. the admin (SecurityOps) revokes the session; alice's next vend is refused"
show "sentinel-tvm sessions revoke $id --reason 'laptop reported stolen' --url $url"
as admin sessions revoke "$id" --reason 'laptop reported stolen' --url "$url" --json | field status revoked_by revoked_reason | sed 's/^/  /'
echo "  alice's cache still holds the session's credentials until her next vend (in AWS, IAM denies them meanwhile)"
show "sentinel-tvm credentials --url $url --profile prod-readonly --no-cache"
set +e
as alice credentials --url "$url" --profile prod-readonly --no-cache 2>"$SENTINEL_TVM_CACHE_DIR/refused.txt" >/dev/null
code=$?
set -e
sed 's/^/  /' "$SENTINEL_TVM_CACHE_DIR/refused.txt"
echo "  exit code $code"
if [ "$code" -ne 1 ] || ! grep -q '^sentinel-tvm: SESSION_REVOKED' "$SENTINEL_TVM_CACHE_DIR/refused.txt"; then
  echo "demo: expected SESSION_REVOKED with exit code 1" >&2
  exit 1
fi

step "9. carol, of account 444455556666: refused by the TVM's API (an HTTP API admits no other account); as the caller role she vends spoke-readonly"
show "sentinel-tvm profiles --url $url   # carol's own keys"
set +e
as carol profiles --url "$url" 2>"$SENTINEL_TVM_CACHE_DIR/carol-refused.txt"
code=$?
set -e
sed 's/^/  /' "$SENTINEL_TVM_CACHE_DIR/carol-refused.txt"
[ "$code" -eq 1 ] || { echo "demo: expected carol to be refused directly" >&2; exit 1; }
show "aws sts assume-role --role-arn arn:aws:iam::111122223333:role/PartnerCaller --role-session-name carol --endpoint-url $sts_url"
carol_role=$(AWS_ACCESS_KEY_ID=AKIDLOCALCAROL AWS_SECRET_ACCESS_KEY=local-carol-secret-not-a-real-key \
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node -e '
  const { STSClient, AssumeRoleCommand } = require("@aws-sdk/client-sts");
  new STSClient({ region: "us-east-1", endpoint: process.argv[1] })
    .send(new AssumeRoleCommand({ RoleArn: "arn:aws:iam::111122223333:role/PartnerCaller", RoleSessionName: "carol" }))
    .then((o) => console.log(`AWS_ACCESS_KEY_ID=${o.Credentials.AccessKeyId} AWS_SECRET_ACCESS_KEY=${o.Credentials.SecretAccessKey} `
      + `AWS_SESSION_TOKEN=${o.Credentials.SessionToken}`), (e) => { console.error(e.message); process.exit(1); });' "$sts_url")
echo "  carol is now arn:aws:sts::111122223333:assumed-role/PartnerCaller/carol"
show "sentinel-tvm credentials --url $url --profile spoke-readonly   # as PartnerCaller/carol"
env $carol_role SENTINEL_TVM_CACHE_DIR="$SENTINEL_TVM_CACHE_DIR/carol" "${cli[@]}" credentials --url "$url" --profile spoke-readonly \
  >"$SENTINEL_TVM_CACHE_DIR/carol-creds.txt"
masked <"$SENTINEL_TVM_CACHE_DIR/carol-creds.txt"
carol_id=$(id_of "$(ls "$SENTINEL_TVM_CACHE_DIR"/carol/session-*.json)")

step "10. alice starts a new prod-readonly session; both sessions' credentials call AWS (S3 ListBuckets): allowed, in both accounts"
show "sentinel-tvm credentials --url $url --profile prod-readonly --new-session"
as alice credentials --url "$url" --profile prod-readonly --new-session >"$SENTINEL_TVM_CACHE_DIR/alice-creds.txt"
masked <"$SENTINEL_TVM_CACHE_DIR/alice-creds.txt"
alice_id=$(session_id)
for who in alice carol; do
  show "env AWS_ACCESS_KEY_ID=… node scripts/local-call.js $aws_url   # $who's credentials"
  s3_as "$SENTINEL_TVM_CACHE_DIR/$who-creds.txt" | sed 's/^/  /'
done

step "11. the admin revokes both sessions; the SAME credentials are refused: the enforcer denies them on each role (in the spoke, as its own role)"
for who in alice carol; do
  if [ "$who" = alice ]; then id=$alice_id; else id=$carol_id; fi
  show "sentinel-tvm sessions revoke $id --reason 'credentials leaked' --url $url   # $who's session"
  start=$(now_ms)
  as admin sessions revoke "$id" --reason 'credentials leaked' --url "$url" --json >/dev/null 2>&1
  answered=$(now_ms)
  until ! out=$(s3_as "$SENTINEL_TVM_CACHE_DIR/$who-creds.txt"); do
    [ $(( $(now_ms) - start )) -lt 10000 ] || { echo "demo: $who's credentials are still allowed 10 s after the revoke" >&2; exit 1; }
    sleep 0.05
  done
  refused=$(now_ms)
  echo "  $out"
  echo "  refused $(( refused - start )) ms after the revoke command started ($(( answered - start )) ms of it until the command returned," \
    "then the enforcer's write and calls each starting Node.js)"
done

step "12. A downstream service: the orders API (examples/downstream-api.ts) on this machine, its route behind the bundled session authorizer"
show "node examples/downstream/serve-local.js --tvm-url $url --sts-url $sts_url --cache-seconds 0"
echo "  (active answers are not cached here, so that the revoke below shows at once; SentinelSessionAuthorizer's default is 30 s)"
node examples/downstream/serve-local.js --tvm-url "$url" --sts-url "$sts_url" --cache-seconds 0 \
  >"$SENTINEL_TVM_CACHE_DIR/orders.out" 2>"$SENTINEL_TVM_CACHE_DIR/orders.err" &
orders_pid=$!
orders_url=""
for _ in $(seq 1 100); do
  orders_url=$(sed -n 's/^serve-local: orders API at //p' "$SENTINEL_TVM_CACHE_DIR/orders.out")
  [ -n "$orders_url" ] && break
  kill -0 "$orders_pid" 2>/dev/null || { cat "$SENTINEL_TVM_CACHE_DIR/orders.err" >&2; echo "demo: serve-local.js exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$orders_url" ] || { echo "demo: serve-local.js was not ready within 10 s" >&2; exit 1; }
sed 's/^/  /' "$SENTINEL_TVM_CACHE_DIR/orders.err"
echo "  orders API at $orders_url"
# get_orders FILE: GET /orders with an identity proof for orders.example.com, signed with the credentials in FILE;
# prints the answer, and exits 0 for 200, 3 for 403, 1 otherwise.
get_orders() {
  local proof
  proof=$(env $(creds_env "$1") "${cli[@]}" proof --audience orders.example.com --region us-east-1) || return 1
  node -e 'fetch(process.argv[1], { headers: { "x-sentinel-identity": process.argv[2] } }).then(async (r) => {
    console.log(`  HTTP ${r.status} ${await r.text()}`);
    process.exit(r.status === 200 ? 0 : r.status === 403 ? 3 : 1);
  }, (e) => { console.error(`  ${e.message}`); process.exit(1); })' "${orders_url}orders" "$proof"
}

step "13. alice starts a new session and calls the orders API with an identity proof made from its credentials: admitted"
show "sentinel-tvm credentials --url $url --profile prod-readonly --new-session"
as alice credentials --url "$url" --profile prod-readonly --new-session >"$SENTINEL_TVM_CACHE_DIR/alice-orders-creds.txt"
orders_id=$(session_id)
echo "  session $orders_id"
show "curl -H \"x-sentinel-identity: \$(sentinel-tvm proof --audience orders.example.com)\" ${orders_url}orders   # alice's session credentials"
code=0
get_orders "$SENTINEL_TVM_CACHE_DIR/alice-orders-creds.txt" || code=$?
[ "$code" -eq 0 ] || { echo "demo: expected the orders API to admit alice's session" >&2; exit 1; }

step "14. the admin revokes that session; alice's next call to the orders API is refused (403)"
show "sentinel-tvm sessions revoke $orders_id --reason 'left the team' --url $url"
as admin sessions revoke "$orders_id" --reason 'left the team' --url "$url" --json | field status revoked_reason | sed 's/^/  /'
show "curl -H \"x-sentinel-identity: \$(sentinel-tvm proof --audience orders.example.com)\" ${orders_url}orders   # the same credentials"
code=0
get_orders "$SENTINEL_TVM_CACHE_DIR/alice-orders-creds.txt" || code=$?
[ "$code" -eq 3 ] || { echo "demo: expected the orders API to refuse the revoked session with 403" >&2; exit 1; }
grep -E '^serve-local: GET /orders [0-9]{3}' "$SENTINEL_TVM_CACHE_DIR/orders.err" | sed 's/^/  /'
stop_orders
