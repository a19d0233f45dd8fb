/* ctl_args_test.c — obtctl's argument checks: bounded numbers, UUIDs, missing files,
 * global options after the command */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_main.h"

static const struct option s_globals[] = {{"keys-dir", required_argument, NULL, 'k'},
                                          {"timeout-ms", required_argument, NULL, 't'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};

Test(ctl_args, whole_numbers_in_range_are_accepted)
{
    int v = -1;
    cr_assert_eq(ctl_args_int("--n", "50", 50, 60000, &v), 0);
    cr_assert_eq(v, 50);
    cr_assert_eq(ctl_args_int("--n", "60000", 50, 60000, &v), 0);
    cr_assert_eq(v, 60000);
    long l = 0;
    cr_assert_eq(ctl_args_long("--n", "-7", -10, 10, &l), 0);
    cr_assert_eq(l, -7);
}

Test(ctl_args, text_trailing_characters_and_empty_are_usage_errors)
{
    int v = 1234;
    cr_assert_eq(ctl_args_int("--window-ms", "abc", 50, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", "5x", 1, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", "", 1, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", "10 ", 1, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", NULL, 1, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(v, 1234, "*ret is written only on success");
}

Test(ctl_args, out_of_range_and_overflow_are_usage_errors)
{
    int v = 1234;
    cr_assert_eq(ctl_args_int("--window-ms", "99999999999", 50, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", "99999999999999999999999", 50, 60000, &v),
                 CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", "49", 50, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--window-ms", "60001", 50, 60000, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--wait-s", "-1", 1, 86400, &v), CTL_EXIT_USAGE);
    cr_assert_eq(ctl_args_int("--n", "2147483648", INT_MIN, INT_MAX, &v), CTL_EXIT_USAGE);
    cr_assert_eq(v, 1234);
}

Test(ctl_args, uuids_are_checked_for_form)
{
    char good[] = "0685B960-736F-46F7-BEC0-9E6CBD61ADC1";
    char lower[] = "0685b960-736f-46f7-bec0-9e6cbd61adc1";
    char *ok[] = {good, lower};
    cr_assert_eq(ctl_args_check_uuids("show", ok, 2), 0);
    char bad1[] = "not-a-uuid", bad2[] = "0685b960736f46f7bec09e6cbd61adc1",
         bad3[] = "0685b960-736f-46f7-bec0-9e6cbd61adc1x", bad4[] = "";
    char *bad[] = {bad1, bad2, bad3, bad4};
    for (size_t i = 0; i < 4; i++) {
        char *one[] = {good, bad[i]};
        cr_assert_eq(ctl_args_check_uuids("show", one, 2), CTL_EXIT_USAGE, "%s", bad[i]);
    }
}

Test(ctl_args, a_missing_file_is_not_found_other_errors_failed)
{
    cr_assert_eq(ctl_args_file_error("--pin-file", "/nonexistent/pin", ENOENT), CTL_EXIT_NOTFOUND);
    cr_assert_eq(ctl_args_file_error("mfg-trust add", "/root/x.pem", EACCES), CTL_EXIT_FAILED);
}

/* argv as one string, space-separated (for the assertions). */
static void
s_join(int argc, char **argv, char *out, size_t len)
{
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        (void) strncat(out, i ? " " : "", len - strlen(out) - 1);
        (void) strncat(out, argv[i], len - strlen(out) - 1);
    }
}

static void
s_hoist(const char *in, const char *want)
{
    char buf[512], got[512];
    char *argv[32];
    int argc = 0;
    (void) snprintf(buf, sizeof buf, "%s", in);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < 32;
         t = strtok_r(NULL, " ", &save)) {
        argv[argc++] = t;
    }
    ctl_args_hoist(argc, argv, s_globals);
    s_join(argc, argv, got, sizeof got);
    cr_assert_str_eq(got, want);
}

Test(ctl_args, global_options_after_the_command_move_before_it)
{
    s_hoist("obtctl devices --json", "obtctl --json devices");
    s_hoist("obtctl show U --json", "obtctl --json show U");
    s_hoist("obtctl --keys-dir k devices --state RFNOP --json",
            "obtctl --keys-dir k --json devices --state RFNOP");
    s_hoist("obtctl health --keys-dir k2 --timeout-ms 300 dots",
            "obtctl --keys-dir k2 --timeout-ms 300 health dots");
    s_hoist("obtctl health --timeout-ms=300", "obtctl --timeout-ms=300 health");
}

Test(ctl_args, command_options_help_and_after_dashdash_stay)
{
    s_hoist("obtctl devices --help", "obtctl devices --help");
    s_hoist("obtctl onboard U --otm rdp --wait-s 5", "obtctl onboard U --otm rdp --wait-s 5");
    s_hoist("obtctl watch -- --json", "obtctl watch -- --json");
    s_hoist("obtctl --json devices", "obtctl --json devices");
    s_hoist("obtctl --keys-dir devices", "obtctl --keys-dir devices"); /* value, no command */
}
