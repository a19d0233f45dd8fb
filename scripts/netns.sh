#!/usr/bin/env bash
# netns.sh CMD... — run CMD in a private network namespace whose loopback carries
# multicast (224.0.0.0/4 routed to lo, MULTICAST flag set), so that discovery by
# multicast works without touching the host's network. Needs root (unshare --net).
set -euo pipefail
if [ "${OBT_IN_NETNS:-}" = 1 ]; then
    exec "$@"
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "netns.sh: needs root to create a network namespace (unshare --net);" >&2
    echo "          without it loopback has no multicast and discovery cannot work." >&2
    exit 77
fi
if ! command -v unshare >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then
    echo "netns.sh: needs unshare (util-linux) and ip (iproute2): run scripts/setup.sh" >&2
    exit 77
fi
export OBT_IN_NETNS=1
exec unshare --net -- bash -c '
    set -e
    ip link set lo up
    ip link set lo multicast on
    ip route add 224.0.0.0/4 dev lo
    ip -6 route add ff00::/8 dev lo table local 2>/dev/null || true
    exec "$@"' netns "$@"
