#!/usr/bin/env bash
# Install, through apt, what this project needs and the machine lacks. Arguments name extra
# commands a caller needs (nginx, wrk, redis-server). Safe to run again: it installs nothing
# that is already there.
set -euo pipefail

declare -A PACKAGE=([cmake]=cmake [cc]=gcc [c++]=g++ [make]=make [pkg-config]=pkg-config [nginx]=nginx-light [wrk]=wrk [redis-server]=redis-server [promtool]=prometheus [python3]=python3 [curl]=curl)
missing=()
for cmd in cmake cc c++ make "$@"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGE[$cmd]:-$cmd}")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
