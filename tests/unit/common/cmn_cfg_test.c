/* cmn_cfg_test.c — configuration sources, precedence and error reporting */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_cfg.h"

typedef struct {
    char *name;
    char *secret;
    int port;
    int count;
    bool verbose;
} conf_t;

static const cmn_cfg_opt_t s_opts[] = {
        {"name", CMN_CFG_STR, offsetof(conf_t, name), "dflt", 0, 0, 0, "a name"},
        {"secret", CMN_CFG_STR, offsetof(conf_t, secret), NULL, CMN_CFG_SECRET, 0, 0, "a secret"},
        {"port", CMN_CFG_INT, offsetof(conf_t, port), "5683", 0, 1, 65535, "listen port"},
        {"count", CMN_CFG_INT, offsetof(conf_t, count), "7", 0, 1, 0, "unbounded count"},
        {"verbose", CMN_CFG_BOOL, offsetof(conf_t, verbose), NULL, 0, 0, 0, "chatty"},
};
#define N_OPTS (sizeof s_opts / sizeof s_opts[0])

static const cmn_cfg_opt_t s_req_opts[] = {
        {"store-dir", CMN_CFG_STR, offsetof(conf_t, name), NULL, CMN_CFG_REQUIRED, 0, 0, "store"},
};

static char s_dir[64];
static char s_file[128];
static char s_out[128];

static void
s_setup(void)
{
    strcpy(s_dir, "/tmp/cmn_cfg_test.XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    (void) snprintf(s_file, sizeof s_file, "%s/conf", s_dir);
    (void) snprintf(s_out, sizeof s_out, "%s/out", s_dir);
    const char *vars[] = {
            "OBT_TESTD_NAME",    "OBT_NAME",    "OBT_TESTD_PORT",      "OBT_PORT",
            "OBT_TESTD_VERBOSE", "OBT_VERBOSE", "OBT_TESTD_STORE_DIR", "OBT_STORE_DIR",
            "OBT_TESTD_COUNT",   "OBT_COUNT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        (void) unsetenv(vars[i]);
    }
}

static void
s_teardown(void)
{
    (void) unlink(s_file);
    (void) unlink(s_out);
    (void) rmdir(s_dir);
}

TestSuite(cmn_cfg, .init = s_setup, .fini = s_teardown);

static void
s_write_file(const char *text)
{
    FILE *fp = fopen(s_file, "w");
    cr_assert_not_null(fp);
    cr_assert_geq(fputs(text, fp), 0);
    cr_assert_eq(fclose(fp), 0);
}

/* Runs cmn_cfg_load with fd (1 or 2) captured into out. */
static cmn_cfg_result_t
s_load(const cmn_cfg_opt_t *opts,
       size_t n,
       conf_t *c,
       int fd,
       char *out,
       size_t out_len,
       const char *const *args)
{
    /* a mutable copy, as main() would get it */
    char *argv[16] = {NULL};
    int argc = 0;
    for (; args[argc] != NULL; argc++) {
        cr_assert_lt(argc, 15);
        argv[argc] = strdup(args[argc]);
        cr_assert_not_null(argv[argc]);
    }
    (void) fflush(stdout);
    (void) fflush(stderr);
    int saved = dup(fd);
    FILE *cap = fopen(s_out, "w+");
    cr_assert_not_null(cap);
    cr_assert_geq(dup2(fileno(cap), fd), 0);
    cmn_cfg_result_t r = cmn_cfg_load(opts, n, c, "testd", "usage: testd [options]", argc, argv);
    (void) fflush(stdout);
    (void) fflush(stderr);
    cr_assert_geq(dup2(saved, fd), 0);
    (void) close(saved);
    rewind(cap);
    size_t got = fread(out, 1, out_len - 1, cap);
    out[got] = '\0';
    (void) fclose(cap);
    for (int i = 0; i < argc; i++) {
        free(argv[i]);
    }
    return r;
}

#define ARGV(...) ((const char *const[]){"testd", __VA_ARGS__, NULL})

Test(cmn_cfg, defaults)
{
    conf_t c = {0};
    char out[4096];
    const char *const argv[] = {"testd", NULL};
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 2, out, sizeof out, argv), CMN_CFG_OK);
    cr_assert_str_eq(c.name, "dflt");
    cr_assert_str_eq(c.secret, "");
    cr_assert_eq(c.port, 5683);
    cr_assert_eq(c.count, 7);
    cr_assert_not(c.verbose);
    cmn_cfg_free(s_opts, N_OPTS, &c);
    cr_assert_null(c.name);
}

Test(cmn_cfg, precedence_default_file_env_argv)
{
    conf_t c = {0};
    char out[4096];
    s_write_file("# comment\nname = fromfile\nport = 1000\ncount = 1\n\nverbose = true\n");
    cr_assert_eq(setenv("OBT_PORT", "2000", 1), 0);      /* generic env beats file */
    cr_assert_eq(setenv("OBT_COUNT", "30", 1), 0);       /* generic env */
    cr_assert_eq(setenv("OBT_TESTD_COUNT", "40", 1), 0); /* program env beats generic */
    cr_assert_eq(setenv("OBT_TESTD_NAME", "fromenv", 1), 0);
    const char *const *argv = ARGV("--config", s_file, "--name=fromargv", "--no-verbose");
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 2, out, sizeof out, argv), CMN_CFG_OK, "%s", out);
    cr_assert_str_eq(c.name, "fromargv");
    cr_assert_eq(c.port, 2000);
    cr_assert_eq(c.count, 40);
    cr_assert_not(c.verbose);
    cmn_cfg_free(s_opts, N_OPTS, &c);

    /* file alone beats the default; argv with a separate value */
    conf_t d = {0};
    (void) unsetenv("OBT_PORT");
    const char *const *argv2 = ARGV("--config", s_file, "--secret", "s3");
    cr_assert_eq(s_load(s_opts, N_OPTS, &d, 2, out, sizeof out, argv2), CMN_CFG_OK);
    cr_assert_eq(d.port, 1000);
    cr_assert(d.verbose);
    cr_assert_str_eq(d.name, "fromenv");
    cr_assert_str_eq(d.secret, "s3");
    cmn_cfg_free(s_opts, N_OPTS, &d);
}

Test(cmn_cfg, bad_int_names_option_and_source)
{
    conf_t c = {0};
    char out[4096];
    cr_assert_eq(setenv("OBT_TESTD_PORT", "12x", 1), 0);
    const char *const argv[] = {"testd", NULL};
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 2, out, sizeof out, argv), CMN_CFG_ERROR);
    cr_assert_not_null(strstr(out, "port"), "%s", out);
    cr_assert_not_null(strstr(out, "OBT_TESTD_PORT"), "%s", out);
    cr_assert_not_null(strstr(out, "12x"), "%s", out);
    cmn_cfg_free(s_opts, N_OPTS, &c);
}

Test(cmn_cfg, out_of_range)
{
    conf_t c = {0};
    char out[4096];
    const char *const *argv = ARGV("--port", "70000");
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 2, out, sizeof out, argv), CMN_CFG_ERROR);
    cr_assert_not_null(strstr(out, "--port"), "%s", out);
    cr_assert_not_null(strstr(out, "command line"), "%s", out);
    cr_assert_not_null(strstr(out, "1..65535"), "%s", out);
    cmn_cfg_free(s_opts, N_OPTS, &c);
}

Test(cmn_cfg, out_of_range_in_file)
{
    conf_t c = {0};
    char out[4096];
    s_write_file("port = 0\n");
    const char *const *argv = ARGV("--config", s_file);
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 2, out, sizeof out, argv), CMN_CFG_ERROR);
    cr_assert_not_null(strstr(out, "--port"), "%s", out);
    cr_assert_not_null(strstr(out, s_file), "%s", out);
    cmn_cfg_free(s_opts, N_OPTS, &c);
}

Test(cmn_cfg, unknown_option)
{
    conf_t c = {0};
    char out[4096];
    const char *const *argv = ARGV("--bogus", "1");
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 2, out, sizeof out, argv), CMN_CFG_ERROR);
    cr_assert_not_null(strstr(out, "--bogus"), "%s", out);
    cmn_cfg_free(s_opts, N_OPTS, &c);

    conf_t d = {0};
    s_write_file("bogus = 1\n");
    const char *const *argv2 = ARGV("--config", s_file);
    cr_assert_eq(s_load(s_opts, N_OPTS, &d, 2, out, sizeof out, argv2), CMN_CFG_ERROR);
    cr_assert_not_null(strstr(out, "bogus"), "%s", out);
    cmn_cfg_free(s_opts, N_OPTS, &d);

    conf_t e = {0};
    const char *const *argv3 = ARGV("positional");
    cr_assert_eq(s_load(s_opts, N_OPTS, &e, 2, out, sizeof out, argv3), CMN_CFG_ERROR);
    cmn_cfg_free(s_opts, N_OPTS, &e);
}

Test(cmn_cfg, required_missing_then_given)
{
    conf_t c = {0};
    char out[4096];
    const char *const argv[] = {"testd", NULL};
    cr_assert_eq(s_load(s_req_opts, 1, &c, 2, out, sizeof out, argv), CMN_CFG_ERROR);
    cr_assert_not_null(strstr(out, "--store-dir"), "%s", out);
    cr_assert_not_null(strstr(out, "required"), "%s", out);
    cmn_cfg_free(s_req_opts, 1, &c);

    conf_t d = {0};
    cr_assert_eq(setenv("OBT_STORE_DIR", "/var/x", 1), 0);
    cr_assert_eq(s_load(s_req_opts, 1, &d, 2, out, sizeof out, argv), CMN_CFG_OK, "%s", out);
    cr_assert_str_eq(d.name, "/var/x");
    cmn_cfg_free(s_req_opts, 1, &d);
}

Test(cmn_cfg, help_prints_usage_and_table)
{
    conf_t c = {0};
    char out[8192];
    const char *const *argv = ARGV("--port", "1", "--help");
    cr_assert_eq(s_load(s_opts, N_OPTS, &c, 1, out, sizeof out, argv), CMN_CFG_HELP);
    cr_assert_not_null(strstr(out, "usage: testd [options]"), "%s", out);
    cr_assert_not_null(strstr(out, "--port"), "%s", out);
    cr_assert_not_null(strstr(out, "listen port"), "%s", out);
    cr_assert_not_null(strstr(out, "5683"), "%s", out);
    cr_assert_not_null(strstr(out, "OBT_TESTD_"), "%s", out);
    cmn_cfg_free(s_opts, N_OPTS, &c);
}
