#!/usr/bin/env bash
# compose-test.sh — the container deployment for real (docs/deploy.md), as CI runs it:
#  1. a Debian 12 base image made with debootstrap from the Debian mirror (no registry),
#     cached in $OBT_COMPOSE_CACHE (default /var/cache/obt-compose) and imported into
#     podman as debian:12 and debian:12-slim (the latter without docs, manuals, locales);
#  2. our image built from docker/Dockerfile as it is (obt:latest);
#  3. two private network namespaces joined by a veth pair: the suite's side (obtgw0)
#     and the device network's side (obtdev0). Podman's Docker API service runs in the
#     suite's namespace (entered with nsenter --net=: `ip netns exec` remounts /sys and
#     breaks the OCI runtime), and docker-compose brings compose.yaml up against it,
#     with keys made by the image's `obtctl keys --owner 10001`;
#  4. ocf-devsim (from the image) hosts N devices on the device side; obtctl, in a
#     container, discovers, approves and onboards them all to RFNOP;
#  5. checks: each container holds its own secret only, the stores belong to the
#     service user, each service's health check answers alone within its timeout;
#  6. `restart gateway`, then `restart dots` (a known trap), cms, ams: every service
#     healthy again, every record kept (the device table, each device's CMS and AMS
#     records, the devices' own state);
#  7. scales CMS to 3 and AMS to 2 instances (docker-compose --scale, shared stores):
#     a new batch of devices onboards, each instance did some of the hand-overs; kill -9
#     of one instance of each while another batch onboards: every device RFNOP;
#  8. a second DOTS (--scale dots=2) waits as a standby; kill -9 of the active: the
#     standby takes over, a new batch onboards through it, one ownership transfer each;
#  9. OBT_DOTS_PARTS=2, the two DOTS recreated: each is active for a part of the devices
#     (D100); a new batch onboards, both do some, one ownership transfer each;
# 10. with no standby left (D101): kill -9 of dots 1's process, the restart policy brings
#     it back and it takes its part back; `podman kill` of dots 1 (not restarted): dots 2
#     adopts its part; a new batch onboards after each;
# 11. tears everything down, pass or fail (containers, volumes, API service, namespaces,
#     keys). The images and the base tarballs stay (the cache).
# Exit: 0 passed, 1 failed, 77 skipped (the reason is printed: not root, a tool
# missing, no container runtime, podman cannot run a container, the Debian mirror not
# reachable, no network namespaces).
# Settings: OBT_COMPOSE_DEVICES (20), OBT_COMPOSE_CACHE, OBT_DEBIAN_MIRROR (apt's
# bookworm mirror on this machine, else http://deb.debian.org/debian), OBT_COMPOSE_COLD=1 (debootstrap again into a fresh
# cache and build without podman's layer cache: the figure for a new CI machine).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${OBT_COMPOSE_DEVICES:-20}
CACHE=${OBT_COMPOSE_CACHE:-/var/cache/obt-compose}
# The Debian mirror: OBT_DEBIAN_MIRROR, else the one apt uses here (a CI machine may
# reach only its own), else deb.debian.org.
apt_mirror() {
    local m
    m=$(awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ && u !~ /security/ { print u; exit }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null)
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "bookworm" && $2 !~ /security/ { print $2; exit }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=${OBT_DEBIAN_MIRROR:-$(apt_mirror)}
COLD=${OBT_COMPOSE_COLD:-0}
PROJECT=obtci$$
NS_SUITE=obtc-suite-$$
NS_DEV=obtc-dev-$$
SVC_UID=10001
START=$SECONDS

say() { echo "compose-test.sh: [$((SECONDS - START))s] $*" >&2; }
skip() {
    echo "compose-test.sh: SKIPPED: $*" >&2
    exit 77
}
fail() {
    echo "compose-test.sh: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (rootful podman, network namespaces, debootstrap)"
for tool in podman debootstrap docker-compose nsenter ip; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is missing: run scripts/setup.sh"
done
if ! why=$(podman info 2>&1 >/dev/null); then
    skip "podman cannot run containers here: $(printf %s "$why" | tail -n 1)"
fi

T=""
SVC_PID=""
UP=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$SVC_PID" ]; then
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$UP" = 1 ]; then
            echo "compose-test.sh: the services' logs (last 40 lines each):" >&2
            docker-compose -p "$PROJECT" -f compose.yaml logs --no-color --tail 40 >&2 2>&1 || true
            podman logs --tail 40 "${PROJECT}_devsim" >&2 2>&1 || true
        fi
        docker-compose -p "$PROJECT" -f compose.yaml down -v --timeout 5 >/dev/null 2>&1 || true
    fi
    # this run's own containers (devsim, obtctl), by their label: podman 4.3's `rm -f A B`
    # removes nothing at all, and exits 0, when one of the names does not exist
    podman ps -aq --filter "label=obt.compose-test=$PROJECT" | xargs -r podman rm -f -t 2 >/dev/null 2>&1 || true
    # whatever compose left (a failed up): by the project's label
    podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman rm -f >/dev/null 2>&1 || true
    podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
    if [ -n "$SVC_PID" ]; then
        kill "$SVC_PID" 2>/dev/null || true
        wait "$SVC_PID" 2>/dev/null || true
        # and any API service of this run's socket still alive (none expected)
        pkill -f "podman system service --time=0 unix://$SOCK" 2>/dev/null || true
    fi
    ip netns del "$NS_SUITE" 2>/dev/null || true
    ip netns del "$NS_DEV" 2>/dev/null || true
    [ -n "$T" ] && rm -rf "$T"
    echo "compose-test.sh: $([ "$rc" -eq 0 ] && echo passed || echo "exit $rc") in $((SECONDS - START)) s" >&2
    exit "$rc"
}
trap cleanup EXIT
# set -e stops at the first command that fails: say which, never silently
trap 'echo "compose-test.sh: FAILED: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
trap 'exit 1' INT TERM

T=$(mktemp -d /tmp/obt-compose.XXXXXX)
chmod 0755 "$T"
# The OCI runtime: runc (crun 1.8 refuses this kind of host's hybrid cgroups: "cgroups in
# hybrid mode not supported"). Every podman below, the API service too, reads this.
RUNTIME=${OBT_COMPOSE_RUNTIME:-runc}
command -v "$RUNTIME" >/dev/null 2>&1 || skip "the OCI runtime $RUNTIME is missing: run scripts/setup.sh"
# Podman raises a container's open-files and process limits to the maximum; where the
# host may not raise them (a CI sandbox without CAP_SYS_RESOURCE) runc fails ("error
# setting rlimits for ready process ... operation not permitted"): ask for limits the
# host allows (nofile: the host's own, at most 65536; nproc 4096: the daemons need a few).
nofile=$(ulimit -Hn)
{ [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; } && nofile=65536
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[engine]\nruntime = "%s"\n' \
    "$nofile" "$nofile" "$RUNTIME" >"$T/containers.conf"
export CONTAINERS_CONF=$T/containers.conf

# --- 1. base image -----------------------------------------------------------------
base_image() {
    local minbase=$CACHE/debian-12-minbase.tar slim=$CACHE/debian-12-slim.tar
    if [ "$COLD" != 1 ] && [ -s "$minbase" ] && [ -s "$slim" ] &&
        podman image exists docker.io/library/debian:12 &&
        podman image exists docker.io/library/debian:12-slim; then
        say "base image: cached ($CACHE)"
        return
    fi
    mkdir -p "$CACHE"
    if [ "$COLD" = 1 ] || [ ! -s "$minbase" ] || [ ! -s "$slim" ]; then
        local rootfs why
        # a machine that cannot reach the mirror cannot build the image: say so, skip
        if ! why=$(wget -q -T 20 -t 2 -O /dev/null "$MIRROR/dists/bookworm/Release" 2>&1); then
            skip "the Debian mirror $MIRROR is not reachable (OBT_DEBIAN_MIRROR): ${why:-wget failed}"
        fi
        rootfs=$(mktemp -d /var/tmp/obt-debootstrap.XXXXXX)
        say "base image: debootstrap --variant=minbase bookworm from $MIRROR"
        if ! debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
            tail -n 20 "$CACHE/debootstrap.log" >&2
            rm -rf "$rootfs"
            fail "debootstrap failed (log: $CACHE/debootstrap.log)"
        fi
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" --numeric-owner -cf "$minbase.part" . && mv "$minbase.part" "$minbase"
        # -slim as Docker's: no documentation, manuals or locales
        tar -C "$rootfs" --numeric-owner --exclude='./usr/share/doc/*' \
            --exclude='./usr/share/man/*' --exclude='./usr/share/info/*' \
            --exclude='./usr/share/locale/*' -cf "$slim.part" . && mv "$slim.part" "$slim"
        rm -rf "$rootfs"
    fi
    say "base image: podman import"
    podman import --quiet --change 'CMD ["bash"]' "$minbase" docker.io/library/debian:12 >/dev/null
    podman import --quiet --change 'CMD ["bash"]' "$slim" docker.io/library/debian:12-slim >/dev/null
}

base_image
# Can this machine run a container at all? (podman info passes in sandboxes that
# cannot: no overlay mounts, no cgroups.) A stock image and `true`, nothing of ours.
if ! why=$(podman run --rm --network none docker.io/library/debian:12-slim true 2>&1); then
    skip "podman cannot run a container here: $(printf %s "$why" | tail -n 1)"
fi

# --- 2. our image ------------------------------------------------------------------
say "podman build -f docker/Dockerfile -t obt:latest ."
build_flags=(--network host)
[ "$COLD" = 1 ] && build_flags+=(--no-cache)
if ! podman build "${build_flags[@]}" -f docker/Dockerfile -t obt:latest . >"${TMPDIR:-/tmp}/obt-compose-build.log" 2>&1; then
    tail -n 40 "${TMPDIR:-/tmp}/obt-compose-build.log" >&2
    fail "the image did not build (log: ${TMPDIR:-/tmp}/obt-compose-build.log)"
fi
rm -f "${TMPDIR:-/tmp}/obt-compose-build.log"
say "image: $(podman image inspect --format '{{.Size}}' obt:latest | awk '{printf "%.0f MB", $1 / 1e6}')"

# --- 3. namespaces, API service, keys, compose up -------------------------------------
in_suite() { nsenter --net="/run/netns/$NS_SUITE" "$@"; }
in_dev() { nsenter --net="/run/netns/$NS_DEV" "$@"; }
if ! why=$(ip netns add "$NS_SUITE" 2>&1 && ip netns add "$NS_DEV" 2>&1); then
    skip "cannot create network namespaces: $why"
fi
ip link add obtgw0 netns "$NS_SUITE" type veth peer name obtdev0 netns "$NS_DEV"
for side in suite dev; do
    if [ $side = suite ]; then run=in_suite if=obtgw0 addr=10.48.0.1; else run=in_dev if=obtdev0 addr=10.48.0.2; fi
    $run ip link set lo up
    $run ip link set "$if" multicast on
    $run ip addr add "$addr/24" dev "$if"
    $run ip link set "$if" up
    $run ip route add 224.0.0.0/4 dev "$if"
done

SOCK=$T/podman.sock
# nsenter itself (not the in_suite function, whose subshell $! would name) execs podman,
# so SVC_PID is the API service's own pid and cleanup's kill reaches it
nsenter --net="/run/netns/$NS_SUITE" podman system service --time=0 "unix://$SOCK" \
    >"$T/podman-service.log" 2>&1 &
SVC_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "podman system service did not open $SOCK: $(cat "$T/podman-service.log")"
export DOCKER_HOST=unix://$SOCK
export OBT_IFACE=obtgw0 OBT_SCOPE=ipv4 OBT_COMPOSE_KEYS=$T/keys
compose() { docker-compose -p "$PROJECT" -f compose.yaml "$@"; }

say "keys: obtctl keys --owner $SVC_UID, obtctl kek new --owner $SVC_UID (the image's obtctl)"
podman run --rm --network none --user 0 -v "$T:/w" obt:latest sh -c \
    "obtctl keys --dir /w/keys --owner $SVC_UID >/dev/null && obtctl kek new --owner $SVC_UID \
     /w/keys/secret/dots.kek /w/keys/secret/cms.kek /w/keys/secret/ams.kek >/dev/null"

say "docker-compose up -d (podman $(podman version --format '{{.Client.Version}}'), $(docker-compose version --short))"
UP=1
compose up -d --no-build 2>&1 | sed 's/^/  /' >&2

# A service's container: its first instance, or instance $2 (docker-compose --scale).
ctr() { echo "${PROJECT}_$1_${2:-1}"; }
# A container on the host network is in the namespace of whoever starts its process:
# `podman exec` and `healthcheck run` must run in the suite's namespace too.
# Waits until the service's own health check passes; fails after 60 s.
wait_healthy() {
    local svc=$1 until=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$until" ]; do
        in_suite podman healthcheck run "$(ctr "$svc" "${2:-1}")" >/dev/null 2>&1 && return 0
        sleep 1
    done
    fail "$svc ${2:-1} did not become healthy: $(podman logs --tail 20 "$(ctr "$svc" "${2:-1}")" 2>&1)"
}
for svc in gateway cms ams dots; do wait_healthy $svc; done
say "all four healthy"

# --- 5. what each container holds and may do -----------------------------------------
for svc in gateway dots cms ams; do
    held=$(podman exec "$(ctr $svc)" ls /run/secrets/keys/secret | tr '\n' ' ')
    want="$svc.cert_secret "
    [ $svc != gateway ] && want="$svc.cert_secret $svc.kek "
    [ "$held" = "$want" ] || fail "$svc holds the secrets \"$held\", not \"$want\""
    if [ $svc != gateway ]; then
        owner=$(podman exec "$(ctr $svc)" stat -c %u /var/lib/obt/$svc)
        [ "$owner" = "$SVC_UID" ] || fail "$svc's store belongs to uid $owner, not $SVC_UID"
    fi
    t0=$(date +%s%N)
    in_suite podman healthcheck run "$(ctr $svc)" >/dev/null || fail "$svc's health check failed"
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -lt 10000 ] || fail "$svc's health check took $ms ms (timeout 10 s)"
    say "$svc: holds ${held% }; health check ${ms} ms"
done

# --- 4. devices, onboarding ----------------------------------------------------------
say "ocf-devsim: $COUNT devices on the device network (obtdev0)"
in_dev podman run -d --name "${PROJECT}_devsim" --network host --label "obt.compose-test=$PROJECT" obt:latest ocf-devsim \
    --count "$COUNT" --dir /tmp/devices --address 10.48.0.2 --iface obtdev0 --scope ipv4 >/dev/null
# obtctl in a container of its own, started once: each command is a `podman exec` in
# it (about 0.1 s), not a container started (about 0.5 s), so that the onboarding's
# time compares with bench_onboard's
in_suite podman run -d --name "${PROJECT}_ctl" --network host --label "obt.compose-test=$PROJECT" --user 0 \
    -v "$T/keys/public:/keys/public:ro" \
    -v "$T/keys/secret/obtctl.cert_secret:/keys/secret/obtctl.cert_secret:ro" \
    obt:latest sleep infinity >/dev/null
# Every instance's endpoint (compose.yaml): CMS and AMS as DOTS has them, DOTS's (its
# instances with --parts answer together, D100)
ctl() {
    in_suite podman exec "${PROJECT}_ctl" obtctl --keys-dir /keys \
        --dots tcp://127.0.0.1:7401,tcp://127.0.0.1:7440-7446 \
        --cms tcp://127.0.0.1:7402,tcp://127.0.0.1:7420-7426 \
        --ams tcp://127.0.0.1:7403,tcp://127.0.0.1:7430-7436 "$@"
}
# Discovers until DOTS records WANT devices in all (5 rounds at most), then approves
# them all. WHAT names the batch in the error.
discover_approve() { # WHAT WANT
    local found=0
    for _ in 1 2 3 4 5; do
        ctl discover --window-ms 2000 >/dev/null || true
        # (grep finds nothing when no device was found yet: a count of 0, not a failure)
        found=$( (ctl --json devices || true) | { grep -o '"uuid":' || true; } | wc -l)
        [ "$found" -ge "$2" ] && break
    done
    [ "$found" -eq "$2" ] || fail "$1: DOTS recorded $found devices in all, not $2"
    ctl approve --all >/dev/null
}
discover_approve "the first batch" "$COUNT"
found=$COUNT
# CPU seconds of a container's main process so far (its /proc/PID/stat on the host).
cpu_s() {
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$1")
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$pid/stat"
}
declare -A cpu0
for svc in gateway dots cms ams; do cpu0[$svc]=$(cpu_s "$(ctr $svc)"); done
say "obtctl onboard --all ($found devices)"
# The figure beside bench_onboard's (docs/performance.md): from the command to the last
# RFNOP (obtctl waits for the jobs' events, in one `podman exec`, whose own cost is
# timed below). Polling `devices --count` as the bench does would cost a `podman exec`
# per poll, which slows the suite it measures on a small machine.
t0=$(date +%s%N)
ctl onboard --all --wait-s 600 >"$T/onboard.out" 2>&1 || {
    cat "$T/onboard.out" >&2
    fail "obtctl onboard --all failed"
}
ms=$((($(date +%s%N) - t0) / 1000000))
t0=$(date +%s%N)
ctl --help >/dev/null 2>&1 || true
exec_ms=$((($(date +%s%N) - t0) / 1000000))
figure="onboarded $found devices in $ms ms (podman exec alone: $exec_ms ms) ($(awk -v n="$found" -v ms="$ms" 'BEGIN {printf "%.1f", n * 1000 / ms}') devices/s); CPU ms/device:"
for svc in gateway dots cms ams; do
    figure="$figure $svc $(awk -v a="${cpu0[$svc]}" -v b="$(cpu_s "$(ctr $svc)")" -v n="$found" \
        'BEGIN {printf "%.2f", (b - a) * 1000 / n}')"
done
say "$figure"
# DOTS's own view, free of obtctl and podman exec: first to last DOTS-RFNOP of its log
span=$(podman logs "$(ctr dots)" 2>&1 | awk '/DOTS-RFNOP/ { split($1, t, "T"); split(t[2], h, ":");
    ms = ((h[1] * 60 + h[2]) * 60 + h[3]) * 1000; if (!n++) first = ms; last = ms }
    END { if (n > 1) printf "%d devices RFNOP in %.0f ms from the first to the last (%.1f devices/s)",
        n, last - first, (n - 1) * 1000 / (last - first) }')
[ -n "$span" ] && say "DOTS's log: $span"
table() { ctl --json devices | grep -o '"uuid":"[^"]*","first_uuid":"[^"]*","state":"[^"]*"' | sort; }
before=$(table)
rfnop=$(grep -c '"state":"RFNOP"' <<<"$before" || true)
[ "$rfnop" -eq "$COUNT" ] || fail "$rfnop of $COUNT devices in RFNOP"
say "$rfnop devices RFNOP"

# --- 6. restarts: records kept ---------------------------------------------------------
for svc in gateway dots cms ams; do
    compose restart -t 5 $svc 2>&1 | sed 's/^/  /' >&2
    wait_healthy $svc
    say "restart $svc: healthy again"
done
for svc in gateway dots cms ams; do wait_healthy $svc; done
after=$(table)
[ "$after" = "$before" ] || fail "the device table changed across the restarts:
$(diff <(echo "$before") <(echo "$after") || true)"
mapfile -t uuids < <(grep -o '"uuid":"[^"]*"' <<<"$after" | cut -d'"' -f4 | head -n 3)
for u in "${uuids[@]}"; do
    shown=$(ctl --json show "$u") || fail "obtctl show $u failed after the restarts"
    for part in cms ams; do
        grep -q "\"$part\":{" <<<"$shown" || fail "$part has no record of $u after the restarts: $shown"
    done
done
dump=$(podman exec "${PROJECT}_devsim" ocf-devsim --dump --dir /tmp/devices)
owned=$(grep -o '"owned":true' <<<"$dump" | wc -l)
nop=$(grep -o '"state":"RFNOP"' <<<"$dump" | wc -l)
[ "$owned" -eq "$COUNT" ] && [ "$nop" -eq "$COUNT" ] ||
    fail "the devices themselves: $owned owned, $nop in RFNOP, of $COUNT"
say "records kept across the restarts; the devices: $owned owned, $nop RFNOP"

# --- 7. scaling: 3 CMS and 2 AMS instances on their stores (docs/scaling.md, D93) ------
# A new batch of devices per step, on the same device network, from a simulator
# container of its own; discovery finds only the unowned ones.
devsim_batch() { # NAME COUNT
    in_dev podman run -d --name "${PROJECT}_$1" --network host --label "obt.compose-test=$PROJECT" obt:latest ocf-devsim \
        --count "$2" --dir /tmp/devices --address 10.48.0.2 --iface obtdev0 --scope ipv4 >/dev/null
    discover_approve "$1" $(($(ctl --json devices --count | grep -o ":[0-9]*" | cut -c2- |
        awk "{s += \$1} END {print s + 0}") + $2))
}
# Waits for every device of the table in RFNOP (the onboarding command's own wait may end
# on a timeout of an instance killed under it: the jobs are taken over and end later).
all_rfnop() { # TOTAL
    local until=$((SECONDS + 180)) n=0
    while [ "$SECONDS" -lt "$until" ]; do
        n=$(ctl --json devices --count | grep -o '"RFNOP":[0-9]*' | cut -d: -f2 || true)
        [ "${n:-0}" -ge "$1" ] && return 0
        sleep 1
    done
    fail "$n of $1 devices RFNOP: $(ctl devices --count | tr '\n' ' ')"
}
# Hand-overs an instance finished, from its log.
handovers() { podman logs "$(ctr "$1" "$2")" 2>&1 | grep -c 'SVC-JOB-DONE' || true; }
declare -A done0
say "docker-compose up --scale cms=3 --scale ams=2"
compose up -d --no-build --no-recreate --scale cms=3 --scale ams=2 2>&1 | sed 's/^/  /' >&2
for i in 2 3; do wait_healthy cms $i; done
wait_healthy ams 2
for c in "cms 1" "cms 2" "cms 3" "ams 1" "ams 2"; do
    ep=$(podman exec "$(ctr $c)" cat "/tmp/obt-${c% *}.endpoint")
    done0[$c]=$(handovers $c)
    say "${c% *} instance ${c#* }: healthy at $ep"
done
TOTAL=$COUNT
# A new batch of COUNT devices from simulator container NAME, onboarded to RFNOP (WHAT:
# the circumstances, for the error).
onboard_batch() { # NAME COUNT WHAT
    devsim_batch "$1" "$2"
    TOTAL=$((TOTAL + $2))
    ctl onboard --all --wait-s 300 >"$T/$1.out" 2>&1 || {
        cat "$T/$1.out" >&2
        fail "obtctl onboard --all $3 failed"
    }
    all_rfnop "$TOTAL"
}
# Every device of batch NAME is RFNOP with exactly one ownership transfer (devsim's
# "transfers"), or the test fails saying WHAT.
one_transfer_each() { # NAME WHAT
    local dump nop once
    dump=$(podman exec "${PROJECT}_$1" ocf-devsim --dump --dir /tmp/devices)
    nop=$(grep -o '"state":"RFNOP"' <<<"$dump" | wc -l)
    once=$(grep -o '"transfers":1,' <<<"$dump" | wc -l)
    [ "$nop" -eq "$COUNT" ] && [ "$once" -eq "$COUNT" ] ||
        fail "$2: $nop of $COUNT devices RFNOP, $once with exactly one ownership transfer"
}
onboard_batch devsim2 "$COUNT" "with 3 CMS and 2 AMS instances"
line="$COUNT more devices RFNOP with 3 CMS and 2 AMS instances; hand-overs done:"
for c in "cms 1" "cms 2" "cms 3" "ams 1" "ams 2"; do
    n=$(($(handovers $c) - ${done0[$c]}))
    line="$line ${c/ /-} $n"
    [ "$n" -gt 0 ] || fail "${c/ /-} did none of the hand-overs ($line)"
done
say "$line"

# kill -9 of one instance of each while a batch onboards: the others take its jobs over
# (leases, D97) or DOTS sends them again (D98). Whether a kill lands inside a job or
# between two is up to timing here; tests/integration/multi_test.c kills inside one.
BATCH=$((2 * COUNT))
devsim_batch devsim3 "$BATCH"
TOTAL=$((TOTAL + BATCH))
resumed() { podman logs "$(ctr "$1" "$2")" 2>&1 | grep -c 'SVC-JOB-RESUME' || true; }
r0=$(($(resumed cms 1) + $(resumed cms 3) + $(resumed ams 1)))
ctl onboard --all --no-wait >/dev/null
podman kill --signal KILL "$(ctr cms 2)" "$(ctr ams 2)" >/dev/null
say "kill -9 of cms 2 and ams 2 while $BATCH devices onboard"
all_rfnop "$TOTAL"
dump=$(podman exec "${PROJECT}_devsim3" ocf-devsim --dump --dir /tmp/devices)
nop=$(grep -o '"state":"RFNOP"' <<<"$dump" | wc -l)
[ "$nop" -eq "$BATCH" ] || fail "after the kill -9: $nop of the batch's $BATCH devices RFNOP"
r1=$(($(resumed cms 1) + $(resumed cms 3) + $(resumed ams 1)))
say "after the kill -9: all $TOTAL devices RFNOP (the batch's own dump: $nop of $BATCH); jobs the others resumed: $((r1 - r0))"

# --- 8. a standby DOTS takes over (D91) -----------------------------------------------
say "docker-compose up --scale dots=2 (and cms=3, ams=2 as they are)"
compose up -d --no-build --no-recreate --scale dots=2 --scale cms=3 --scale ams=2 2>&1 |
    sed 's/^/  /' >&2
until=$((SECONDS + 30))
until podman logs "$(ctr dots 2)" 2>&1 | grep -q 'DOTS-STANDBY'; do
    [ "$SECONDS" -lt "$until" ] || fail "dots 2 did not start as a standby: $(podman logs --tail 5 "$(ctr dots 2)" 2>&1)"
    sleep 1
done
t0=$SECONDS
podman kill --signal KILL "$(ctr dots 1)" >/dev/null
until podman logs "$(ctr dots 2)" 2>&1 | grep -q 'DOTS-ACTIVE'; do
    [ $((SECONDS - t0)) -lt 30 ] || fail "dots 2 did not take over within 30 s of the kill -9 of dots 1"
    sleep 1
done
say "kill -9 of dots 1: dots 2 active after $((SECONDS - t0)) s"
onboard_batch devsim4 "$COUNT" "through the standby that took over"
one_transfer_each devsim4 "through dots 2"
say "through dots 2: $COUNT more devices RFNOP, each with one ownership transfer; $TOTAL in all"

# --- 9. the work spread over two DOTS instances (--parts 2, D100) -------------------------
say "OBT_DOTS_PARTS=2 docker-compose up --scale dots=2: an active DOTS for each part"
OBT_DOTS_PARTS=2 compose up -d --no-build --no-deps --force-recreate --scale dots=2 dots 2>&1 |
    sed 's/^/  /' >&2
until=$((SECONDS + 60))
for i in 1 2; do
    until podman logs "$(ctr dots $i)" 2>&1 | grep -q 'DOTS-ACTIVE .* for part'; do
        [ "$SECONDS" -lt "$until" ] ||
            fail "dots $i did not become active for a part: $(podman logs --tail 5 "$(ctr dots $i)" 2>&1)"
        sleep 1
    done
done
parts=$(for i in 1 2; do podman logs "$(ctr dots $i)" 2>&1 | grep -o 'for part [0-9]*/2' | tail -n 1; done | sort -u | wc -l)
[ "$parts" -eq 2 ] || fail "the two DOTS instances do not serve the two parts"
onboard_batch devsim5 "$COUNT" "through two DOTS instances, a part each"
one_transfer_each devsim5 "through two parts"
d1=$(podman logs "$(ctr dots 1)" 2>&1 | grep -c 'DOTS-RFNOP' || true)
d2=$(podman logs "$(ctr dots 2)" 2>&1 | grep -c 'DOTS-RFNOP' || true)
[ "$d1" -gt 0 ] && [ "$d2" -gt 0 ] || fail "the work was not spread: RFNOP by dots 1 $d1, by dots 2 $d2"
say "two DOTS parts: $COUNT more devices RFNOP (dots 1 $d1, dots 2 $d2), each with one ownership transfer; $TOTAL in all"

# --- 10. a DOTS instance that dies with no standby left (D101) ----------------------------
# a. kill -9 of dots 1's process from the host (a crash, not the engine's `kill`): the
#    restart policy (`restart: unless-stopped`) brings it back; it waits as a standby
#    and takes its part back when the dead process's lease runs out.
pid=$(podman inspect --format '{{.State.Pid}}' "$(ctr dots 1)")
[ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no process for dots 1"
act0=$(podman logs "$(ctr dots 1)" 2>&1 | grep -c 'DOTS-ACTIVE .* for part' || true)
t0=$SECONDS
kill -9 "$pid"
until [ "$(podman logs "$(ctr dots 1)" 2>&1 | grep -c 'DOTS-ACTIVE .* for part' || true)" -gt "$act0" ]; do
    [ $((SECONDS - t0)) -lt 40 ] ||
        fail "dots 1 was not restarted and active again within 40 s of the crash: $(podman logs --tail 5 "$(ctr dots 1)" 2>&1)"
    sleep 1
done
restarts=$(podman inspect --format '{{.RestartCount}}' "$(ctr dots 1)")
[ "$restarts" -ge 1 ] || fail "dots 1 active again but its restart count is $restarts"
say "kill -9 of dots 1's process: the engine restarted it (restart count $restarts), active for its part again after $((SECONDS - t0)) s"
onboard_batch devsim6 "$COUNT" "after the crash of dots 1"
one_transfer_each devsim6 "after the crash of dots 1"
say "after the crash of dots 1: $COUNT more devices RFNOP, each with one ownership transfer; $TOTAL in all"
# b. `podman kill` of dots 1 (an operator's kill: the engine does not restart it): no
#    standby is left, so dots 2 adopts part 0 once its lease has had no holder for 5 s.
t0=$SECONDS
podman kill --signal KILL "$(ctr dots 1)" >/dev/null
until podman logs "$(ctr dots 2)" 2>&1 | grep -q 'DOTS-ADOPT .* serves part'; do
    [ $((SECONDS - t0)) -lt 40 ] ||
        fail "dots 2 did not adopt dots 1's part within 40 s: $(podman logs --tail 5 "$(ctr dots 2)" 2>&1)"
    sleep 1
done
say "podman kill of dots 1: dots 2 adopted its part after $((SECONDS - t0)) s"
d2a=$(podman logs "$(ctr dots 2)" 2>&1 | grep -c 'DOTS-RFNOP' || true)
onboard_batch devsim7 "$COUNT" "through dots 2 alone, serving both parts"
one_transfer_each devsim7 "through dots 2 serving both parts"
d2=$(podman logs "$(ctr dots 2)" 2>&1 | grep -c 'DOTS-RFNOP' || true)
[ $((d2 - d2a)) -ge "$COUNT" ] || fail "dots 2 onboarded $((d2 - d2a)) of the $COUNT devices of both parts"
say "through dots 2 alone: $COUNT more devices RFNOP ($((d2 - d2a)) RFNOPs logged by dots 2), each with one ownership transfer; $TOTAL in all"
