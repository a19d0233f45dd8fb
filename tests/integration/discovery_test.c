/* discovery_test.c — discovery modes with real ocf-devsim processes: IPv6 link-local
 * over a veth link, IPv4 and IPv6 together (one device, endpoints of both families in
 * the operator's order), rounds, unicast --endpoint with multicast off, and Just Works
 * onboarding over IPv6 to RFNOP. The veth pair (veth0: fe80::1, fd00:db8::1, 10.47.0.1;
 * veth1: fe80::2, fd00:db8::2, 10.47.0.2) comes from scripts/netns.sh; without it the
 * IPv6 tests skip and say why. Devices on veth1 are reached by the gateway on veth0:
 * every datagram crosses the link. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define LL     "fe80::1%veth0" /* devsim's IPv6 link-local address, gateway's side */
#define LL_FAR "fe80::2%veth1" /* devsim's address at the far end of the link */

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("discovery");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* Skips the test, with the reason, unless veth0 carries fe80::1 (scripts/netns.sh
 * sets it up); fails if netns.sh says it made the pair and the address is missing. */
static void
s_need_veth(void)
{
    bool found = obt_iface_has_addr6("veth0", "fe80::1");
    const char *veth = getenv("OBT_VETH");
    cr_assert(found || veth == NULL || strcmp(veth, "up") != 0,
              "scripts/netns.sh made the veth pair, but veth0 has no fe80::1");
    if (!found) {
        cr_skip_test("IPv6 discovery not tested: no interface veth0 with fe80::1 (%s)",
                     veth ? veth : "run under scripts/netns.sh, which creates the veth pair");
    }
}

/* Starts ocf-devsim with count devices and the extra flags (NULL-terminated). */
static void
s_devsim(int count, const char *const *extra)
{
    char devdir[600], n[16];
    (void) snprintf(devdir, sizeof devdir, "%s/devices", s_dir);
    (void) snprintf(n, sizeof n, "%d", count);
    const char *args[32] = {"--dir", devdir, "--count", n, "--log-level", "info"};
    size_t k = 6;
    for (size_t i = 0; extra && extra[i] && k < 31; i++) {
        args[k++] = extra[i];
    }
    args[k] = NULL;
    if (obt_proc_start(&s_sim, s_dir, "devsim", "ocf-devsim", args) != 0 ||
        obt_proc_wait_log(&s_sim, " READY ", 20000) != 0) {
        obt_proc_dump(&s_sim);
        cr_assert_fail("ocf-devsim did not start");
    }
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl_or_dump(&s_suite, &s_sim, args, out);
}

/* Runs `obtctl discover ARGS` and returns how many unowned devices it found. */
static unsigned
s_discover(const char *const *args)
{
    const char *argv[24] = {"discover"};
    size_t k = 1;
    for (size_t i = 0; args[i] && k < 23; i++) {
        argv[k++] = args[i];
    }
    argv[k] = NULL;
    char *out = NULL;
    cr_assert_eq(s_ctl(argv, &out), 0, "discover failed: %s", out ? out : "");
    unsigned found = 0;
    const char *f = out ? strstr(out, "found ") : NULL;
    cr_assert(f && sscanf(f, "found %u", &found) == 1, "no count in: %s", out ? out : "");
    free(out);
    return found;
}

/* DOTS's devices (obtctl --json devices); caller frees each. */
static size_t
s_devices(char **objs, size_t max)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(list, &out), 0);
    size_t n = obt_json_objects(out, objs, max);
    free(out);
    return n;
}

/* The n-th endpoint of a device object ("" if none). */
static void
s_ep(const char *obj, int nth, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strstr(obj, "\"eps\":[");
    p = p ? p + 7 : NULL;
    for (int i = 0; p && *p == '"'; i++) {
        const char *end = strchr(p + 1, '"');
        if (end == NULL) {
            return;
        }
        if (i == nth) {
            if ((size_t) (end - p - 1) < cap) {
                memcpy(out, p + 1, (size_t) (end - p - 1));
                out[end - p - 1] = '\0';
            }
            return;
        }
        p = end[1] == ',' ? end + 2 : NULL; /* ']' ends the list */
    }
}

static bool
s_is_v6(const char *ep)
{
    return strstr(ep, "://[") != NULL;
}

Test(discovery,
     ipv6_link_local_across_a_veth_link,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    s_need_veth();
    static const char *const sim[] = {"--address", LL_FAR, "--iface", "veth1",
                                      "--scope",   "link", NULL};
    s_devsim(3, sim);
    static const char *const args[] = {"--scope",     "link", "--iface", "veth0",
                                       "--window-ms", "300",  NULL};
    cr_assert_eq(s_discover(args), 3);
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        char ep[96];
        s_ep(objs[i], 0, ep, sizeof ep);
        /* The device is on veth1; the gateway reaches it through veth0. */
        cr_expect(strncmp(ep, "coap://[fe80::2%veth0]:", 23) == 0 ||
                          strncmp(ep, "coaps://[fe80::2%veth0]:", 24) == 0,
                  "link-local endpoint with the gateway's zone expected: %s", objs[i]);
        cr_expect(strstr(objs[i], ":5683\"") == NULL && strstr(objs[i], ":5684\"") == NULL,
                  "ports come from eps, never assumed: %s", objs[i]);
        free(objs[i]);
    }
}

Test(discovery,
     ipv6_link_local_on_the_gateways_own_link,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    s_need_veth();
    static const char *const sim[] = {"--address", LL, "--iface", "veth0", "--scope", "link", NULL};
    s_devsim(2, sim);
    static const char *const args[] = {"--scope",     "link", "--iface", "veth0",
                                       "--window-ms", "300",  NULL};
    cr_assert_eq(s_discover(args), 2);
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char ep[96];
        s_ep(objs[i], 0, ep, sizeof ep);
        cr_expect(strstr(ep, "://[fe80::1%veth0]:") != NULL, "link-local endpoint: %s", objs[i]);
        free(objs[i]);
    }
}

/* Devices that joined only ff03::158 and ff05::158: found on realm and on site, each
 * once, with their ULA endpoints; not found on link (they did not join ff02::158). */
Test(discovery, realm_and_site_scopes, .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    s_need_veth();
    static const char *const sim[] = {"--address", "fd00:db8::2", "--iface", "veth1",
                                      "--scope",   "realm,site",  NULL};
    s_devsim(2, sim);
    static const char *const link[] = {"--scope",     "link", "--iface", "veth0",
                                       "--window-ms", "200",  NULL};
    cr_assert_eq(s_discover(link), 0, "the devices did not join ff02::158");
    static const char *const realm[] = {"--scope",     "realm", "--iface", "veth0",
                                        "--window-ms", "300",   NULL};
    cr_assert_eq(s_discover(realm), 2);
    static const char *const site[] = {"--scope",     "site", "--iface", "veth0",
                                       "--window-ms", "300",  NULL};
    cr_assert_eq(s_discover(site), 2);
    static const char *const both[] = {"--scope",     "realm,site", "--iface", "veth0",
                                       "--window-ms", "300",        NULL};
    cr_assert_eq(s_discover(both), 2, "each device once over both groups");
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 2, "three discoveries, still two devices");
    for (size_t i = 0; i < n; i++) {
        char ep[96];
        s_ep(objs[i], 0, ep, sizeof ep);
        cr_expect(strstr(ep, "://[fd00:db8::2]:") != NULL, "ULA endpoint: %s", objs[i]);
        free(objs[i]);
    }
}

Test(discovery,
     ipv4_and_ipv6_each_device_once_with_both_families_in_the_operators_order,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    s_need_veth();
    static const char *const sim[] = {"--address", "127.0.0.1," LL, "--iface", "lo,veth0", NULL};
    s_devsim(3, sim);
    static const char *const v6_first[] = {"--scope",  "link,ipv4",   "--iface",
                                           "lo,veth0", "--window-ms", "300",
                                           "--rounds", "2",           NULL};
    cr_assert_eq(s_discover(v6_first), 3, "each device once, whatever it answered on");
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        char first[96], ep[96];
        bool has_v4 = false, has_v6 = false;
        s_ep(objs[i], 0, first, sizeof first);
        cr_expect(s_is_v6(first), "link listed first: %s", objs[i]);
        for (int e = 0; e < 8; e++) {
            s_ep(objs[i], e, ep, sizeof ep);
            has_v4 = has_v4 || strstr(ep, "://127.0.0.1:") != NULL;
            has_v6 = has_v6 || s_is_v6(ep);
        }
        cr_expect(has_v4 && has_v6, "endpoints of both families: %s", objs[i]);
        free(objs[i]);
    }
    /* The same devices again with IPv4 preferred: updated, not duplicated. */
    static const char *const v4_first[] = {"--scope",     "ipv4,link", "--iface", "lo,veth0",
                                           "--window-ms", "300",       NULL};
    cr_assert_eq(s_discover(v4_first), 3);
    n = s_devices(objs, 8);
    cr_assert_eq(n, 3, "a second discovery must not duplicate devices");
    for (size_t i = 0; i < n; i++) {
        char first[96];
        s_ep(objs[i], 0, first, sizeof first);
        cr_expect(strstr(first, "://127.0.0.1:") != NULL, "ipv4 listed first: %s", objs[i]);
        free(objs[i]);
    }
}

Test(discovery,
     a_late_device_needs_a_second_round,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    static const char *const sim[] = {"--scope", "ipv4", "--faults", "1:mute-first", NULL};
    s_devsim(3, sim);
    static const char *const one[] = {"--scope",  "ipv4", "--window-ms", "300",
                                      "--rounds", "1",    NULL};
    cr_assert_eq(s_discover(one), 2, "device 1 ignores the first request");
    cr_assert_eq(obt_proc_log_count(&s_sim, "SIM-MUTE-FIRST"), 1);
}

Test(discovery,
     a_late_device_is_found_with_two_rounds,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    static const char *const sim[] = {"--scope", "ipv4", "--faults", "1:mute-first", NULL};
    s_devsim(3, sim);
    static const char *const two[] = {"--scope",  "ipv4", "--window-ms", "300",
                                      "--rounds", "2",    NULL};
    cr_assert_eq(s_discover(two), 3, "device 1 answers the second round");
    cr_assert_eq(obt_proc_log_count(&s_sim, "SIM-MUTE-FIRST"), 1);
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
}

Test(discovery, rounds_are_merged, .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    static const char *const sim[] = {"--scope", "ipv4", "--faults", "1:mute-first", NULL};
    s_devsim(3, sim);
    static const char *const args[] = {"--scope",  "ipv4", "--window-ms", "300",
                                       "--rounds", "3",    NULL};
    cr_assert_eq(s_discover(args), 3, "found in round 2, each device once over 3 rounds");
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        char ep[96];
        s_ep(objs[i], 1, ep, sizeof ep);
        cr_expect(ep[0] != '\0', "endpoints learnt: %s", objs[i]);
        free(objs[i]);
    }
}

/* Endpoint "coap=..." of the i-th DEVICE line with the given prefix. */
static void
s_device_ep(int idx, const char *prefix, char *out, size_t cap)
{
    FILE *f = fopen(s_sim.log, "r");
    cr_assert_not_null(f);
    char line[1024], tag[32];
    (void) snprintf(tag, sizeof tag, " DEVICE idx=%d ", idx);
    out[0] = '\0';
    while (fgets(line, sizeof line, f) && out[0] == '\0') {
        const char *p = strstr(line, tag);
        p = p ? strstr(p, prefix) : NULL;
        if (p) {
            p += strlen(" coap=");
            size_t len = strcspn(p, " \n");
            cr_assert_lt(len, cap);
            memcpy(out, p, len);
            out[len] = '\0';
        }
    }
    (void) fclose(f);
    cr_assert(out[0], "no %s in DEVICE idx=%d", prefix, idx);
}

Test(discovery,
     unicast_endpoints_with_multicast_off,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    s_need_veth();
    static const char *const sim[] = {"--address", "127.0.0.1," LL, "--no-mcast", NULL};
    s_devsim(2, sim);
    static const char *const mcast[] = {"--scope", "ipv4", "--window-ms", "200", NULL};
    cr_assert_eq(s_discover(mcast), 0, "--no-mcast: nobody answers multicast");
    char ep0[96], ep1[96];
    s_device_ep(0, " coap=coap://127", ep0, sizeof ep0);
    s_device_ep(1, " coap=coap://[fe80", ep1, sizeof ep1);
    const char *const args[] = {"--endpoint", ep0, "--endpoint", ep1, "--window-ms", "300", NULL};
    cr_assert_eq(s_discover(args), 2, "unicast discovery of %s and %s", ep0, ep1);
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char ep[96];
        s_ep(objs[i], 0, ep, sizeof ep);
        cr_expect(ep[0] != '\0', "eps learnt from /oic/res: %s", objs[i]);
        free(objs[i]);
    }
}

Test(discovery, onboarding_over_ipv6_to_rfnop, .init = s_setup, .fini = s_teardown, .timeout = 120)
{
    s_need_veth();
    static const char *const sim[] = {"--address", LL_FAR, "--iface", "veth1",
                                      "--scope",   "link", NULL};
    s_devsim(2, sim);
    static const char *const args[] = {"--scope",     "link", "--iface", "veth0",
                                       "--window-ms", "300",  NULL};
    cr_assert_eq(s_discover(args), 2);
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(approve, NULL), 0);
    char *out = NULL;
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard over IPv6 failed: %s", out ? out : "");
    free(out);
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char state[32], cipher[64], ep[96];
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        cr_expect_str_eq(state, "RFNOP");
        s_ep(objs[i], 0, ep, sizeof ep);
        cr_expect(strstr(ep, "://[fe80::2%veth0]:") != NULL, "onboarded across the link: %s",
                  objs[i]);
        (void) obt_json_str(objs[i], "cipher", cipher, sizeof cipher);
        cr_expect_str_eq(cipher, "ECDH-ANON-AES128-CBC-SHA256"); /* JW over 0xFF00, D50 */
        if (i == 0) {
            const char *show[] = {"--json", "show", NULL, NULL};
            char uuid[40];
            cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
            show[2] = uuid;
            char *s = NULL;
            cr_assert_eq(s_ctl(show, &s), 0);
            cr_expect(strstr(s, "\"state\":\"provisioned\"") != NULL, "AMS over IPv6: %s", s);
            free(s);
        }
        free(objs[i]);
    }
    /* The devices' own SVRs agree. */
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    n = obt_devsim_dump(s_dir, objs, 8);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char why[300];
        cr_expect(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        free(objs[i]);
    }
}

Test(discovery,
     an_unknown_interface_is_an_error,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    static const char *const args[] = {"discover", "--scope",     "link", "--iface",
                                       "nosuch0",  "--window-ms", "200",  NULL};
    char *out = NULL;
    cr_expect_neq(obt_ctl(&s_suite, args, &out), 0, "discovery on no interface must fail: %s",
                  out ? out : "");
    free(out);
    static const char *const scope[] = {"discover", "--scope", "global", NULL};
    cr_expect_neq(obt_ctl(&s_suite, scope, &out), 0, "unknown scope must fail");
    free(out);
}

/* True if the current devsim log has a DEVICE line for uuid listing ep. */
static bool
s_device_has_ep(const char *uuid, const char *ep)
{
    FILE *f = fopen(s_sim.log, "r");
    cr_assert_not_null(f);
    char line[1024], want[128];
    (void) snprintf(want, sizeof want, "=%s ", ep);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = ' ';
        found = strstr(line, " DEVICE ") && strstr(line, uuid) && strstr(line, want);
    }
    (void) fclose(f);
    return found;
}

/* [IL] devices bind new ports when they restart: a rediscovery brings the new eps, the
 * old ones go, and onboarding uses the new ports (nothing assumes 5683/5684 or keeps
 * a stale port). */
Test(discovery,
     a_restarted_device_with_new_ports_is_onboarded_on_them,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    static const char *const sim[] = {"--scope", "ipv4", "--new-ports", NULL};
    static const char *const args[] = {"--scope", "ipv4", "--window-ms", "300", NULL};
    s_devsim(2, sim);
    cr_assert_eq(s_discover(args), 2);
    cr_assert_eq(obt_proc_stop(&s_sim), 0);
    char old[700];
    (void) snprintf(old, sizeof old, "%s.1", s_sim.log);
    cr_assert_eq(rename(s_sim.log, old), 0);
    s_devsim(2, sim); /* same devices (same --dir), new ports */
    cr_assert_eq(s_discover(args), 2);
    char *objs[8];
    size_t n = s_devices(objs, 8);
    cr_assert_eq(n, 2, "rediscovered, not duplicated");
    for (size_t i = 0; i < n; i++) {
        char uuid[40], ep[96];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        for (int e = 0; e < 3; e++) {
            s_ep(objs[i], e, ep, sizeof ep);
            if (e < 2) {
                cr_expect(s_device_has_ep(uuid, ep), "%s is not a current endpoint: %s", ep,
                          objs[i]);
            } else {
                cr_expect_str_empty(ep, "old endpoints dropped: %s", objs[i]);
            }
        }
        free(objs[i]);
    }
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(approve, NULL), 0);
    char *out = NULL;
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboarding on the new ports failed: %s", out ? out : "");
    free(out);
}

/* Reference devices delay a multicast reply by 0..2000 ms and ignore further multicast
 * requests while it is pending (issue 11 item 4): with the daemons' defaults (one
 * round, 2500 ms per phase; no --window-ms, no --rounds) every discovery finds every
 * device, 20 times in a row (the old default, 1000 ms, missed a device in 3 of 20). */
static void
s_setup_default_discovery(void)
{
    s_dir = obt_tmpdir("discovery");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start_default_discovery(&s_suite, s_dir), 0, "the suite did not start");
}

Test(discovery,
     defaults_find_devices_with_reference_jitter_every_time,
     .init = s_setup_default_discovery,
     .fini = s_teardown,
     .timeout = 500)
{
    static const char *const sim[] = {"--scope", "ipv4", "--mcast-jitter-ms", "2000", NULL};
    s_devsim(4, sim);
    static const char *const args[] = {NULL};
    unsigned misses = 0;
    for (int run = 0; run < 20; run++) {
        unsigned found = s_discover(args);
        cr_expect_eq(found, 4, "run %d: found %u of 4", run + 1, found);
        misses += found != 4;
    }
    cr_assert_eq(misses, 0, "%u of 20 discoveries missed a device", misses);

    /* The check can fail: a short window (300 ms per phase: doxm, /oic/res, unicast
     * /oic/res; a late doxm reply still counts in the later phases) misses a device
     * whose reply comes after the last phase (each device: about 1 in 2, all four in
     * time: about 1 in 20 per run); its multicast /oic/res meets the pending reply and is
     * ignored. */
    static const char *const short_window[] = {"--window-ms", "300", "--rounds", "1", NULL};
    misses = 0;
    for (int run = 0; run < 4; run++) {
        misses += s_discover(short_window) != 4;
    }
    cr_expect_gt(misses, 0, "a 300 ms window found every jittered device 4 times in a row");
    cr_expect_gt(obt_proc_log_count(&s_sim, "SIM-MCAST-PENDING"), 0,
                 "no multicast request met a pending reply: the jitter was not exercised");
}
