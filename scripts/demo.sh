#!/usr/bin/env bash
# demo.sh [--count N] [--keep] — start the suite and N simulated devices on loopback
# (in a private network namespace with multicast), discover, approve and onboard them
# all, print the device table, and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COUNT=20
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --count)
        if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]{0,3}$ ]]; then
            echo "demo.sh: --count needs a number of devices (1..5000)" >&2
            exit 2
        fi
        COUNT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) echo "usage: scripts/demo.sh [--count N] [--keep]"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

if [ "${OBT_IN_NETNS:-}" != 1 ]; then
    [ -x build/bin/obt-dots ] || scripts/setup.sh
    exec scripts/netns.sh "$0" --count "$COUNT" $([ "$KEEP" = 1 ] && echo --keep)
fi

BIN=$ROOT/build/bin
T=$(mktemp -d /tmp/obt-demo.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ]; then echo "demo.sh: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

wait_ready() { # name logfile
    for _ in $(seq 1 300); do
        grep -q " READY " "$2" 2>/dev/null && return 0
        if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "demo.sh: $1 did not become ready; its log:" >&2
    cat "$2" >&2
    exit 1
}

start() { # name logfile command...
    local name=$1 log=$2
    shift 2
    "$@" 2>"$log" >&2 &
    PIDS+=($!)
    wait_ready "$name" "$log"
    echo "demo.sh: $name ready"
}

K=(--keys-dir "$T/keys")
EP_GW=ipc://$T/gw.sock EP_DOTS=ipc://$T/dots.sock EP_CMS=ipc://$T/cms.sock EP_AMS=ipc://$T/ams.sock
CTL=("$BIN/obtctl" "${K[@]}" --gateway "$EP_GW" --dots "$EP_DOTS" --cms "$EP_CMS" --ams "$EP_AMS")

"${CTL[@]}" keys --dir "$T/keys" >/dev/null
start gateway "$T/gateway.log" "$BIN/obt-gateway" "${K[@]}" --endpoint "$EP_GW"
start cms "$T/cms.log" "$BIN/obt-cms" "${K[@]}" --endpoint "$EP_CMS" --gateway "$EP_GW" --store-dir "$T/cms-store"
start ams "$T/ams.log" "$BIN/obt-ams" "${K[@]}" --endpoint "$EP_AMS" --gateway "$EP_GW" --store-dir "$T/ams-store"
start dots "$T/dots.log" "$BIN/obt-dots" "${K[@]}" --endpoint "$EP_DOTS" --gateway "$EP_GW" \
    --cms "$EP_CMS" --ams "$EP_AMS" --store-dir "$T/dots-store"
# The first devices support certificates (sct 1|8): device 0 and 1 with /oic/sec/csr,
# device 2 without (CMS makes its key pair); the others PSK only (docs/cms.md).
CERTS="0"; N_CERTS=1
[ "$COUNT" -ge 2 ] && CERTS="0,1" && N_CERTS=2
[ "$COUNT" -ge 3 ] && CERTS="0,1,2:nocsr" && N_CERTS=3
start ocf-devsim "$T/devsim.log" "$BIN/ocf-devsim" --count "$COUNT" --dir "$T/devices" \
    --certs "$CERTS"

echo; echo "\$ obtctl health"; "${CTL[@]}" health
echo; echo "\$ obtctl discover"; "${CTL[@]}" discover --window-ms 1000
"${CTL[@]}" --json devices >"$T/discovered.json"
echo; echo "\$ obtctl approve --all"; "${CTL[@]}" approve --all
echo; echo "\$ obtctl onboard --all"
rc=0
"${CTL[@]}" onboard --all --wait-s 120 || rc=$?
echo; echo "\$ obtctl devices"; "${CTL[@]}" devices
n=$("${CTL[@]}" --json devices | grep -c '"state":"RFNOP"' || true)
echo
if [ "$rc" -ne 0 ] || [ "$n" -ne "$COUNT" ]; then
    echo "demo.sh: only $n of $COUNT devices reached RFNOP" >&2
    exit 1
fi
echo "\$ obtctl ca show"; "${CTL[@]}" ca show
echo; echo "\$ obtctl certs   # identity certificates, each proved by a certificate session"
"${CTL[@]}" certs
nc=$("${CTL[@]}" --json certs | grep -o '"usage":"identity","status":"active"' | wc -l)
if [ "$nc" -ne "$N_CERTS" ]; then
    echo "demo.sh: $nc identity certificates active, $N_CERTS devices support certificates" >&2
    exit 1
fi
echo
echo "\$ obt_demo_check   # each device's own SVRs (ocf-devsim --dump) against the suite's records"
if ! "$BIN/obt_demo_check" "$T" "$T/discovered.json"; then
    echo "demo.sh: some devices are not onboarded as they should be (see above)" >&2
    exit 1
fi

# One allow/deny round through AMS, enforced by the device (docs/ams.md): plain CoAP
# reads /light only while an anon-clear ACE allows it.
DUMP=$("$BIN/ocf-devsim" --dir "$T/devices" --dump)
B=$(printf '%s' "$DUMP" | grep -o '"deviceuuid":"[^"]*"' | head -1 | cut -d'"' -f4)
EP=$(printf '%s' "$DUMP" | grep -o '"coap://[^"]*"' | head -1 | tr -d '"')
echo; echo "\$ obt_coap GET $EP/light          # no ACE allows it yet"
before=$("$BIN/obt_coap" GET "$EP/light" || true); echo "$before"
echo; echo "\$ obtctl acl add $B --subject conn:anon-clear --res /light --perm R"
"${CTL[@]}" acl add "$B" --subject conn:anon-clear --res /light --perm R | tee "$T/acl.txt"
ACEID=$(grep '/light  # operator' "$T/acl.txt" | awk '{print $1}')
echo; echo "\$ obt_coap GET $EP/light"
allowed=$("$BIN/obt_coap" GET "$EP/light" || true); echo "$allowed"
echo; echo "\$ obtctl acl rm $B $ACEID"
"${CTL[@]}" acl rm "$B" "$ACEID" >/dev/null
echo; echo "\$ obt_coap GET $EP/light"
after=$("$BIN/obt_coap" GET "$EP/light" || true); echo "$after"
if [ "${before%% *}" != "4.01" ] || [ "${allowed%% *}" != "2.05" ] || [ "${after%% *}" != "4.01" ]; then
    echo "demo.sh: the allow/deny round did not hold (4.01, 2.05, 4.01 expected)" >&2
    exit 1
fi
# One pairwise PSK through CMS (docs/cms.md "Pairwise PSK"): device A opens a DTLS PSK
# session to device B with the key CMS put on both, and reads B's /light once AMS
# allows it.
PAIRED=""
if [ "$COUNT" -ge 2 ]; then
    A=$(printf '%s' "$DUMP" | grep -o '"deviceuuid":"[^"]*"' | sed -n 2p | cut -d'"' -f4)
    EPS=$(printf '%s' "$DUMP" | grep -o '"coaps://[^"]*"' | head -1 | tr -d '"')
    echo; echo "\$ obtctl pair $A $B"
    "${CTL[@]}" pair "$A" "$B"
    echo; echo "\$ obtctl links $B"
    "${CTL[@]}" links "$B"
    "${CTL[@]}" allow "$A" "$B" --res /light --perm R >/dev/null
    # the key A holds for B (credtype 1, subject B), as ocf-devsim --dump shows it
    KEY=$("$BIN/ocf-devsim" --dir "$T/devices" --dump | tr '{' '\n' |
        grep "\"credtype\":1,\"subjectuuid\":\"$B\"" | grep -o '"privatedata_hex":"[0-9a-f]*"' |
        head -1 | cut -d'"' -f4)
    echo; echo "\$ obt_coap --id $A --key <the pairwise key> GET $EPS/light   # A as client of B"
    paired=$("$BIN/obt_coap" --id "$A" --key "$KEY" GET "$EPS/light" || true); echo "$paired"
    if [ "${paired%% *}" != "2.05" ]; then
        echo "demo.sh: device A could not read B's /light over the pairwise PSK" >&2
        exit 1
    fi
    PAIRED="; A and B paired"
fi
echo
echo "demo.sh: all $COUNT devices onboarded to RFNOP and checked; allow/deny enforced$PAIRED"
