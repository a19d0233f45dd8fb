#!/usr/bin/env bash
# orphans.sh snapshot FILE | check FILE — the processes of this tree's build/bin
# (obt-gateway, obt-dots, obt-cms, obt-ams, ocf-devsim, ...) that a run left behind.
# `snapshot` writes the pids of those running now to FILE; `check` lists those running
# now that are not in FILE (started since) and exits 1 if there is any. Processes of
# other trees (other worktrees, an installed suite) are not looked at.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/build/bin/"

ours() { # the pids whose executable is in $BIN
    for d in /proc/[0-9]*; do
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        case "$exe" in "$BIN"*) echo "${d#/proc/}" ;; esac
    done
}

case "${1:-}" in
snapshot)
    ours >"$2"
    ;;
check)
    left=0
    for pid in $(ours); do
        if ! grep -qx "$pid" "$2"; then
            echo "orphans.sh: left running: pid $pid (ppid $(ps -o ppid= -p "$pid" | tr -d ' ')): $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
            left=1
        fi
    done
    exit "$left"
    ;;
*)
    echo "usage: scripts/orphans.sh snapshot FILE | check FILE" >&2
    exit 2
    ;;
esac
