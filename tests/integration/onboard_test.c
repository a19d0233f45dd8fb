/* onboard_test.c — Just Works onboarding (OCF's suite 0xFF00, our DTLS engine on both
 * sides: D50, D53) to RFNOP through all four daemons, checked on the devices
 * themselves; then every daemon restarts and still knows the devices */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 5

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("onboard");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_DEVICES, NULL), 0, "devsim did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl_or_dump(&s_suite, &s_sim, args, out);
}

static void
s_onboard_all(void)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, &out), 0, "discover failed: %s", out);
    cr_assert(strstr(out, "found 5 unowned") != NULL, "discovery by multicast: %s", out);
    free(out);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    free(out);
}

Test(onboard,
     jw_to_rfnop_with_every_svr_as_required,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    s_onboard_all();
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);

    /* DOTS's view: every device RFNOP, with a new UUID and the domain. */
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(list, &out), 0);
    char *objs[32];
    size_t n = obt_json_objects(out, objs, 32);
    free(out);
    cr_assert_eq(n, N_DEVICES);
    char first[N_DEVICES][40];
    for (size_t i = 0; i < n; i++) {
        char uuid[40], state[32], cipher[64];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        cr_assert(obt_json_str(objs[i], "first_uuid", first[i], sizeof first[i]));
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        cr_assert_str_eq(state, "RFNOP");
        cr_assert(obt_json_str(objs[i], "cipher", cipher, sizeof cipher));
        cr_assert_str_eq(cipher, "ECDH-ANON-AES128-CBC-SHA256", "the DOC's suite: %s", cipher);
        cr_assert_str_neq(uuid, first[i], "deviceuuid must be new (CR2935)");
        if (i == 0) {
            const char *show[] = {"--json", "show", uuid, NULL};
            char *s = NULL;
            cr_assert_eq(s_ctl(show, &s), 0);
            cr_assert(obt_json_str(s, "sd_uuid", ids.sd, sizeof ids.sd));
            cr_assert(strstr(s, "\"state\":\"verified\"") != NULL, "CMS view: %s", s);
            cr_assert(strstr(s, "\"state\":\"provisioned\"") != NULL, "AMS view: %s", s);
            free(s);
        }
        free(objs[i]);
    }

    /* The devices' own SVRs. */
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    n = obt_devsim_dump(s_dir, objs, 32);
    cr_assert_eq(n, N_DEVICES);
    for (size_t i = 0; i < n; i++) {
        char why[300], uuid[40];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        for (size_t j = 0; j < N_DEVICES; j++) {
            cr_assert_str_neq(uuid, first[j], "device still has its first UUID");
        }
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        free(objs[i]);
    }
}

Test(onboard,
     every_daemon_restarts_and_still_knows_the_devices,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    s_onboard_all();
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(list, &out), 0);
    char uuid[40];
    cr_assert(obt_json_str(out, "uuid", uuid, sizeof uuid));
    free(out);

    static const char *const names[] = {"gateway", "cms", "ams", "dots"};
    obt_proc_t *procs[] = {&s_suite.gw, &s_suite.cms, &s_suite.ams, &s_suite.dots};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(obt_proc_stop(procs[i]), 0, "%s did not stop cleanly", names[i]);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(obt_suite_restart(&s_suite, names[i], NULL), 0, "%s did not restart",
                     names[i]);
    }
    const char *show[] = {"--json", "show", uuid, NULL};
    cr_assert_eq(s_ctl(show, &out), 0);
    cr_assert(strstr(out, "\"state\":\"RFNOP\"") != NULL, "DOTS lost the record: %s", out);
    cr_assert(strstr(out, "\"state\":\"verified\"") != NULL, "CMS lost the record: %s", out);
    cr_assert(strstr(out, "\"state\":\"provisioned\"") != NULL, "AMS lost the record: %s", out);
    free(out);
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(s_ctl(health, NULL), 0, "not every daemon is healthy after the restarts");
}
