/* gwkeys_test.c — a gateway with a key of its own (obtctl keys --add gateway-NAME,
 * obt-gateway --key): the services hold gateway NAME to that key alone, so the shared
 * "gateway" key no longer stands for it; onboarding goes through it as before. And
 * `obtctl keys --add` itself: names, an existing key, a missing folder, modes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmn_bus.h"
#include "obt_checks.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;
static char s_keys[700], s_gateways[800];

static void
s_setup(void)
{
    s_dir = obt_tmpdir("gwkeys");
    cr_assert_not_null(s_dir);
    (void) snprintf(s_keys, sizeof s_keys, "%s/keys", s_dir);
    (void) snprintf(s_gateways, sizeof s_gateways, "gw-k=ipc://%s/gw.sock", s_dir);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* obtctl keys ARGS... --dir s_keys: exit status, output in *out (caller frees). */
static int
s_keys_cmd(const char *a1, const char *a2, char **out)
{
    const char *argv[] = {"keys", "--dir", s_keys, a1, a2, NULL};
    return obt_run("obtctl", argv, out);
}

Test(gwkeys, keys_add_checks_its_name_and_keeps_what_exists, .init = s_setup, .fini = s_teardown)
{
    char *out = NULL;
    cr_expect_eq(s_keys_cmd("--add", "gateway-gw-k", &out), 3, "no keys folder yet: %s", out);
    free(out);
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    static const char *const bad[] = {"gateway",     "gw-k",
                                      "printer-1",   "gateway-",
                                      "gateway-a/b", "gateway-0123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = NULL;
        cr_expect_eq(s_keys_cmd("--add", bad[i], &out), 2, "--add %s: %s", bad[i], out);
        free(out);
    }
    out = NULL;
    cr_expect_eq(s_keys_cmd("--add", "gateway-gw-k", &out), 0, "%s", out);
    free(out);
    char path[900];
    struct stat st;
    (void) snprintf(path, sizeof path, "%s/secret/gateway-gw-k.cert_secret", s_keys);
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    cr_expect_eq(st.st_mode & 0777, 0600, "secret mode %o", (unsigned) (st.st_mode & 0777));
    (void) snprintf(path, sizeof path, "%s/public/gateway-gw-k.cert", s_keys);
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    cr_expect_eq(st.st_mode & 0777, 0644, "public mode %o", (unsigned) (st.st_mode & 0777));
    out = NULL;
    cr_expect_eq(s_keys_cmd("--add", "gateway-gw-k", &out), 1, "made twice: %s", out);
    free(out);
}

Test(gwkeys, a_gateway_with_its_own_key_onboards, .init = s_setup, .fini = s_teardown)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cr_assert_eq(cmn_bus_key_add(s_keys, "gateway-gw-k", false), CMN_OK);
    static const char *const gw[] = {"--name", "gw-k", "--key", "gateway-gw-k", NULL};
    cr_assert_eq(obt_suite_start_gateways(&s_suite, s_dir, s_gateways, gw), 0);
    cr_expect_eq(obt_proc_wait_log(&s_suite.dots, "its key must be gateway-gw-k", 2000), 0,
                 "DOTS did not pick gw-k's own key");
    /* its container's health check: its own key as client, and as the server's */
    static const char *const health[] = {"--key", "gateway-gw-k", "health", "gateway", NULL};
    char *hout = NULL;
    cr_expect_eq(obt_ctl(&s_suite, health, &hout), 0, "%s", hout);
    free(hout);
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 2, NULL), 0);
    obt_dev_ep_t devs[2];
    char why[300] = "";
    cr_assert_eq(obt_onboard_devices(&s_suite, &s_sim, s_dir, 2, 60, devs, why, sizeof why), 0,
                 "%s", why);
    char *out = NULL;
    static const char *const count[] = {"devices", "--count", NULL};
    cr_assert_eq(obt_ctl(&s_suite, count, &out), 0);
    cr_expect_not_null(strstr(out, "RFNOP                2"), "%s", out);
    free(out);
}

Test(gwkeys,
     the_shared_key_no_longer_stands_for_a_gateway_with_its_own,
     .init = s_setup,
     .fini = s_teardown)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cr_assert_eq(cmn_bus_key_add(s_keys, "gateway-gw-k", false), CMN_OK);
    /* gw-k serves with the shared key although it has one of its own */
    static const char *const gw[] = {"--name", "gw-k", NULL};
    cr_assert_eq(obt_suite_start_gateways(&s_suite, s_dir, s_gateways, gw), 0);
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 1, NULL), 0);
    char *out = NULL;
    static const char *const disc[] = {"--timeout-ms", "4000", "discover", NULL};
    int rc = obt_ctl(&s_suite, disc, &out);
    cr_expect_neq(rc, 0, "discovery through an impostor key succeeded: %s", out);
    free(out);
    cr_expect_eq(obt_proc_log_count(&s_suite.gw, "GW-DISC-DONE"), 0, "gw-k ran a discovery");
}
