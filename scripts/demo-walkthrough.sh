#!/usr/bin/env bash
# Walks one session through a running `sentinel-tvm local` (examples/local/config.json) with the real client:
#   scripts/demo-walkthrough.sh http://127.0.0.1:PORT/
# alice vends prod-readonly credentials, reuses them from the cache, continues her session, lists it; the admin
# revokes it; alice is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: scripts/demo-walkthrough.sh URL-of-sentinel-tvm-local}
cli=(node assets/cli/sentinel-tvm/index.js)
export SENTINEL_TVM_CACHE_DIR=${SENTINEL_TVM_CACHE_DIR:-$(mktemp -d)}
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
  esac
}
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
