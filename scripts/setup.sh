# Sourced by scripts/demo and scripts/test: installs what the project needs on a fresh machine.
# Node.js 20 or 22 with npm must be there; Java 17 (for DynamoDB Local) is installed if missing.
set -euo pipefail

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci when the install is missing or older than the lock file (always in CI).
if [ -n "${CI:-}" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Java 17 for DynamoDB Local"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
  else
    echo "setup: Java 17 is required for DynamoDB Local (e.g. apt-get install openjdk-17-jdk-headless)" >&2
    exit 1
  fi
fi
