#!/usr/bin/env bash
# Run the gateway, building it first. With no arguments: on conf/tollgate.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
if [ $# -eq 0 ]; then set -- -c conf/tollgate.yaml; fi
exec target/release/tollgate "$@"
