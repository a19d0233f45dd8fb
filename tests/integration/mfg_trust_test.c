/* mfg_trust_test.c — obtctl mfg-trust add|list|rm against a real DOTS: CA
 * certificates are kept across a restart, a non-CA certificate or garbage is refused
 * with a reason and stores nothing, removal by id prefix. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_certs.h"
#include "obt_json.h"
#include "obt_support.h"

static char *s_dir;
static obt_suite_t s_suite;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("mfgtrust");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, NULL, &s_dir);
}

/* `obtctl --json mfg-trust list`: number of anchors, first id in id (if any). */
static size_t
s_list(char *id, size_t cap)
{
    static const char *const list[] = {"--json", "mfg-trust", "list", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, list, &out), 0);
    char *objs[16];
    size_t n = obt_json_objects(out, objs, 16);
    if (n > 0 && id) {
        cr_assert(obt_json_str(objs[0], "id", id, cap));
    }
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
    free(out);
    return n;
}

Test(mfg_trust, add_list_restart_remove, .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    obt_cert_t root, ca, leaf;
    obt_cert_opts_t r = obt_cert_root_opts("Acme Devices Root");
    obt_cert_opts_t c = obt_cert_ca_opts("Acme Factory CA");
    obt_cert_opts_t l = obt_cert_leaf_opts("8f0e5d2a-6b1c-4a3e-9d7f-1a2b3c4d5e6f");
    cr_assert_eq(obt_cert_make(&root, &r, NULL), 0);
    cr_assert_eq(obt_cert_make(&ca, &c, &root), 0);
    cr_assert_eq(obt_cert_make(&leaf, &l, &ca), 0);
    char roots[700], bad[700], junk[700];
    (void) snprintf(roots, sizeof roots, "%s/roots.pem", s_dir);
    (void) snprintf(bad, sizeof bad, "%s/leaf.pem", s_dir);
    (void) snprintf(junk, sizeof junk, "%s/junk.pem", s_dir);
    const obt_cert_t *both[] = {&root, &ca};
    const obt_cert_t *only_leaf[] = {&root, &leaf};
    cr_assert_eq(obt_cert_write_pem(roots, both, 2), 0);
    cr_assert_eq(obt_cert_write_pem(bad, only_leaf, 2), 0);
    FILE *fp = fopen(junk, "w");
    cr_assert_not_null(fp);
    fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", fp);
    fclose(fp);

    cr_assert_eq(s_list(NULL, 0), 0, "a new DOTS has no anchors");

    /* A bundle with a non-CA certificate is refused whole (usage error, exit 2). */
    const char *add_bad[] = {"mfg-trust", "add", bad, NULL};
    cr_expect_eq(obt_ctl(&s_suite, add_bad, NULL), 2);
    const char *add_junk[] = {"mfg-trust", "add", junk, NULL};
    cr_expect_eq(obt_ctl(&s_suite, add_junk, NULL), 2);
    cr_assert_eq(s_list(NULL, 0), 0, "a refused bundle must store nothing");

    const char *add[] = {"--json", "mfg-trust", "add", roots, NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, add, &out), 0);
    cr_expect(strstr(out, "Acme Devices Root") && strstr(out, "Acme Factory CA"), "%s", out);
    cr_expect(strstr(out, "oic.sec.cred.mfgtrustca") != NULL, "%s", out);
    free(out);
    /* Adding the same certificates again replaces them: still two. */
    cr_assert_eq(obt_ctl(&s_suite, add, NULL), 0);
    cr_assert_eq(s_list(NULL, 0), 2);

    cr_assert_eq(obt_suite_restart(&s_suite, "dots", NULL), 0);
    char id[80];
    cr_assert_eq(s_list(id, sizeof id), 2, "anchors must survive a restart");
    cr_assert_eq(strlen(id), 64);

    const char *rm_short[] = {"mfg-trust", "rm", "abc", NULL};
    cr_expect_eq(obt_ctl(&s_suite, rm_short, NULL), 2);
    const char *rm_unknown[] = {"mfg-trust", "rm", "0000000000000000", NULL};
    if (strncmp(id, "0000000000000000", 16) != 0) {
        cr_expect_eq(obt_ctl(&s_suite, rm_unknown, NULL), 3);
    }
    id[12] = '\0'; /* a unique prefix */
    const char *rm[] = {"mfg-trust", "rm", id, NULL};
    cr_assert_eq(obt_ctl(&s_suite, rm, NULL), 0);
    cr_assert_eq(s_list(NULL, 0), 1);
    cr_expect_eq(obt_ctl(&s_suite, rm, NULL), 3, "removed twice");

    obt_cert_free(&leaf);
    obt_cert_free(&ca);
    obt_cert_free(&root);
}
