#!/usr/bin/env bash
# A docker CLI as Docker Engine 29 with the containerd image store answers it, for the
# tests (test/engine-fixture.ts): `image inspect` and `save [--platform P]` from the files
# beside it, which containerd's own exporter wrote; each call logged.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
key() { printf '%s' "$1" | sha256sum | cut -c1-64; }
printf '%s\n' "$*" >>"$here/calls"
case "${1:-}" in
  version) echo "1.52 29.0.0" ;;
  image)
    [ "${2:-}" = inspect ] || { echo "stand-in docker: image ${2:-} is not answered" >&2; exit 1; }
    name="${*: -1}"
    f="$here/images/$(key "$name").json"
    [ -f "$f" ] || { echo "Error response from daemon: No such image: $name" >&2; exit 1; }
    cat "$f"
    ;;
  save)
    shift
    suffix=""
    if [ "${1:-}" = --platform ]; then suffix="@${2//\//_}"; shift 2; fi
    [ "${1:-}" = -- ] && shift
    f="$here/images/$(key "$1")$suffix.tar"
    [ -f "$f" ] || { echo "Error response from daemon: No such image: $1" >&2; exit 1; }
    cat "$f"
    ;;
  *) echo "stand-in docker: $* is not answered" >&2; exit 1 ;;
esac
