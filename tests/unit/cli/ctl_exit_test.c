/* ctl_exit_test.c — obtctl's exit codes: the table in docs/cli.md and `obtctl --help`
 * is CTL_EXIT_TABLE, and every row is what obtctl returns in a case of its kind (the
 * cases that need no daemon; tests/integration/operator_test.c runs the others) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_main.h"
#include "obt_support.h"

/* Runs `obtctl ARGS` (a shell word list) with stdout and stderr in *ret_out (caller
 * frees); the exit code. */
static int
s_ctl(const char *args, char **ret_out)
{
    char cmd[2048];
    (void) snprintf(cmd, sizeof cmd, "%s/obtctl %s 2>&1", OBT_BIN_DIR, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    cr_assert_not_null(out);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
    }
    int status = pclose(p);
    *ret_out = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The rows between the exit-codes markers of docs/cli.md, "code|text" each. */
static size_t
s_doc_rows(int *codes, char texts[][160], size_t cap)
{
    FILE *f = fopen(OBT_SOURCE_DIR "/docs/cli.md", "r");
    cr_assert_not_null(f, "docs/cli.md");
    char line[512];
    bool in = false;
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "<!-- exit-codes: begin -->")) {
            in = true;
        } else if (strstr(line, "<!-- exit-codes: end -->")) {
            break;
        } else if (in && n < cap && sscanf(line, "| %d | %159[^|\n]", &codes[n], texts[n]) == 2) {
            size_t l = strlen(texts[n]);
            while (l > 0 && texts[n][l - 1] == ' ') {
                texts[n][--l] = '\0';
            }
            n++;
        }
    }
    (void) fclose(f);
    return n;
}

Test(ctl_exit, docs_table_is_the_code_table)
{
    int codes[16];
    char texts[16][160];
    size_t n_doc = s_doc_rows(codes, texts, 16);
    size_t n = 0;
    const ctl_exit_row_t *rows = ctl_exit_rows(&n);
    cr_assert_eq(n_doc, n, "docs/cli.md has %zu exit codes, CTL_EXIT_TABLE %zu", n_doc, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(codes[i], rows[i].code, "row %zu", i);
        cr_assert_str_eq(texts[i], rows[i].text, "code %d", rows[i].code);
    }
}

Test(ctl_exit, help_prints_every_row)
{
    char *out = NULL;
    cr_assert_eq(s_ctl("--help", &out), CTL_EXIT_OK);
    size_t n = 0;
    const ctl_exit_row_t *rows = ctl_exit_rows(&n);
    for (size_t i = 0; i < n; i++) {
        char want[256];
        (void) snprintf(want, sizeof want, "  %-3d %s\n", rows[i].code, rows[i].text);
        cr_assert_not_null(strstr(out, want), "--help lacks \"%s\"", want);
    }
    free(out);
}

static char *s_dir;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("ctl-exit");
    cr_assert_not_null(s_dir);
}

static void
s_teardown(void)
{
    obt_rmrf(s_dir);
    free(s_dir);
}

/* Runs obtctl with our keys and endpoints where no daemon listens. */
static int
s_ctl_here(const char *args, char **ret_out)
{
    char full[1536];
    (void) snprintf(full, sizeof full,
                    "--keys-dir %s/keys --gateway ipc://%s/gw --dots ipc://%s/dots --cms "
                    "ipc://%s/cms --ams ipc://%s/ams --timeout-ms 300 %s",
                    s_dir, s_dir, s_dir, s_dir, s_dir, args);
    return s_ctl(full, ret_out);
}

static void
s_expect(const char *args, int code, const char *msg)
{
    char *out = NULL;
    int rc = s_ctl_here(args, &out);
    cr_assert_eq(rc, code, "obtctl %s: exit %d, want %d; output:\n%s", args, rc, code, out);
    cr_assert_not_null(strstr(out, msg), "obtctl %s: no \"%s\" in:\n%s", args, msg, out);
    free(out);
}

Test(ctl_exit, ok_0_and_keys_made_twice_are_kept, .init = s_setup, .fini = s_teardown)
{
    char args[700];
    (void) snprintf(args, sizeof args, "keys --dir %s/keys", s_dir);
    s_expect(args, CTL_EXIT_OK, "secret/obtctl.cert_secret");
    s_expect(args, CTL_EXIT_OK, "kept");
}

Test(ctl_exit, failed_1_half_made_keys, .init = s_setup, .fini = s_teardown)
{
    char args[700], path[700];
    (void) snprintf(args, sizeof args, "keys --dir %s/keys", s_dir);
    s_expect(args, CTL_EXIT_OK, "obtctl");
    (void) snprintf(path, sizeof path, "%s/keys/public/cms.cert", s_dir);
    cr_assert_eq(unlink(path), 0);
    s_expect(args, CTL_EXIT_FAILED, "not cms's");
}

Test(ctl_exit, usage_2, .init = s_setup, .fini = s_teardown)
{
    s_expect("discover --window-ms 99999999999", CTL_EXIT_USAGE, "out of range (50..60000)");
    s_expect("discover --window-ms abc", CTL_EXIT_USAGE, "not a whole number");
    s_expect("discover --window-ms 5x", CTL_EXIT_USAGE, "not a whole number");
    s_expect("discover --rounds 21", CTL_EXIT_USAGE, "--rounds");
    s_expect("onboard --all --wait-s 0", CTL_EXIT_USAGE, "--wait-s");
    s_expect("--timeout-ms 1e3 health", CTL_EXIT_USAGE, "--timeout-ms");
    s_expect("show not-a-uuid", CTL_EXIT_USAGE, "is not a UUID");
    s_expect("show not-a-uuid --json", CTL_EXIT_USAGE, "is not a UUID");
    s_expect("approve 1234", CTL_EXIT_USAGE, "is not a UUID");
    s_expect("onboard 0685b960-736f-46f7-bec0-9e6cbd61adc1 zz", CTL_EXIT_USAGE, "not a UUID");
    s_expect("reset nope", CTL_EXIT_USAGE, "not a UUID");
    s_expect("repair nope", CTL_EXIT_USAGE, "not a UUID");
    s_expect("pin nope --pin-file /dev/null", CTL_EXIT_USAGE, "not a UUID");
    s_expect("frobnicate", CTL_EXIT_USAGE, "unknown command");
}

Test(ctl_exit, notfound_3_missing_files, .init = s_setup, .fini = s_teardown)
{
    char args[700];
    (void) snprintf(args, sizeof args, "mfg-trust add %s/none.pem", s_dir);
    s_expect(args, CTL_EXIT_NOTFOUND, "No such file");
    (void) snprintf(args, sizeof args,
                    "pin 0685b960-736f-46f7-bec0-9e6cbd61adc1 --pin-file %s/none.txt", s_dir);
    s_expect(args, CTL_EXIT_NOTFOUND, "No such file");
}

Test(ctl_exit, timeout_4_nothing_running, .init = s_setup, .fini = s_teardown)
{
    char args[700];
    (void) snprintf(args, sizeof args, "keys --dir %s/keys", s_dir);
    s_expect(args, CTL_EXIT_OK, "obtctl");
    s_expect("devices", CTL_EXIT_TIMEOUT, "not authorised or not running");
    s_expect("devices --json", CTL_EXIT_TIMEOUT, "no answer from dots");
    s_expect("health", CTL_EXIT_TIMEOUT, "DOWN");
}

Test(ctl_exit, config_78_keys_missing, .init = s_setup, .fini = s_teardown)
{
    s_expect("devices", CTL_EXIT_CONFIG, "cannot set up the link to dots");
}
