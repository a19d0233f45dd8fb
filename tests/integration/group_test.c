/* group_test.c — SSM groups through obt-cms (seed 6.4, docs/cms.md "SSM groups"): group
 * create places credtype 128 at the client and 256 at the servers with one idGroup and
 * one master secret, an idGroup distinct from a recipientid already on a member; rekey,
 * rm, delete; refusals; ocf-devsim refusing malformed SSM entries; kill -9 of CMS
 * inside a create; group add of a device on which idGroup is taken (a new id for the
 * whole group); and the reset cascade (the peer's pairwise entry removed, the
 * certificate in the CRL, the group rekeyed). */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_uuid.h"
#include "obt_checks.h"
#include "obt_json.h"

#define S_N 4 /* devices 0..2 take SSM contexts, 3 does not */

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;
static char s_uuid[S_N][40];

/* The first idGroup candidate CMS looks at for a group name (docs/decisions.md D78). */
static void
s_first_candidate(const char *name, char out[15])
{
    uint8_t in[64], md[32];
    size_t len = (size_t) snprintf((char *) in, sizeof in, "obt-ssm-group/%s", name);
    in[len++] = 0;
    in[len++] = 0;
    unsigned md_len = 0;
    cr_assert_eq(EVP_Digest(in, len, md, &md_len, EVP_sha256(), NULL), 1);
    (void) snprintf(out, 15, "02%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4],
                    md[5]);
}

static void
s_start(const char *faults, const char *certs)
{
    s_dir = obt_tmpdir("group");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    const char *extra[] = {"--ssm", "0,1,2", certs ? "--certs" : NULL, certs, NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, S_N, faults, extra), 0);
}

/* Device 1 already holds an OSCORE entry whose recipientid is group g1's first idGroup
 * candidate: CMS must pass it by. */
static void
s_setup(void)
{
    char faults[64], id[15];
    s_first_candidate("g1", id);
    (void) snprintf(faults, sizeof faults, "1:seed-recipientid:%s", id);
    s_start(faults, NULL);
}

/* Device 2 already holds an OSCORE entry whose recipientid is group g3's first idGroup
 * candidate: the id g3 gets at its create, which device 2 is not in (D82). */
static void
s_setup_add_collides(void)
{
    char faults[64], id[15];
    s_first_candidate("g3", id);
    (void) snprintf(faults, sizeof faults, "2:seed-recipientid:%s", id);
    s_start(faults, NULL);
}

/* Device 2 stops the simulator at its first cred POST outside the DOC: the group's. */
static void
s_setup_stop(void)
{
    s_start("2:stop:1:POST:/oic/sec/cred", NULL);
}

static void
s_setup_certs(void)
{
    s_start(NULL, "all");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_onboard(void)
{
    obt_dev_ep_t devs[S_N];
    char why[300];
    cr_assert_eq(obt_onboard_devices(&s_suite, &s_sim, s_dir, S_N, 90, devs, why, sizeof why), 0,
                 "%s", why);
    for (int i = 0; i < S_N; i++) {
        _Static_assert(sizeof s_uuid[i] == sizeof devs[i].uuid, "the same uuid buffer");
        memcpy(s_uuid[i], devs[i].uuid, sizeof s_uuid[i]);
    }
}

/* One SSM entry on device idx (from the dump). */
typedef struct {
    bool is_found;
    char subject[40];
    char sid[17], rid[17];
    char secret[65];
    char desc[80];
} s_entry_t;

/* Device idx's entry of credtype (128 or 256) whose id (senderid for 128, recipientid
 * for 256) is id. */
static s_entry_t
s_entry(int idx, int credtype, const char *id)
{
    s_entry_t e;
    memset(&e, 0, sizeof e);
    char *objs[S_N + 1];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, S_N + 1), S_N);
    char needle[40];
    (void) snprintf(needle, sizeof needle, "\"credtype\":%d,", credtype);
    for (const char *p = strstr(objs[idx], needle); p && !e.is_found; p = strstr(p + 1, needle)) {
        s_entry_t c;
        memset(&c, 0, sizeof c);
        (void) obt_json_str(p, "subjectuuid", c.subject, sizeof c.subject);
        (void) obt_json_str(p, "privatedata_hex", c.secret, sizeof c.secret);
        (void) obt_json_str(p, "senderid", c.sid, sizeof c.sid);
        (void) obt_json_str(p, "recipientid", c.rid, sizeof c.rid);
        (void) obt_json_str(p, "desc", c.desc, sizeof c.desc);
        if (strcmp(credtype == 128 ? c.sid : c.rid, id) == 0) {
            e = c;
            e.is_found = true;
        }
    }
    for (int i = 0; i < S_N; i++) {
        free(objs[i]);
    }
    return e;
}

/* The group's idGroup and secret_version from `obtctl --json groups NAME`. */
static void
s_group(const char *name, char id[15], unsigned *ret_version)
{
    const char *groups[] = {"--json", "groups", name, NULL};
    char *text = NULL;
    cr_assert_eq(obt_ctl(&s_suite, groups, &text), 0, "groups %s", name);
    cr_assert(obt_json_str(text, "id", id, 15), "%s", text);
    const char *sv = strstr(text, "\"secret_version\":");
    cr_assert_not_null(sv);
    *ret_version = (unsigned) strtoul(sv + strlen("\"secret_version\":"), NULL, 10);
    free(text);
}

/* ocf-devsim (6.4, OCF-NOTES 9): a malformed SSM entry, or one on a device without SSM
 * support, is 4.00 and changes nothing; a well-formed one is stored with its desc. */
static void
s_devsim_refuses_malformed_ssm_entries(void)
{
    obt_ids_t ids;
    obt_dev_t dev[S_N];
    char *objs[S_N + 1], why[300];
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    cr_assert_eq(obt_devsim_dump(s_dir, objs, S_N + 1), S_N);
    for (int i = 0; i < S_N; i++) {
        cr_assert_eq(obt_dev_learn(objs[i], &s_sim, i, &ids, &dev[i], why, sizeof why), 0, "%s",
                     why);
        free(objs[i]);
    }
    uint8_t secret[32] = {1};
    cmn_cred_t c = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                               CMN_CRED_HAS_PRIVATEDATA | CMN_CRED_HAS_OSCORE |
                               CMN_CRED_HAS_OSCORE_DESC,
                    .credtype = 256,
                    .priv_data = secret,
                    .priv_len = sizeof secret,
                    .priv_encoding = CMN_ENC_RAW,
                    .recipientid = "02abcd",
                    .desc = "test"};
    (void) cmn_uuid_from_str(s_uuid[0], &c.subjectuuid);
    const obt_dev_t *d1 = &dev[1], *d3 = &dev[3];
#define S_POST(d) obt_post_cred(&ids, (d), &c)
    (void) snprintf(c.senderid, sizeof c.senderid, "02abcd");
    cr_assert_eq(S_POST(d1), 400, "a credtype 256 entry with a senderid was taken");
    c.senderid[0] = '\0';
    c.priv_len = 16;
    cr_assert_eq(S_POST(d1), 400, "a 128-bit master secret was taken");
    c.priv_len = sizeof secret;
    (void) snprintf(c.recipientid, sizeof c.recipientid, "02abc");
    cr_assert_eq(S_POST(d1), 400, "an odd-length recipientid was taken");
    (void) snprintf(c.recipientid, sizeof c.recipientid, "02abcd");
    c.credtype = 128;
    cr_assert_eq(S_POST(d1), 400, "a credtype 128 entry with a recipientid was taken");
    c.credtype = 256;
    cr_assert_eq(S_POST(d3), 400, "a device without SSM support took a credtype 256 entry");
    cr_assert_not(s_entry(1, 256, "02abcd").is_found, "a refused POST changed the cred");
    cr_assert_not(s_entry(3, 256, "02abcd").is_found, "a refused POST changed the cred");
    cr_assert_eq(S_POST(d1), 204, "a well-formed credtype 256 entry was refused");
#undef S_POST
    s_entry_t e = s_entry(1, 256, "02abcd");
    cr_assert(e.is_found, "the well-formed entry is not stored");
    cr_assert_str_eq(e.desc, "test");
}

Test(group,
     create_places_ssm_contexts_and_rekey_rm_delete_change_them,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    char servers[100], *text = NULL, seeded[15];
    s_first_candidate("g1", seeded);
    (void) snprintf(servers, sizeof servers, "%s,%s", s_uuid[1], s_uuid[2]);
    const char *create[] = {"group",     "create", "g1",     "--client",    s_uuid[0],
                            "--servers", servers,  "--desc", "hall lights", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, create, &text), 0, "group create");
    cr_assert(strstr(text, "active") != NULL, "%s", text);
    free(text);
    char id[15];
    unsigned version = 0;
    s_group("g1", id, &version);
    cr_assert_eq(version, 1);
    cr_assert_eq(strlen(id), 14, "idGroup \"%s\" is not 7 bytes", id);
    cr_assert(strncmp(id, "02", 2) == 0, "idGroup \"%s\" does not start with 0x02", id);
    cr_assert_eq(strspn(id, "0123456789abcdef"), 14, "idGroup \"%s\" is not lowercase hex", id);
    cr_assert_str_neq(id, seeded, "idGroup is a recipientid already on device 1");
    cr_assert(s_entry(1, 64, seeded).is_found, "the seeded entry is gone from device 1");

    s_entry_t client = s_entry(0, 128, id);
    s_entry_t srv1 = s_entry(1, 256, id);
    s_entry_t srv2 = s_entry(2, 256, id);
    cr_assert(client.is_found, "the client holds no credtype 128 entry with senderid %s", id);
    cr_assert(srv1.is_found && srv2.is_found, "a server holds no credtype 256 entry for %s", id);
    cr_assert_str_eq(client.rid, "", "the client's entry has a recipientid");
    cr_assert_str_eq(srv1.sid, "", "a server's entry has a senderid");
    cr_assert_str_eq(srv1.subject, s_uuid[0], "the servers' subjectuuid is not the client's");
    cr_assert_str_eq(srv2.subject, s_uuid[0]);
    cr_assert_str_eq(client.desc, "hall lights");
    cr_assert_str_eq(srv1.desc, "hall lights");
    cr_assert_eq(strlen(client.secret), 64, "the master secret is not 256 bits");
    cr_assert_str_eq(client.secret, srv1.secret, "client and server 1 hold different secrets");
    cr_assert_str_eq(client.secret, srv2.secret, "client and server 2 hold different secrets");
    cr_assert_not(s_entry(3, 256, id).is_found);

    /* refusals (docs/cli.md exit codes) */
    static const char *const unknown = "11111111-2222-4333-8444-555555555555";
    const char *one[] = {"group", "create", "g2", "--client", s_uuid[0], NULL};
    const char *self[] = {"group",   "create",    "g2",      "--client",
                          s_uuid[0], "--servers", s_uuid[0], NULL};
    const char *dup[] = {"group",   "create",    "g1",      "--client",
                         s_uuid[0], "--servers", s_uuid[1], NULL};
    const char *none[] = {"group",   "create",    "g2",    "--client",
                          s_uuid[0], "--servers", unknown, NULL};
    const char *nossm[] = {"group",   "create",    "g2",      "--client",
                           s_uuid[0], "--servers", s_uuid[3], NULL};
    const char *add_nossm[] = {"group", "add", "g1", s_uuid[3], NULL};
    const char *rm_client[] = {"group", "rm", "g1", s_uuid[0], NULL};
    const char *rekey_none[] = {"group", "rekey", "nope", NULL};
    cr_assert_eq(obt_ctl(&s_suite, one, NULL), 2, "a group of one");
    cr_assert_eq(obt_ctl(&s_suite, self, NULL), 2, "the client as its own server");
    cr_assert_eq(obt_ctl(&s_suite, dup, &text), 2, "a duplicate name: %s", text ? text : "");
    free(text);
    cr_assert_eq(obt_ctl(&s_suite, none, NULL), 3, "an unknown device");
    cr_assert_eq(obt_ctl(&s_suite, nossm, &text), 2, "a device without SSM support: %s",
                 text ? text : "");
    free(text);
    cr_assert_eq(obt_ctl(&s_suite, add_nossm, NULL), 2, "a server without SSM support");
    cr_assert_eq(obt_ctl(&s_suite, rm_client, NULL), 2, "the client leaving");
    cr_assert_eq(obt_ctl(&s_suite, rekey_none, NULL), 3, "an unknown group");

    /* rekey: a new secret on every member */
    const char *rekey[] = {"group", "rekey", "g1", NULL};
    cr_assert_eq(obt_ctl(&s_suite, rekey, &text), 0, "group rekey: %s", text ? text : "");
    free(text);
    s_group("g1", id, &version);
    cr_assert_eq(version, 2);
    s_entry_t c2 = s_entry(0, 128, id), s12 = s_entry(1, 256, id), s22 = s_entry(2, 256, id);
    cr_assert(c2.is_found && s12.is_found && s22.is_found, "a member lost its entry in rekey");
    cr_assert_str_neq(c2.secret, client.secret, "rekey kept the client's secret");
    cr_assert_str_eq(c2.secret, s12.secret, "rekey: client and server 1 differ");
    cr_assert_str_eq(c2.secret, s22.secret, "rekey: client and server 2 differ");

    /* rm: that server only */
    const char *rm[] = {"group", "rm", "g1", s_uuid[2], NULL};
    cr_assert_eq(obt_ctl(&s_suite, rm, &text), 0, "group rm: %s", text ? text : "");
    free(text);
    cr_assert_not(s_entry(2, 256, id).is_found, "the removed server keeps its entry");
    cr_assert(s_entry(1, 256, id).is_found, "rm removed another server's entry");
    cr_assert(s_entry(0, 128, id).is_found, "rm removed the client's entry");
    const char *rm_last[] = {"group", "rm", "g1", s_uuid[1], NULL};
    cr_assert_eq(obt_ctl(&s_suite, rm_last, NULL), 2, "the last server leaving");

    /* delete: every entry, and the group */
    const char *del[] = {"group", "delete", "g1", NULL};
    cr_assert_eq(obt_ctl(&s_suite, del, &text), 0, "group delete: %s", text ? text : "");
    free(text);
    cr_assert_not(s_entry(0, 128, id).is_found, "the client keeps its entry after delete");
    cr_assert_not(s_entry(1, 256, id).is_found, "a server keeps its entry after delete");
    const char *all[] = {"--json", "groups", NULL};
    cr_assert_eq(obt_ctl(&s_suite, all, &text), 0);
    cr_assert_str_eq(text, "[]\n", "the group is still listed: %s", text);
    free(text);
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, S_N, NULL), S_N, "a device was left out of RFNOP");
    s_devsim_refuses_malformed_ssm_entries();
}

Test(group,
     kill9_of_cms_inside_a_create_is_completed_after_the_restart,
     .init = s_setup_stop,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    char servers[100];
    (void) snprintf(servers, sizeof servers, "%s,%s", s_uuid[1], s_uuid[2]);
    const char *create[] = {"group",   "create",    "g1",    "--client",
                            s_uuid[0], "--servers", servers, NULL};
    char why[200];
    cr_assert_eq(obt_kill9_inside(&s_suite, &s_sim, "cms", create, "CMS-GROUP-ACTIVE", 90000, why,
                                  sizeof why),
                 0, "the group was not completed after the restart: %s", why);
    char id[15];
    unsigned version = 0;
    s_group("g1", id, &version);
    s_entry_t c = s_entry(0, 128, id), s1 = s_entry(1, 256, id), s2 = s_entry(2, 256, id);
    cr_assert(c.is_found && s1.is_found && s2.is_found, "CMS and the devices disagree");
    cr_assert_str_eq(c.secret, s1.secret);
    cr_assert_str_eq(c.secret, s2.secret);
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, S_N, NULL), S_N, "a device was left out of RFNOP");
}

Test(group,
     reset_cascade_unpairs_revokes_and_rekeys,
     .init = s_setup_certs,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    char *text = NULL;
    const char *show[] = {"--json", "show", s_uuid[0], NULL};
    cr_assert_eq(obt_ctl(&s_suite, show, &text), 0);
    char serial[64] = "";
    const char *cms = strstr(text, "\"cms\":");
    cr_assert(cms && obt_json_str(cms, "cert_serial", serial, sizeof serial) && serial[0],
              "device 0 has no identity certificate: %s", text);
    cr_assert(strstr(cms, "\"ssm_client\":true") != NULL, "%s", text);
    free(text);
    const char *pair[] = {"pair", s_uuid[0], s_uuid[1], NULL};
    cr_assert_eq(obt_ctl(&s_suite, pair, NULL), 0);
    char servers[100];
    (void) snprintf(servers, sizeof servers, "%s,%s", s_uuid[0], s_uuid[2]);
    const char *create[] = {"group",   "create",    "g1",    "--client",
                            s_uuid[1], "--servers", servers, NULL};
    cr_assert_eq(obt_ctl(&s_suite, create, &text), 0, "group create: %s", text ? text : "");
    free(text);
    char id[15];
    unsigned version = 0;
    s_group("g1", id, &version);
    s_entry_t before = s_entry(2, 256, id);
    cr_assert(before.is_found);

    const char *reset[] = {"reset", s_uuid[0], NULL};
    cr_assert_eq(obt_ctl(&s_suite, reset, &text), 0, "reset: %s", text ? text : "");
    free(text);
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "CMS-UNPAIRED", 60000), 0,
                 "CMS did not unpair the reset device");
    int rc = obt_proc_wait_log_count(&s_suite.cms, "CMS-GROUP-ACTIVE", 2, 60000);
    if (rc != 0) {
        obt_suite_dump(&s_suite);
    }
    cr_assert_eq(rc, 0, "the group was not rekeyed after the reset");
    /* the peer's pairwise entry is gone */
    char *objs[S_N + 1];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, S_N + 1), S_N);
    char hex[33];
    bool has_entry = obt_dump_cred_hex(objs[1], s_uuid[0], hex);
    for (int i = 0; i < S_N; i++) {
        free(objs[i]);
    }
    cr_assert_not(has_entry, "the peer keeps its pairwise entry for the reset device");
    /* its certificate is in the CRL */
    const char *crl[] = {"--json", "crl", "show", NULL};
    cr_assert_eq(
            obt_ctl_wait_output(&s_suite, crl, (const char *const[]){serial, NULL}, 30000, &text),
            0, "serial %s is not in the CRL: %s", serial, text ? text : "");
    free(text);
    /* it left the group, which has a new secret */
    unsigned after_version = 0;
    const char *groups[] = {"--json", "groups", "g1", NULL};
    cr_assert_eq(obt_ctl_wait_output(&s_suite, groups,
                                     (const char *const[]){"\"state\":\"active\"", NULL}, 30000,
                                     &text),
                 0, "%s", text ? text : "");
    cr_assert(strstr(text, s_uuid[0]) == NULL, "the reset device is still a member: %s", text);
    free(text);
    s_group("g1", id, &after_version);
    cr_assert_eq(after_version, version + 1, "the group was not rekeyed");
    s_entry_t after = s_entry(2, 256, id), client = s_entry(1, 128, id);
    cr_assert(after.is_found && client.is_found);
    cr_assert_str_neq(after.secret, before.secret, "the remaining server kept the old secret");
    cr_assert_str_eq(after.secret, client.secret);
}

/* group add surveys the new server first (D82): device 2 holds a recipientid equal to
 * g3's idGroup, so CMS gives the group a new idGroup and writes every member again;
 * the entries of the old id are replaced, device 2's own entry is left alone. */
Test(group,
     add_surveys_the_new_member_and_moves_the_group_off_a_colliding_id,
     .init = s_setup_add_collides,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    char *text = NULL, seeded[15], id[15];
    unsigned version = 0;
    s_first_candidate("g3", seeded);
    const char *create[] = {"group",   "create",    "g3",      "--client",
                            s_uuid[0], "--servers", s_uuid[1], NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, create, &text), 0, "group create");
    free(text);
    s_group("g3", id, &version);
    cr_assert_str_eq(id, seeded, "g3 did not get its first candidate");

    const char *add[] = {"group", "add", "g3", s_uuid[2], NULL};
    int rc = obt_ctl_or_dump(&s_suite, &s_sim, add, &text);
    cr_assert_eq(rc, 0, "group add of a device holding idGroup: exit %d: %s", rc, text ? text : "");
    free(text);
    cr_assert_geq(obt_proc_log_count(&s_suite.cms, "CMS-GROUP-REID"), 1);
    s_group("g3", id, &version);
    cr_assert_str_neq(id, seeded, "idGroup still collides with device 2's recipientid");
    cr_assert_eq(version, 1, "the secret changed: only the id had to");
    s_entry_t c = s_entry(0, 128, id), s1 = s_entry(1, 256, id), s2 = s_entry(2, 256, id);
    cr_assert(c.is_found && s1.is_found && s2.is_found, "a member holds no entry for %s", id);
    cr_assert_str_eq(c.secret, s1.secret, "client and server 1 hold different secrets");
    cr_assert_str_eq(c.secret, s2.secret, "client and server 2 hold different secrets");
    cr_assert_not(s_entry(0, 128, seeded).is_found, "the client keeps its old-id entry");
    cr_assert_not(s_entry(1, 256, seeded).is_found, "server 1 keeps its old-id entry");
    cr_assert_not(s_entry(2, 256, seeded).is_found, "device 2 got an entry of the old id");
    cr_assert(s_entry(2, 64, seeded).is_found, "device 2's own entry is gone");
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, S_N, NULL), S_N, "a device was left out of RFNOP");
}
