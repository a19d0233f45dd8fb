/* partition_test.c — instance groups across hosts, simulated on one machine
 * (docs/scaling.md "Across hosts"): two groups, each a gateway, DOTS, CMS and AMS with
 * stores of their own, on one device network. Group K runs obt-dots --partition K/2 and
 * takes only the devices whose first uuid's SHA-256 (computed here by sha256sum, not by
 * the code under test) is K modulo 2: each group records and onboards its own, no device
 * is taken by both, every device ends onboarded by its group, and the other group's
 * device is refused by name. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 16

static char *s_dir[2];
static obt_suite_t s_group[2];
static obt_proc_t s_sim;

static void
s_teardown(void)
{
    obt_test_end(&s_group[1], NULL, &s_dir[1]);
    obt_test_end(&s_group[0], &s_sim, &s_dir[0]);
}

/* The part of uuid among 2 groups: the first 8 bytes of sha256sum of its text, mod 2
 * (the last hex digit of those 16 decides the parity). */
static int
s_part_of(const char *uuid)
{
    char cmd[128], out[80] = "";
    (void) snprintf(cmd, sizeof cmd, "printf %%s '%s' | sha256sum", uuid);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(out, sizeof out, f));
    (void) pclose(f);
    cr_assert_gt(strlen(out), 16);
    char digit[2] = {out[15], '\0'};
    return (int) (strtoul(digit, NULL, 16) & 1u);
}

/* The first uuids of group g's records, and their states. */
static size_t
s_records(int g, char uuids[][40], char states[][24], size_t max)
{
    char *out = NULL;
    const char *args[] = {"--json", "devices", NULL};
    cr_assert_eq(obt_ctl(&s_group[g], args, &out), 0, "%s", out ? out : "");
    char *objs[N_DEVICES + 8];
    size_t n = obt_json_objects(out, objs, N_DEVICES + 8);
    free(out);
    cr_assert_leq(n, max);
    for (size_t i = 0; i < n; i++) {
        cr_assert_not_null(obt_json_str(objs[i], "first_uuid", uuids[i], 40));
        cr_assert_not_null(obt_json_str(objs[i], "state", states[i], 24));
        free(objs[i]);
    }
    return n;
}

Test(partition, two_groups_split_the_devices_by_first_uuid, .fini = s_teardown, .timeout = 300)
{
    static const char *const part0[] = {"--partition", "0/2", NULL};
    static const char *const part1[] = {"--partition", "1/2", NULL};
    s_dir[0] = obt_tmpdir("partition-g0");
    s_dir[1] = obt_tmpdir("partition-g1");
    cr_assert(s_dir[0] && s_dir[1]);
    cr_assert_eq(obt_suite_start(&s_group[0], s_dir[0], part0), 0);
    cr_assert_eq(obt_suite_start(&s_group[1], s_dir[1], part1), 0);
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir[0], N_DEVICES, NULL), 0);

    /* each group discovers every device and records only its part */
    char uuids[2][N_DEVICES + 8][40], states[2][N_DEVICES + 8][24];
    size_t n[2] = {0, 0};
    for (int round = 0; round < 5 && n[0] + n[1] < N_DEVICES; round++) {
        for (int g = 0; g < 2; g++) {
            char *out = NULL;
            const char *args[] = {"discover", "--window-ms", "500", NULL};
            cr_assert_eq(obt_ctl(&s_group[g], args, &out), 0, "%s", out ? out : "");
            cr_expect_not_null(strstr(out, "of other DOTS groups' parts: left to them"),
                               "group %d's discovery did not say what it left: %s", g, out);
            free(out);
            n[g] = s_records(g, uuids[g], states[g], N_DEVICES + 8);
        }
    }
    cr_assert_eq(n[0] + n[1], N_DEVICES, "group 0 recorded %zu, group 1 %zu, of %d devices", n[0],
                 n[1], N_DEVICES);
    cr_assert(n[0] > 0 && n[1] > 0, "one group got no device: %zu / %zu", n[0], n[1]);
    for (int g = 0; g < 2; g++) {
        for (size_t i = 0; i < n[g]; i++) {
            cr_assert_eq(s_part_of(uuids[g][i]), g, "group %d recorded %s, of part %d", g,
                         uuids[g][i], 1 - g);
            for (size_t j = 0; j < n[1 - g]; j++) {
                cr_assert_str_neq(uuids[g][i], uuids[1 - g][j], "both groups recorded %s",
                                  uuids[g][i]);
            }
        }
    }

    /* the other group's device, named: refused with whose it is, nothing approved */
    char cmd[4096], said[4096] = "";
    (void) snprintf(cmd, sizeof cmd, "%s/obtctl --keys-dir %s --dots %s approve %s 2>&1",
                    OBT_BIN_DIR, s_group[0].keys, s_group[0].ep_dots, uuids[1][0]);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = fread(said, 1, sizeof said - 1, p);
    said[got] = '\0';
    int status = pclose(p);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 3, "exit %d: %s", status, said);
    cr_expect_not_null(strstr(said, "another DOTS group's (this one serves 0/2"), "%s", said);
    char st[N_DEVICES + 8][24], us[N_DEVICES + 8][40];
    cr_expect_eq(s_records(0, us, st, N_DEVICES + 8), n[0], "group 0 recorded the device");

    /* each group onboards its own */
    for (int g = 0; g < 2; g++) {
        char *out = NULL;
        const char *approve[] = {"approve", "--all", NULL};
        cr_assert_eq(obt_ctl(&s_group[g], approve, &out), 0, "%s", out ? out : "");
        free(out);
        out = NULL;
        const char *onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
        int rc = obt_ctl(&s_group[g], onboard, &out);
        if (rc != 0) {
            obt_suite_dump(&s_group[g]);
        }
        cr_assert_eq(rc, 0, "group %d: %s", g, out ? out : "");
        free(out);
    }

    /* every device onboarded, each by its own group (its DOTS, CMS, AMS, its owner key) */
    obt_ids_t ids[2];
    char store[2][600];
    for (int g = 0; g < 2; g++) {
        cr_assert_eq(obt_ids(&s_group[g], &ids[g]), 0);
        (void) snprintf(store[g], sizeof store[g], "%s/dots-store", s_dir[g]);
        size_t m = s_records(g, uuids[g], states[g], N_DEVICES + 8);
        cr_assert_eq(m, n[g], "group %d's records changed: %zu, were %zu", g, m, n[g]);
        for (size_t i = 0; i < m; i++) {
            cr_expect_str_eq(states[g][i], "RFNOP", "group %d: %s", g, uuids[g][i]);
        }
    }
    cr_assert_str_neq(ids[0].dots, ids[1].dots);
    char *objs[N_DEVICES + 4];
    size_t dumped = obt_devsim_dump(s_dir[0], objs, N_DEVICES + 4);
    cr_assert_eq(dumped, N_DEVICES);
    size_t by[2] = {0, 0};
    for (size_t i = 0; i < dumped; i++) {
        char why[2][300] = {"", ""};
        bool ok0 = obt_check_onboarded(objs[i], &ids[0], store[0], why[0], sizeof why[0]);
        bool ok1 = obt_check_onboarded(objs[i], &ids[1], store[1], why[1], sizeof why[1]);
        cr_expect(ok0 != ok1, "device %zu: group 0 says \"%s\", group 1 \"%s\"", i, why[0], why[1]);
        by[ok0 ? 0 : 1] += ok0 != ok1;
        free(objs[i]);
    }
    cr_expect(by[0] == n[0] && by[1] == n[1],
              "devices onboarded by group 0: %zu (its part: %zu), by group 1: %zu (%zu)", by[0],
              n[0], by[1], n[1]);
}
