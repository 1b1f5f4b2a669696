#!/usr/bin/env bash
# Schema-driven API testing: runs schemathesis (PyPI) against a scratch hvd through a loopback
# bridge and fails on any 5xx or any response that does not match openapi/hvd.yaml.
# scripts/test-api-schema is the test-command version (pinned, seeded, seeded VMs).
# Usage: bench/api/schemathesis.sh [max-examples]   (needs: swift build; pip install schemathesis)
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=${1:-50}
scratch=$(mktemp -d /tmp/hvst-XXXXXX)
.build/debug/hvd --state-dir "$scratch/state" --runtime-dir "$scratch/run" --log-level warning &
hvd_pid=$!
python3 bench/api/tcp-bridge.py 18475 "$scratch/run/hvd.sock" &
bridge_pid=$!
trap 'kill $bridge_pid $hvd_pid 2>/dev/null; rm -rf "$scratch" .schemathesis' EXIT
for _ in $(seq 50); do [ -S "$scratch/run/hvd.sock" ] && break; sleep 0.1; done
sleep 0.5
schemathesis run openapi/hvd.yaml --url http://127.0.0.1:18475 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" --exclude-path-regex '/console$' --exclude-path-regex 'events' --request-timeout 20
