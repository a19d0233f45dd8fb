/* dots_partition_test.c — --partition K/G: what is accepted, and a device's part as
 * the rule of docs/scaling.md gives it (values from sha256sum, not from the code) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dots_partition.h"

Test(dots_partition, parse_accepts_k_of_g)
{
    dots_partition_t p;
    char why[160];
    cr_assert_eq(dots_partition_parse("", &p, why, sizeof why), 0);
    cr_assert_eq(p.g, 0, "\"\": no partition");
    cr_assert_eq(dots_partition_parse("0/1", &p, why, sizeof why), 0);
    cr_assert(p.k == 0 && p.g == 1);
    cr_assert_eq(dots_partition_parse("3/4", &p, why, sizeof why), 0);
    cr_assert(p.k == 3 && p.g == 4);
    cr_assert_eq(dots_partition_parse("1023/1024", &p, why, sizeof why), 0);
}

Test(dots_partition, parse_refuses_with_the_reason)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
            {"2/2", "K must be 0..1"},
            {"0/0", "G must be 1..1024"},
            {"0/1025", "G must be 1..1024"},
            {"1", "is not K/G"},
            {"/2", "is not K/G"},
            {"1/", "is not K/G"},
            {"-1/2", "is not K/G"},
            {"1/2x", "is not K/G"},
            {"a/b", "is not K/G"},
            {"99999999/2", "is not K/G"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dots_partition_t p = {.k = 7, .g = 9};
        char why[160] = "";
        cr_assert_eq(dots_partition_parse(bad[i].text, &p, why, sizeof why), -1, "%s accepted",
                     bad[i].text);
        cr_assert(strstr(why, bad[i].why) != NULL, "%s: \"%s\"", bad[i].text, why);
        cr_assert_eq(p.g, 0, "%s: left a partition set", bad[i].text);
    }
}

/* printf %s 3f2c1b9a-0d4e-4c1a-9b7e-2a6f5e8d7c10 | sha256sum: f665f9a8cabd812b...;
 * 0xf665f9a8cabd812b mod 2 = 1, mod 3 = 1, mod 7 = 6, mod 1024 = 299 */
Test(dots_partition, part_of_a_uuid_is_its_sha256_mod_g)
{
    const char *u = "3f2c1b9a-0d4e-4c1a-9b7e-2a6f5e8d7c10";
    cr_assert_eq(dots_partition_of(u, 2), 1);
    cr_assert_eq(dots_partition_of(u, 3), 1);
    cr_assert_eq(dots_partition_of(u, 7), 6);
    cr_assert_eq(dots_partition_of(u, 1024), 299);
    cr_assert_eq(dots_partition_of("3F2C1B9A-0D4E-4C1A-9B7E-2A6F5E8D7C10", 7), 6,
                 "a uuid in capitals is the same device");
    cr_assert_eq(dots_partition_of(u, 1), 0);
    dots_partition_t mine = {.k = 1, .g = 2}, other = {.k = 0, .g = 2}, all = {0, 0};
    cr_assert(dots_partition_has(&mine, u));
    cr_assert_not(dots_partition_has(&other, u));
    cr_assert(dots_partition_has(&all, u), "no partition takes every device");
}

/* Each of G groups gets about 1/G of 4 000 uuids: none empty, none over twice its share. */
Test(dots_partition, parts_spread_the_devices)
{
    unsigned count[4] = {0};
    for (unsigned i = 0; i < 4000; i++) {
        char u[40];
        (void) snprintf(u, sizeof u, "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
        int part = dots_partition_of(u, 4);
        cr_assert(part >= 0 && part < 4);
        count[part]++;
    }
    for (int k = 0; k < 4; k++) {
        cr_assert(count[k] > 500 && count[k] < 2000, "part %d: %u of 4000", k, count[k]);
    }
}
