#!/bin/bash
# Docker HEALTHCHECK for Tollgate: GET a path on the admin listener, healthy on HTTP 200.
#   tollgate-healthcheck [PORT] [PATH]      defaults: 8081 /healthz
# debian:bookworm-slim has neither curl nor wget; bash's /dev/tcp and its `read` builtin do
# the request with nothing installed. Exit 0: healthy; 1: refused, no answer in 2 s, or not
# 200 (what happened is printed, and `docker inspect` shows it).
set -u
port="${1:-8081}"
path="${2:-/healthz}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3 || exit 1
# Status line: HTTP/1.1 200 OK
if ! read -r -t 2 _ status _ <&3; then
  echo "GET $path: no answer on port $port"
  exit 1
fi
[ "$status" = 200 ] || { echo "GET $path: HTTP $status"; exit 1; }
