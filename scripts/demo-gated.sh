#!/usr/bin/env bash
# Walks a grant through a running `sentinel-tvm local` with a gated profile (examples/local/gated.json), with the real
# client: scripts/demo-gated.sh http://127.0.0.1:PORT/ AWS-URL (the URLs local mode prints)
# alice's credential_process is told to request access; she requests; her next call fails fast while it waits; bob (an
# IAM user) and carol (an Identity Center user) approve; her next call activates the grant (SourceIdentity marked `a`);
# the credentials call AWS; bob withdraws the grant; the SAME credentials are refused. Then dana breaks glass (marked
# `b`), is refused a second time until erin reviews the first.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$1
aws_url=$2
cli=(node assets/cli/sentinel-tvm/index.js)
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

step() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
show() { printf '  $ %s\n' "$*"; }
as() {  # as alice|bob|carol|dana|erin COMMAND...: that principal's made-up keys, a cache of their own
  local who=$1; shift
  local key
  key=$(echo "$who" | tr '[:lower:]' '[:upper:]')
  SENTINEL_TVM_CACHE_DIR="$SENTINEL_TVM_CACHE_DIR/$who" \
    AWS_ACCESS_KEY_ID="AKIDLOCAL$key" AWS_SECRET_ACCESS_KEY="local-$who-secret-not-a-real-key" "${cli[@]}" "$@"
}
# expect_refusal CODE COMMAND...: runs it, shows its stderr, and fails the demo unless it exits 1 with CODE.
expect_refusal() {
  local code=$1; shift
  set +e
  "$@" 2>"$SENTINEL_TVM_CACHE_DIR/refused.txt" >/dev/null
  local status=$?
  set -e
  sed 's/^/  /' "$SENTINEL_TVM_CACHE_DIR/refused.txt"
  echo "  exit code $status"
  if [ "$status" -ne 1 ] || ! grep -q "$code" "$SENTINEL_TVM_CACHE_DIR/refused.txt"; then
    echo "demo: expected $code with exit code 1" >&2
    exit 1
  fi
}
creds_env() { node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`AWS_ACCESS_KEY_ID=${c.AccessKeyId} AWS_SECRET_ACCESS_KEY=${c.SecretAccessKey} AWS_SESSION_TOKEN=${c.SessionToken}`)' "$1"; }
s3_as() { env $(creds_env "$1") node scripts/local-call.js "$aws_url"; }
json_field() { node -e 'let v = JSON.parse(require("fs").readFileSync(0, "utf8")); for (const k of process.argv.slice(1)) v = v?.[k]; console.log(v)' "$@"; }
mkdir -p "$SENTINEL_TVM_CACHE_DIR"

step "G1. alice asks for prod-admin credentials: the profile needs an approved grant, and says how to get one"
show "sentinel-tvm credentials --url $url --profile prod-admin"
expect_refusal APPROVAL_REQUIRED as alice credentials --url "$url" --profile prod-admin

step "G2. alice requests access, with a reason"
show "sentinel-tvm request --url $url --profile prod-admin --duration 1h --reason 'INC-4711: rotate the orders database password'"
as alice request --url "$url" --profile prod-admin --duration 1h --reason 'INC-4711: rotate the orders database password' --json \
  >"$SENTINEL_TVM_CACHE_DIR/request.json"
id=$(json_field Request id <"$SENTINEL_TVM_CACHE_DIR/request.json")
echo "  request $id: $(json_field Request status <"$SENTINEL_TVM_CACHE_DIR/request.json"), $(json_field Request approvals_required <"$SENTINEL_TVM_CACHE_DIR/request.json") approvals needed"

step "G3. while it waits, alice's credential_process fails at once (it never hangs, never prompts)"
show "sentinel-tvm credentials --url $url --profile prod-admin"
expect_refusal APPROVAL_PENDING as alice credentials --url "$url" --profile prod-admin

step "G4. bob (an IAM user) and carol (an Identity Center user, proven through GetRole) approve"
show "sentinel-tvm requests list --approvable --url $url   (as bob)"
as bob requests list --approvable --url "$url" | sed 's/^/  /'
show "sentinel-tvm approve $id --yes --comment 'ok, INC-4711' --url $url   (as bob, then as carol)"
as bob approve "$id" --yes --comment 'ok, INC-4711' --url "$url" --json | json_field Request status | sed 's/^/  after bob: /'
as carol approve "$id" --yes --url "$url" --json | json_field Request status | sed 's/^/  after carol: /'

step "G5. alice's next call activates the grant; its credentials call AWS, marked as approved access in CloudTrail"
show "sentinel-tvm credentials --url $url --profile prod-admin"
as alice credentials --url "$url" --profile prod-admin >"$SENTINEL_TVM_CACHE_DIR/granted.json"
echo "  credentials expire at $(json_field Expiration <"$SENTINEL_TVM_CACHE_DIR/granted.json"): never after the grant's window"
as alice sessions get "$id" --url "$url" --json | node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")).Session;
  console.log(`  status ${s.status}, source_identity ${s.source_identity}, window until ${s.expires_at}`)'
s3_as "$SENTINEL_TVM_CACHE_DIR/granted.json" | sed 's/^/  S3 ListBuckets: /'

step "G6. bob withdraws the grant early; the SAME credentials are refused (the enforcer's deny), and so is the next vend"
show "sentinel-tvm withdraw $id --reason 'incident closed' --url $url"
as bob withdraw "$id" --reason 'incident closed' --url "$url" --json | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")).Request;
  console.log(`  status ${r.status}, revoked_kind ${r.revoked_kind}`)'
refused=""
for _ in $(seq 1 50); do
  if ! s3_as "$SENTINEL_TVM_CACHE_DIR/granted.json" >"$SENTINEL_TVM_CACHE_DIR/after.txt" 2>&1; then refused=yes; break; fi
  sleep 0.1
done
sed 's/^/  S3 ListBuckets with the credentials issued before: /' "$SENTINEL_TVM_CACHE_DIR/after.txt"
[ -n "$refused" ] || { echo "demo: the withdrawn grant's credentials were not refused" >&2; exit 1; }
show "sentinel-tvm credentials --url $url --profile prod-admin --no-cache"
expect_refusal SESSION_REVOKED as alice credentials --url "$url" --profile prod-admin --no-cache

step "G7. dana (on call) breaks glass: no approver, a mandatory reason, marked b in CloudTrail, and a review due"
show "sentinel-tvm breakglass --url $url --profile prod-admin --reason 'orders database down, no approver answers' --yes"
as dana breakglass --url "$url" --profile prod-admin --reason 'orders database down, no approver answers' --yes --json \
  >"$SENTINEL_TVM_CACHE_DIR/bg.json"
bg=$(json_field Request id <"$SENTINEL_TVM_CACHE_DIR/bg.json")
as dana credentials --url "$url" --profile prod-admin >/dev/null
as dana sessions get "$bg" --url "$url" --json | node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")).Session;
  console.log(`  session ${s.id}: ${s.status}, source_identity ${s.source_identity}`)'
show "sentinel-tvm breakglass ... again"
expect_refusal BREAK_GLASS_REVIEW_PENDING as dana breakglass --url "$url" --profile prod-admin \
  --reason 'orders database down again, still nobody' --yes

step "G8. erin (security) reviews it; dana cannot review her own"
show "sentinel-tvm review $bg --outcome accepted --note 'justified: outage INC-4712' --url $url   (as dana, then as erin)"
expect_refusal APPROVER_NOT_ELIGIBLE as dana review "$bg" --outcome accepted --note 'mine is fine' --url "$url"
as erin review "$bg" --outcome accepted --note 'justified: outage INC-4712' --url "$url" --json \
  | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")).Request; console.log(`  review ${r.review_outcome} by ${r.reviewed_by}`)'
