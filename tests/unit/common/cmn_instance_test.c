/* cmn_instance_test.c — the store lock (D63, D96): one instance per store unless every
 * instance on it shares it */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_instance.h"
#include "obt_support.h"

static char *s_dir;
static char s_store[600];

static void
s_setup(void)
{
    s_dir = obt_tmpdir("instance");
    cr_assert_not_null(s_dir);
    (void) snprintf(s_store, sizeof s_store, "%s/store", s_dir);
}

static void
s_teardown(void)
{
    obt_rmrf(s_dir);
    free(s_dir);
}

TestSuite(cmn_instance, .init = s_setup, .fini = s_teardown);

Test(cmn_instance, a_second_plain_instance_is_refused_with_the_holders_pid)
{
    char why[512] = "", want[64];
    cmn_instance_t *a = cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why);
    cr_assert_not_null(a, "%s", why);
    cr_assert_null(cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why));
    (void) snprintf(want, sizeof want, "in use by pid %ld", (long) getpid());
    cr_assert(strstr(why, want) != NULL, "%s", why);
    cmn_instance_destroy(&a);
    cmn_instance_t *b = cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why);
    cr_assert_not_null(b, "free again once the first is gone: %s", why);
    cmn_instance_destroy(&b);
}

Test(cmn_instance, a_plain_instance_is_refused_beside_a_shared_one)
{
    char why[512] = "", want[96];
    cmn_instance_t *a = cmn_instance_open(NULL, s_store, true, "cms-a", why, sizeof why);
    cr_assert_not_null(a, "%s", why);
    cr_assert_null(cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why));
    (void) snprintf(want, sizeof want, "in use by shared instances: pid %ld (cms-a)",
                    (long) getpid());
    cr_assert(strstr(why, want) != NULL, "%s", why);
    cr_assert(strstr(why, "--shared-store") != NULL, "%s", why);
    cmn_instance_destroy(&a);
    char own[700];
    (void) snprintf(own, sizeof own, "%s/obt.instance.%ld", s_store, (long) getpid());
    cr_assert_neq(access(own, F_OK), 0, "its own file goes with it");
    cmn_instance_t *b = cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why);
    cr_assert_not_null(b, "%s", why);
    cmn_instance_destroy(&b);
}

Test(cmn_instance, a_shared_instance_is_refused_beside_a_plain_one)
{
    char why[512] = "", want[96];
    cmn_instance_t *a = cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why);
    cr_assert_not_null(a, "%s", why);
    cr_assert_null(cmn_instance_open(NULL, s_store, true, "cms-b", why, sizeof why));
    (void) snprintf(want, sizeof want, "in use by pid %ld, not started with --shared-store",
                    (long) getpid());
    cr_assert(strstr(why, want) != NULL, "%s", why);
    cmn_instance_destroy(&a);
}

Test(cmn_instance, the_file_of_a_dead_shared_instance_names_nobody)
{
    char why[512] = "";
    char stale[700];
    (void) snprintf(stale, sizeof stale, "%s/obt.instance.999999", s_store);
    cmn_instance_t *a = cmn_instance_open(NULL, s_store, true, "cms-a", why, sizeof why);
    cr_assert_not_null(a, "%s", why);
    FILE *f = fopen(stale, "w"); /* what a kill -9 leaves: nobody holds its lock */
    cr_assert_not_null(f);
    (void) fputs("999999 cms-dead\n", f);
    (void) fclose(f);
    cr_assert_null(cmn_instance_open(NULL, s_store, false, NULL, why, sizeof why));
    cr_assert(strstr(why, "cms-dead") == NULL, "%s", why);
    cr_assert(strstr(why, "(cms-a)") != NULL, "%s", why);
    cr_assert_neq(access(stale, F_OK), 0, "removed on the way");
    cmn_instance_destroy(&a);
}
