#!/usr/bin/env bash
# Run every test: unit, end-to-end (real sockets, the real binary, the official OpenAI and
# Anthropic Python SDKs) and the benches in test mode. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh python3 redis-server promtool
if ! python3 -c 'import openai, anthropic' 2>/dev/null; then
  echo "installing the OpenAI and Anthropic Python SDKs from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore openai anthropic \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages openai anthropic
fi
cargo test --all-targets "$@"
