#!/usr/bin/env bash
# Run every test: unit, end-to-end (real sockets, the real binary) and the benches in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --all-targets "$@"
