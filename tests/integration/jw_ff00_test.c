/* jw_ff00_test.c — Just Works over OCF's suite 0xFF00 (D50, D53): the gateway
 * onboards ocf-devsim devices serving 0xFF00 to RFNOP through all four
 * daemons, checked on the devices themselves; the DOC's cipher is the OCF suite and
 * the owner PSK (KBL 96) agrees on both sides (the owner's PSK session that follows
 * could not open otherwise). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 3

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("jw-ff00");
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

Test(jw_ff00, jw_over_ff00_to_rfnop, .init = s_setup, .fini = s_teardown, .timeout = 180)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard",  "--all", "--otm", "jw",
                                          "--wait-s", "60",    NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, &out), 0, "discover failed: %s", out);
    cr_assert(strstr(out, "found 3 unowned") != NULL, "discovery: %s", out);
    free(out);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    free(out);

    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    static const char *const list[] = {"--json", "devices", NULL};
    cr_assert_eq(s_ctl(list, &out), 0);
    char *objs[16];
    size_t n = obt_json_objects(out, objs, 16);
    free(out);
    cr_assert_eq(n, N_DEVICES);
    for (size_t i = 0; i < n; i++) {
        char state[32], cipher[64];
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        cr_assert_str_eq(state, "RFNOP");
        cr_assert(obt_json_str(objs[i], "cipher", cipher, sizeof cipher));
        cr_assert_str_eq(cipher, "ECDH-ANON-AES128-CBC-SHA256", "DOC cipher: %s", cipher);
        free(objs[i]);
    }
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    n = obt_devsim_dump(s_dir, objs, 16);
    cr_assert_eq(n, N_DEVICES);
    for (size_t i = 0; i < n; i++) {
        char why[300];
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        free(objs[i]);
    }
}
