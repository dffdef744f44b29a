#!/usr/bin/env bash
# Install what `make bench` needs from Debian packages when it is missing: nginx (the target),
# wrk and hey (the reference load generators), taskset (util-linux, CPU pinning), a C compiler
# (gcc, libc6-dev: row h's C floor client, bench/floors.py).
# Idempotent: installs nothing when everything is already there.
set -euo pipefail

missing=()
command -v nginx   >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk     >/dev/null 2>&1 || missing+=(wrk)
command -v hey     >/dev/null 2>&1 || missing+=(hey)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
{ command -v cc >/dev/null 2>&1 && [ -e /usr/include/stdio.h ]; } || missing+=(gcc libc6-dev)

if [ ${#missing[@]} -eq 0 ]; then
    echo "bench tools present: nginx wrk hey taskset cc"
    exit 0
fi

echo "installing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "need root (or sudo) to apt-get install ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
