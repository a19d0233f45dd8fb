/* domain_test.c — two DOTS started on separate stores by mistake (D88): the gateway
 * serves the security domain of the DOTS that registered first; the second, a domain of
 * its own, is refused and says so, and its jobs wait with the reason instead of taking
 * devices for a second domain. The first DOTS onboards them meanwhile. Once the first
 * has been silent past the gateway's quiet time, the second may take the domain over. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"

#define N_DEVICES 2

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim, s_dots_b;
static char s_ep_b[700], s_store_b[700];

static void
s_teardown(void)
{
    (void) obt_proc_stop(&s_dots_b);
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* The second DOTS: the same keys, gateway, CMS and AMS, a store of its own. */
static void
s_start_dots_b(void)
{
    (void) snprintf(s_ep_b, sizeof s_ep_b, "ipc://%s/dots-b.sock", s_dir);
    (void) snprintf(s_store_b, sizeof s_store_b, "%s/dots-b-store", s_dir);
    const char *args[] = {"--keys-dir",   s_suite.keys,  "--log-level",  "info",
                          "--gateway",    s_suite.ep_gw, "--store-dir",  s_store_b,
                          "--no-durable", "--endpoint",  s_ep_b,         "--cms",
                          s_suite.ep_cms, "--ams",       s_suite.ep_ams, "--discover-window-ms",
                          "400",          NULL};
    cr_assert_eq(obt_proc_start(&s_dots_b, s_dir, "dots-b", "obt-dots", args), 0);
    cr_assert_eq(obt_proc_wait_log(&s_dots_b, " READY ", 15000), 0,
                 "the second DOTS did not start");
}

/* obtctl against the second DOTS; exit status, output in *out (caller frees). */
static int
s_ctl_b(const char *a1, const char *a2, const char *a3, char **out)
{
    const char *argv[] = {"--keys-dir", s_suite.keys, "--dots", s_ep_b, a1, a2, a3, NULL};
    return obt_run("obtctl", argv, out);
}

Test(domain, a_second_dots_on_a_store_of_its_own_is_refused_and_says_so, .fini = s_teardown)
{
    s_dir = obt_tmpdir("domain");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0);
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_DEVICES, NULL), 0);
    s_start_dots_b();
    cr_assert_eq(obt_proc_wait_log(&s_dots_b, "DOTS-DOMAIN", 10000), 0,
                 "the second DOTS did not say it was refused");
    cr_expect_gt(obt_proc_log_count(&s_dots_b, "another security domain already uses gateway"), 0);
    cr_expect_gt(obt_proc_log_count(&s_suite.gw, "GW-DOMAIN"), 0, "the gateway did not log it");
    cr_expect_eq(obt_proc_log_count(&s_suite.dots, "DOTS-DOMAIN"), 0, "the first DOTS was refused");

    /* the second DOTS's operator tries: the jobs wait with the reason, nothing owned */
    char *out = NULL;
    cr_assert_eq(s_ctl_b("discover", NULL, NULL, &out), 0, "%s", out);
    free(out);
    out = NULL;
    cr_assert_eq(s_ctl_b("approve", "--all", NULL, &out), 0, "%s", out);
    free(out);
    out = NULL;
    (void) s_ctl_b("onboard", "--all", "--no-wait", &out);
    free(out);
    out = NULL;
    cr_assert_eq(obt_proc_wait_log(&s_dots_b, "it serves another security domain", 10000), 0,
                 "no job of the second DOTS waits with the reason");
    cr_expect_eq(obt_proc_log_count(&s_dots_b, "DOTS-RFNOP"), 0);
    cr_expect_eq(obt_proc_log_count(&s_dots_b, "SET_OXMSEL"), 0,
                 "the second DOTS wrote to a device");
    cr_assert_eq(s_ctl_b("--json", "devices", NULL, &out), 0, "%s", out);
    cr_expect_not_null(strstr(out, "it serves another security domain"), "%s", out);
    free(out);

    /* the domain's own DOTS onboards them */
    obt_dev_ep_t devs[N_DEVICES];
    char why[300] = "";
    cr_assert_eq(obt_onboard_devices(&s_suite, &s_sim, s_dir, N_DEVICES, 60, devs, why, sizeof why),
                 0, "%s", why);
    cr_expect_eq(obt_proc_log_count(&s_dots_b, "DOTS-RFNOP"), 0);

    /* the first DOTS stopped: after the gateway's quiet time the second may take over */
    cr_assert_eq(obt_proc_stop(&s_suite.dots), 0);
    cr_expect_eq(obt_proc_wait_log(&s_dots_b, "serves our security domain now", 25000), 0,
                 "the second DOTS never got the domain once the first had stopped");
    cr_expect_gt(obt_proc_log_count(&s_suite.gw, "takes the domain over"), 0);
}
