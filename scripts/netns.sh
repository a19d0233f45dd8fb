#!/usr/bin/env bash
# netns.sh CMD... — run CMD in a private network namespace whose loopback carries
# multicast (224.0.0.0/4 routed to lo, MULTICAST flag set), so that discovery by
# multicast works without touching the host's network. Needs root (unshare --net).
# IPv6 discovery needs a link with IPv6 multicast (loopback has no link-local
# address): a veth pair veth0 <-> veth1 with fe80::1 / fe80::2, fd00:db8::1 / ::2 and
# 10.47.0.1 / .2, DAD off so the addresses are usable at once (tests/integration/
# discovery_test.c). OBT_VETH tells the tests what happened: "up", or "refused by
# the kernel: ..." (they skip with that reason; they fail if the pair is missing
# after "up"). A second device network for the two-gateway test (tests/integration/
# gateways_test.c): veth2 <-> veth3 with fe80::3 / fe80::4, fd00:db9::1 / ::2 and
# 10.48.0.1 / .2; OBT_VETH2 says what happened, as OBT_VETH.
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
    sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 2>/dev/null || true
    # veth_pair A B N V6 V4: veth A <-> veth B, fe80::N+1 / ::N+2, V6::1 / ::2, V4.1 / .2
    veth_pair() {
        ip link add "veth$1" type veth peer name "veth$2" || return 1
        for i in 0 1; do
            local dev="veth$(($1 + i))"
            ip link set "$dev" multicast on && ip link set "$dev" up &&
                ip -6 addr add "fe80::$(($3 + i + 1))/64" dev "$dev" nodad &&
                ip -6 addr add "$4::$((i + 1))/64" dev "$dev" nodad &&
                ip addr add "$5.$((i + 1))/24" dev "$dev" || return 1
        done
    }
    # veth_try VAR WHAT A B N V6 V4: VAR=up, or why the kernel refused (WHAT then skips)
    veth_try() {
        local var=$1 what=$2
        shift 2
        if why=$(veth_pair "$@" 2>&1); then
            export "$var=up"
        else
            ip link del "veth$1" 2>/dev/null || true
            export "$var=refused by the kernel: $(printf %s "$why" | tr "\n" " ")"
            echo "netns.sh: no veth pair veth$1 <-> veth$2 (${!var}): $what will skip" >&2
        fi
    }
    veth_try OBT_VETH "IPv6 discovery tests" 0 1 0 fd00:db8 10.47.0
    veth_try OBT_VETH2 "the two-gateway test" 2 3 2 fd00:db9 10.48.0
    exec "$@"' netns "$@"
