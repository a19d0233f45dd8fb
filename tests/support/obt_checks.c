/* obt_checks.c — shared checks of the integration tests */
#include "obt_checks.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmn_kv.h"
#include "cmn_svr.h"
#include "dots_store.h"
#include "obt_certs.h"
#include "obt_json.h"

int
obt_ids(const obt_suite_t *s, obt_ids_t *ret)
{
    static const char *const args[] = {"--json", "health", NULL};
    char *out = NULL;
    memset(ret, 0, sizeof *ret);
    if (obt_ctl(s, args, &out) != 0 || out == NULL) {
        free(out);
        return -1;
    }
    const char *p;
    int rc = 0;
    if ((p = strstr(out, "\"service\":\"dots\"")) == NULL ||
        obt_json_str(p, "uuid", ret->dots, sizeof ret->dots) == NULL ||
        (p = strstr(out, "\"service\":\"cms\"")) == NULL ||
        obt_json_str(p, "uuid", ret->cms, sizeof ret->cms) == NULL ||
        (p = strstr(out, "\"service\":\"ams\"")) == NULL ||
        obt_json_str(p, "uuid", ret->ams, sizeof ret->ams) == NULL) {
        rc = -1;
    }
    free(out);
    return rc;
}

cmn_seal_t *
obt_dots_kek(const char *dots_store_dir)
{
    char path[1200];
    const char *slash = strrchr(dots_store_dir, '/');
    int n = slash ? (int) (slash - dots_store_dir) : 1;
    (void) snprintf(path, sizeof path, "%.*s/keys/secret/dots.kek", n,
                    slash ? dots_store_dir : ".");
    cmn_seal_t *seal = NULL;
    return cmn_seal_load(path, false, &seal, NULL) == CMN_OK ? seal : NULL;
}

/* The DOTS store beside its keys (obt_dots_kek), or NULL. *ret_seal is the caller's. */
static dots_store_t *
s_dots_store(const char *dots_store_dir, cmn_seal_t **ret_seal)
{
    cmn_err_t err;
    *ret_seal = obt_dots_kek(dots_store_dir);
    if (*ret_seal == NULL) {
        return NULL;
    }
    /* LMDB allows a second process to read while DOTS runs. */
    dots_store_t *st = dots_store_new(dots_store_dir, false, 0, *ret_seal, &err);
    if (st == NULL) {
        cmn_seal_destroy(ret_seal);
    }
    return st;
}

void
obt_dots_owner_psk_hex(const char *dots_store_dir, const char *uuid, char out[33])
{
    dots_secret_t sec;
    cmn_seal_t *seal = NULL;
    out[0] = '\0';
    dots_store_t *st = s_dots_store(dots_store_dir, &seal);
    if (st == NULL) {
        return;
    }
    if (dots_store_get_secret(st, uuid, &sec) == CMN_OK && sec.has_owner) {
        for (int i = 0; i < 16; i++) {
            (void) snprintf(out + 2 * i, 3, "%02x", sec.owner_psk[i]);
        }
    }
    dots_store_destroy(&st);
    cmn_seal_destroy(&seal);
}

bool
obt_dots_store_has(const char *dots_store_dir, const char *uuid)
{
    dots_dev_t dev;
    dots_secret_t sec;
    cmn_seal_t *seal = NULL;
    dots_store_t *st = s_dots_store(dots_store_dir, &seal);
    if (st == NULL) {
        return true; /* cannot tell: assume the worst */
    }
    bool has = dots_store_get(st, uuid, &dev) != CMN_ENOTFOUND ||
               dots_store_get_secret(st, uuid, &sec) != CMN_ENOTFOUND;
    dots_store_destroy(&st);
    cmn_seal_destroy(&seal);
    return has;
}

bool
obt_svc_store_has(const char *svc_store_dir, const char *uuid)
{
    static const char *const dbs[] = {"identity", "devices", "secrets"};
    cmn_err_t err;
    cmn_kv_t *kv = cmn_kv_new(svc_store_dir, dbs, 3, 0, false, &err);
    cmn_kv_txn_t *txn = NULL;
    bool has = true;
    if (kv && cmn_kv_begin(kv, false, &txn) == CMN_OK) {
        has = false;
        for (int i = 1; i < 3; i++) {
            void *val = NULL;
            size_t len = 0;
            cmn_err_t e = cmn_kv_get(txn, dbs[i], uuid, strlen(uuid), &val, &len);
            has |= e != CMN_ENOTFOUND;
            cmn_kv_free_secret(val, len);
        }
        cmn_kv_abort(&txn);
    }
    cmn_kv_destroy(&kv);
    return has;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        (void) snprintf(why, why_len, __VA_ARGS__);                                                \
        return false;                                                                              \
    } while (0)

/* "role:oic.role.owner|/oic/sec/A,/oic/sec/B,...|6" (s_ace_key of a Table 2 ACE). */
static bool
s_is_table2_key(const char *key)
{
    static const char head[] = "role:oic.role.owner|";
    if (strncmp(key, head, sizeof head - 1) != 0) {
        return false;
    }
    const char *p = key + sizeof head - 1;
    const char *bar = strchr(p, '|');
    if (bar == NULL || strcmp(bar, "|6") != 0) {
        return false;
    }
    while (p < bar) {
        if (strncmp(p, "/oic/sec/", 9) != 0) {
            return false;
        }
        p += strcspn(p, ",|");
        p += *p == ',';
    }
    return true;
}

/* One ACE of a dump as "subject|href,href,...|permission" with the hrefs sorted, so
 * that two ACEs compare as strings. */
static void
s_ace_key(const char *ace, const char *end, char *out, size_t len)
{
    char subject[80] = "", hrefs[8][64];
    size_t n = 0;
    const char *sub = strstr(ace, "\"subject\":");
    char v[64];
    if (sub && sub < end && obt_json_str(sub, "uuid", v, sizeof v) &&
        strstr(sub, "\"uuid\":") < strstr(sub, "}")) {
        (void) snprintf(subject, sizeof subject, "uuid:%s", v);
    } else if (sub && sub < end && obt_json_str(sub, "conntype", v, sizeof v)) {
        (void) snprintf(subject, sizeof subject, "conntype:%s", v);
    } else if (sub && sub < end && obt_json_str(sub, "role", v, sizeof v)) {
        (void) snprintf(subject, sizeof subject, "role:%s", v);
    } else {
        (void) snprintf(subject, sizeof subject, "other");
    }
    for (const char *h = ace; n < 8 && (h = strstr(h, "\"href\":")) != NULL && h < end; h++) {
        (void) obt_json_str(h, "href", hrefs[n++], sizeof hrefs[0]);
    }
    for (size_t i = 1; i < n; i++) { /* a few items: insertion sort */
        for (size_t j = i; j > 0 && strcmp(hrefs[j - 1], hrefs[j]) > 0; j--) {
            char t[64];
            memcpy(t, hrefs[j], sizeof t);
            memcpy(hrefs[j], hrefs[j - 1], sizeof t);
            memcpy(hrefs[j - 1], t, sizeof t);
        }
    }
    const char *perm = strstr(ace, "\"permission\":");
    long permission = perm && perm < end ? strtol(perm + 13, NULL, 10) : -1;
    size_t at = (size_t) snprintf(out, len, "%s|", subject);
    for (size_t i = 0; i < n && at < len; i++) {
        at += (size_t) snprintf(out + at, len - at, "%s%s", i ? "," : "", hrefs[i]);
    }
    if (at < len) {
        (void) snprintf(out + at, len - at, "|%ld", permission);
    }
}

/* The device's cred and acl2 hold exactly what DOTS, CMS and AMS placed, and what the
 * simulator's factory ACL becomes once AMS removed its SVR hrefs (devsim/sim_device.c):
 * an entry no service placed (an attacker's credential or ACE) is reported. */
static bool
s_check_exact(const char *uuid,
              const char *cred,
              const char *acl,
              const char *end,
              const obt_ids_t *ids,
              char *why,
              size_t why_len)
{
    const char *const owners[3] = {ids->dots, ids->cms, ids->ams};
    int seen[3] = {0, 0, 0};
    for (const char *c = cred; (c = strstr(c, "{\"credid\":")) != NULL && c < acl; c++) {
        char subj[64] = "", usage[64] = "";
        (void) obt_json_str(c, "subjectuuid", subj, sizeof subj);
        (void) obt_json_str(c, "credusage", usage, sizeof usage);
        bool is_ours = false;
        for (int k = 0; k < 3; k++) {
            if (strcmp(subj, owners[k]) == 0) {
                seen[k]++;
                is_ours = true;
            }
        }
        /* CMS's certificates (docs/cms.md): the domain's trust anchor and the device's
         * identity certificate */
        if ((strcmp(usage, "oic.sec.cred.trustca") == 0 && strcmp(subj, "*") == 0) ||
            (strcmp(usage, "oic.sec.cred.cert") == 0 && strcmp(subj, uuid) == 0)) {
            is_ours = true;
        }
        if (!is_ours && strncmp(usage, "oic.sec.cred.mfg", 16) != 0) {
            FAIL("%s: a credential for %s (credusage \"%s\") that no service placed", uuid, subj,
                 usage);
        }
    }
    for (int k = 0; k < 3; k++) {
        if (seen[k] != 1) {
            FAIL("%s: %d credentials for %s (DOTS/CMS/AMS place one each)", uuid, seen[k],
                 owners[k]);
        }
    }
    char expect[6][160];
    (void) snprintf(expect[0], sizeof expect[0], "uuid:%s|/oic/sec/sp|%d", ids->dots,
                    CMN_PERM_R | CMN_PERM_U | CMN_PERM_D);
    (void) snprintf(expect[1], sizeof expect[1], "uuid:%s|/oic/sec/csr|%d", ids->cms, CMN_PERM_R);
    (void) snprintf(expect[2], sizeof expect[2], "conntype:anon-clear|/oic/d,/oic/p,/oic/res|%d",
                    CMN_PERM_R);
    (void) snprintf(expect[3], sizeof expect[3], "uuid:%s|/oic/sec/pstat|%d", ids->ams,
                    CMN_PERM_R | CMN_PERM_U);
    (void) snprintf(expect[5], sizeof expect[5], "uuid:%s|/oic/sec/pstat|%d", ids->cms,
                    CMN_PERM_R | CMN_PERM_U);
    /* the factory's auth-crypt ACE without /oic/sec/sdi */
    (void) snprintf(expect[4], sizeof expect[4], "conntype:auth-crypt|/a/light|%d",
                    CMN_PERM_R | CMN_PERM_U);
    int found[6] = {0};
    int n_table2 = 0;
    const char *a = strstr(acl, "{\"aceid\":");
    while (a && a < end) {
        const char *next = strstr(a + 1, "{\"aceid\":");
        const char *stop = next && next < end ? next : end;
        char key[300];
        s_ace_key(a, stop, key, sizeof key);
        bool is_known = false;
        for (int k = 0; k < 6; k++) {
            if (strcmp(key, expect[k]) == 0) {
                found[k]++;
                is_known = true;
            }
        }
        /* AMS's Table 2 ACE of a device of ocf.2.4.0 or older (docs/ams.md): role
         * oic.role.owner, RU, SVRs only; at most one */
        if (!is_known && s_is_table2_key(key)) {
            is_known = ++n_table2 == 1;
        }
        if (!is_known) {
            FAIL("%s: an ACE that no service placed: %s", uuid, key);
        }
        a = next;
    }
    for (int k = 0; k < 6; k++) {
        if (k != 4 && found[k] != 1) { /* 4: the factory's, absent after its repair */
            FAIL("%s: baseline ACE %s found %d times", uuid, expect[k], found[k]);
        }
    }
    return true;
}

bool
obt_check_onboarded(
        const char *d, const obt_ids_t *ids, const char *dots_store_dir, char *why, size_t why_len)
{
    char uuid[40], v[64], hex[33];
    const char *doxm = strstr(d, "\"doxm\":");
    const char *pstat = strstr(d, "\"pstat\":");
    const char *cred = strstr(d, "\"cred\":");
    const char *acl = strstr(d, "\"acl2\":");
    const char *sdi = strstr(d, "\"sdi\":");
    if (!obt_json_str(d, "uuid", uuid, sizeof uuid) || !doxm || !pstat || !cred || !acl || !sdi) {
        FAIL("malformed dump object");
    }
    if (strstr(doxm, "\"owned\":true") == NULL || strstr(doxm, "\"owned\":true") > pstat) {
        FAIL("%s: doxm.owned is not true", uuid);
    }
    if (!obt_json_str(doxm, "devowneruuid", v, sizeof v) || strcmp(v, ids->dots) != 0) {
        FAIL("%s: devowneruuid %s is not DOTS %s", uuid, v, ids->dots);
    }
    if (!obt_json_str(doxm, "rowneruuid", v, sizeof v) || strcmp(v, ids->dots) != 0) {
        FAIL("%s: doxm.rowneruuid %s is not DOTS", uuid, v);
    }
    if (!obt_json_str(pstat, "state", v, sizeof v) || strcmp(v, "RFNOP") != 0) {
        FAIL("%s: pstat state %s is not RFNOP", uuid, v);
    }
    if (!obt_json_str(pstat, "rowneruuid", v, sizeof v) || strcmp(v, ids->dots) != 0) {
        FAIL("%s: pstat.rowneruuid %s is not DOTS", uuid, v);
    }
    if (!obt_json_str(cred, "rowneruuid", v, sizeof v) || strcmp(v, ids->cms) != 0) {
        FAIL("%s: cred.rowneruuid %s is not CMS %s", uuid, v, ids->cms);
    }
    if (!obt_json_str(acl, "rowneruuid", v, sizeof v) || strcmp(v, ids->ams) != 0) {
        FAIL("%s: acl2.rowneruuid %s is not AMS %s", uuid, v, ids->ams);
    }
    if (ids->sd[0] && (!obt_json_str(sdi, "uuid", v, sizeof v) || strcmp(v, ids->sd) != 0)) {
        FAIL("%s: sdi.uuid %s is not the domain %s", uuid, v, ids->sd);
    }
    /* The owner credential: subject = DOTS, key = DOTS's stored PSK. */
    char subj[64], key[64];
    const char *p = cred;
    bool found = false;
    while ((p = obt_json_str(p, "subjectuuid", subj, sizeof subj)) != NULL && p < acl) {
        if (obt_json_str(p, "privatedata_hex", key, sizeof key) && strcmp(subj, ids->dots) == 0) {
            found = true;
            break;
        }
    }
    if (!found) {
        FAIL("%s: no owner credential for DOTS on the device", uuid);
    }
    obt_dots_owner_psk_hex(dots_store_dir, uuid, hex);
    if (strcmp(hex, key) != 0) {
        FAIL("%s: owner PSK on the device differs from DOTS's (%s)", uuid,
             hex[0] ? "mismatch" : "DOTS has none");
    }
    /* Clause 5.2: no anon-clear/auth-crypt ACE may cover an SVR. */
    const char *a = acl;
    while ((a = strstr(a, "\"conntype\":")) != NULL && a < sdi) {
        const char *end = strstr(a, "\"permission\"");
        const char *svr = strstr(a, "/oic/sec/");
        if (svr && end && svr < end) {
            FAIL("%s: an anon-clear/auth-crypt ACE still covers %.20s", uuid, svr);
        }
        a++;
    }
    return s_check_exact(uuid, cred, acl, sdi, ids, why, why_len);
}

int
obt_devsim_start(obt_proc_t *p, const char *dir, int count, const char *faults)
{
    return obt_devsim_start_with(p, dir, count, faults, NULL);
}

int
obt_devsim_start_with(
        obt_proc_t *p, const char *dir, int count, const char *faults, const char *const *extra)
{
    char devdir[600], n[16];
    (void) snprintf(devdir, sizeof devdir, "%s/devices", dir);
    (void) snprintf(n, sizeof n, "%d", count);
    const char *args[20] = {"--dir", devdir, "--count", n, "--log-level", "info"};
    size_t k = 6;
    if (faults) {
        args[k++] = "--faults";
        args[k++] = faults;
    }
    for (size_t i = 0; extra && extra[i] && k < sizeof args / sizeof args[0] - 1; i++) {
        args[k++] = extra[i];
    }
    args[k] = NULL;
    if (obt_proc_start(p, dir, "devsim", "ocf-devsim", args) != 0 ||
        obt_proc_wait_log(p, " READY ", 20000) != 0) {
        obt_proc_dump(p);
        return -1;
    }
    return 0;
}

size_t
obt_devsim_dump(const char *dir, char **objs, size_t max)
{
    char devdir[600];
    char *out = NULL;
    (void) snprintf(devdir, sizeof devdir, "%s/devices", dir);
    const char *args[] = {"--dir", devdir, "--dump", NULL};
    if (obt_run("ocf-devsim", args, &out) != 0 || out == NULL) {
        free(out);
        return 0;
    }
    size_t n = obt_json_objects(out, objs, max);
    free(out);
    return n;
}

int
obt_discover_approve(const obt_suite_t *s, int expected, char **ret_out)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    char *out = NULL, want[64];
    (void) snprintf(want, sizeof want, "found %d unowned", expected);
    int rc = obt_ctl(s, discover, &out);
    if (rc != 0 || out == NULL || strstr(out, want) == NULL || obt_ctl(s, approve, NULL) != 0) {
        *ret_out = out;
        return -1;
    }
    free(out);
    *ret_out = NULL;
    return 0;
}

int
obt_kill9_inside(obt_suite_t *s,
                 obt_proc_t *sim,
                 const char *which,
                 const char *const *args,
                 const char *token,
                 int timeout_ms,
                 char *why,
                 size_t why_len)
{
    obt_proc_t *p = strcmp(which, "cms") == 0    ? &s->cms
                    : strcmp(which, "ams") == 0  ? &s->ams
                    : strcmp(which, "dots") == 0 ? &s->dots
                                                 : &s->gw;
    pid_t child = fork();
    if (child < 0) {
        (void) snprintf(why, why_len, "fork failed");
        return -1;
    }
    if (child == 0) {
        _exit(obt_ctl(s, args, NULL)); /* answered by nobody: the daemon dies meanwhile */
    }
    int rc = obt_proc_wait_log(sim, "stops (SIGSTOP)", timeout_ms);
    if (rc != 0) {
        (void) snprintf(why, why_len, "%s never sent the device the request", which);
    } else {
        obt_proc_kill9(p);
        rc = kill(sim->pid, SIGCONT) == 0 ? 0 : -1;
    }
    (void) kill(child, SIGKILL); /* the killed daemon never answers that obtctl */
    (void) waitpid(child, NULL, 0);
    if (rc == 0 && obt_suite_restart(s, which, NULL) != 0) {
        (void) snprintf(why, why_len, "%s did not start again", which);
        rc = -1;
    }
    if (rc == 0 && obt_proc_wait_log(p, token, timeout_ms) != 0) {
        (void) snprintf(why, why_len, "%s did not log %s after the restart", which, token);
        rc = -1;
    }
    return rc;
}

char *
obt_show(const obt_suite_t *s, const char *uuid)
{
    const char *show[] = {"--json", "show", uuid, NULL};
    char *out = NULL;
    if (obt_ctl(s, show, &out) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int
obt_devsim_field(const obt_proc_t *sim, int idx, const char *key, char *out, size_t cap)
{
    FILE *f = fopen(sim->log, "r");
    if (f == NULL) {
        return -1;
    }
    char line[1024], tag[32];
    (void) snprintf(tag, sizeof tag, " DEVICE idx=%d ", idx);
    int rc = -1;
    while (rc != 0 && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, tag);
        p = p ? strstr(p, key) : NULL;
        if (p) {
            p += strlen(key);
            size_t len = strcspn(p, " \n");
            if (len < cap) {
                memcpy(out, p, len);
                out[len] = '\0';
                rc = 0;
            }
        }
    }
    (void) fclose(f);
    return rc;
}

int
obt_ocf_group_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5683)};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    struct ip_mreqn mreq = {.imr_ifindex = (int) if_nametoindex("lo")};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *) &a, sizeof a) != 0 ||
        inet_pton(AF_INET, "224.0.1.187", &mreq.imr_multiaddr) != 1 ||
        setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
        if (fd >= 0) {
            (void) close(fd);
        }
        return -1;
    }
    return fd;
}

bool
obt_mem_contains(const void *buf, size_t n, const char *needle)
{
    const unsigned char *b = buf;
    size_t len = strlen(needle);
    for (size_t i = 0; i + len <= n; i++) {
        if (memcmp(b + i, needle, len) == 0) {
            return true;
        }
    }
    return false;
}

bool
obt_dump_cred_hex(const char *dev_json, const char *subject, char hex[33])
{
    const char *p = strstr(dev_json, "\"creds\":");
    char subj[64];
    while (p && (p = obt_json_str(p, "subjectuuid", subj, sizeof subj)) != NULL) {
        if (strcmp(subj, subject) == 0 && obt_json_str(p, "privatedata_hex", hex, 33)) {
            return true;
        }
    }
    return false;
}

int
obt_dev_learn(const char *dev_json,
              const obt_proc_t *sim,
              int idx,
              const obt_ids_t *ids,
              obt_dev_t *dev,
              char *why,
              size_t why_len)
{
    const char *missing = NULL;
    if (!obt_json_str(dev_json, "deviceuuid", dev->uuid, sizeof dev->uuid)) {
        missing = "no deviceuuid in the dump";
    } else if (obt_devsim_field(sim, idx, " coaps=", dev->coaps, sizeof dev->coaps) != 0 ||
               obt_devsim_field(sim, idx, " coap=", dev->coap, sizeof dev->coap) != 0) {
        missing = "no endpoints in devsim's DEVICE line";
    } else if (!obt_dump_cred_hex(dev_json, ids->dots, dev->dots_key)) {
        missing = "no cred for DOTS";
    } else if (!obt_dump_cred_hex(dev_json, ids->cms, dev->cms_key)) {
        missing = "no cred for CMS";
    } else if (!obt_dump_cred_hex(dev_json, ids->ams, dev->ams_key)) {
        missing = "no cred for AMS";
    }
    (void) snprintf(why, why_len, "device %d: %s", idx, missing ? missing : "");
    return missing ? -1 : 0;
}

/* Runs obt_coap with the auth options (NULL-terminated) and the n requests to base;
 * ret_codes[i] (may be NULL) the code of request i or -1; out (cap bytes) what it
 * printed. Returns the number of answers. */
static int
s_coap_run(const char *const *auth,
           const char *base,
           const obt_coap_req_t *reqs,
           size_t n,
           int *ret_codes,
           char *out,
           size_t cap)
{
    enum { S_MAX = 8 };
    static char uris[S_MAX][256], hexes[S_MAX][8200];
    const char *argv[8 + 3 * S_MAX];
    size_t k = 0;
    for (; auth && auth[k]; k++) {
        argv[k] = auth[k];
    }
    for (size_t i = 0; i < n; i++) {
        ret_codes[i] = -1;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i >= S_MAX || 2 * reqs[i].len >= sizeof hexes[0] ||
            snprintf(uris[i], sizeof uris[0], "%s%s", base, reqs[i].path) >= (int) sizeof uris[0]) {
            return 0;
        }
        for (size_t b = 0; b < reqs[i].len; b++) {
            (void) snprintf(hexes[i] + 2 * b, 3, "%02x", reqs[i].payload[b]);
        }
        argv[k++] = reqs[i].method;
        argv[k++] = uris[i];
        if (reqs[i].len > 0) {
            argv[k++] = hexes[i];
        }
    }
    argv[k] = NULL;
    char *o = NULL;
    (void) obt_run("obt_coap", argv, &o);
    (void) snprintf(out, cap, "%s", o ? o : "");
    int answered = 0;
    const char *line = o;
    for (size_t i = 0; line && *line && i < n; i++) {
        int c = 0, d = 0;
        if (sscanf(line, "%d.%d", &c, &d) != 2) {
            break;
        }
        ret_codes[i] = c * 100 + d;
        answered++;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(o);
    return answered;
}

int
obt_coap_as(const char *base,
            const char *id,
            const char *key_hex,
            const char *method,
            const char *path,
            const uint8_t *payload,
            size_t len,
            char *out,
            size_t cap)
{
    const char *psk[] = {"--id", id, "--key", key_hex, NULL};
    obt_coap_req_t req = {method, path, payload, len};
    int code = -1;
    (void) s_coap_run(id ? psk : NULL, base, &req, 1, &code, out, cap);
    return code;
}

int
obt_coap_cert(const char *coaps,
              const char *cert_path,
              const char *key_path,
              const obt_coap_req_t *reqs,
              size_t n,
              int *ret_codes,
              char *out,
              size_t cap)
{
    const char *auth[] = {"--cert", cert_path, "--cert-key", key_path, NULL};
    return s_coap_run(auth, coaps, reqs, n, ret_codes, out, cap);
}

bool
obt_dump_cert_hex(const char *dev_json, const char *usage, char *hex, size_t cap)
{
    char want[64];
    (void) snprintf(want, sizeof want, "\"credusage\":\"%s\"", usage);
    const char *c = strstr(dev_json, want);
    if (c == NULL) {
        return false;
    }
    const char *open = c;
    while (open > dev_json && strncmp(open, "{\"credid\":", 10) != 0) {
        open--;
    }
    const char *type = open + strcspn(open, ",") + 1; /* {"credid":N,"credtype":T,... */
    return strncmp(type, "\"credtype\":8,", 13) == 0 &&
           obt_json_str(open, "publicdata_hex", hex, cap) != NULL;
}

int
obt_dev_cert_files(const char *dev_json, const char *chain_path, char *key_path, size_t cap)
{
    static char hex[16384];
    char dir[600];
    if (!obt_json_str(dev_json, "dir", dir, sizeof dir) ||
        !obt_dump_cert_hex(dev_json, "oic.sec.cred.cert", hex, sizeof hex) ||
        obt_write_hex(chain_path, hex) != 0) {
        return -1;
    }
    (void) snprintf(key_path, cap, "%s/csr-key.pem", dir);
    return 0;
}

int
obt_onboard_devices(const obt_suite_t *s,
                    const obt_proc_t *sim,
                    const char *dir,
                    int n,
                    int wait_s,
                    obt_dev_ep_t *ret,
                    char *why,
                    size_t why_len)
{
    char wait[16];
    (void) snprintf(wait, sizeof wait, "%d", wait_s);
    const char *const onboard[] = {"onboard", "--all", "--wait-s", wait, NULL};
    char *out = NULL;
    if (obt_discover_approve(s, n, &out) != 0) {
        (void) snprintf(why, why_len, "discover/approve: %s", out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    if (obt_ctl_or_dump(s, sim, onboard, NULL) != 0) {
        (void) snprintf(why, why_len, "obtctl onboard --all failed");
        return -1;
    }
    char **objs = calloc((size_t) n + 1, sizeof *objs);
    size_t got = objs ? obt_devsim_dump(dir, objs, (size_t) n + 1) : 0;
    int rc = got == (size_t) n ? 0 : -1;
    for (size_t i = 0; i < got; i++) {
        /* the dump lists the devices in index order */
        if (rc == 0 &&
            (!obt_json_str(objs[i], "deviceuuid", ret[i].uuid, sizeof ret[i].uuid) ||
             obt_devsim_field(sim, (int) i, " coaps=", ret[i].coaps, sizeof ret[i].coaps) != 0)) {
            rc = -1;
        }
        free(objs[i]);
    }
    free(objs);
    if (rc != 0) {
        (void) snprintf(why, why_len,
                        "the dump lists %zu device(s) of %d, or one lacks its uuid "
                        "or coaps:// endpoint",
                        got, n);
    }
    return rc;
}

int
obt_kill9_resume(
        obt_suite_t *s, const char *which, obt_proc_t *sim, int done_before, char *why, size_t len)
{
    obt_proc_t *d = strcmp(which, "cms") == 0 ? &s->cms : &s->ams;
    obt_proc_kill9(d);
    const char *fail = kill(sim->pid, SIGCONT) != 0             ? "the simulator did not go on"
                       : obt_suite_restart(s, which, NULL) != 0 ? "it did not start again"
                       : obt_proc_wait_log(d, "SVC-JOB-RESUME", 20000) != 0
                               ? "it did not resume the job"
                       : obt_proc_wait_log_count(d, "SVC-JOB-DONE", done_before + 1, 30000) != 0
                               ? "the resumed job did not end"
                               : NULL;
    if (fail) {
        (void) snprintf(why, len, "%s after kill -9: %s", which, fail);
        return -1;
    }
    return 0;
}

size_t
obt_devsim_count_rfnop(const char *dir, size_t max, size_t *ret_total)
{
    char **objs = calloc(max ? max : 1, sizeof *objs);
    size_t n = objs ? obt_devsim_dump(dir, objs, max) : 0;
    size_t rfnop = 0;
    for (size_t i = 0; i < n; i++) {
        rfnop += strstr(objs[i], "\"state\":\"RFNOP\"") != NULL;
        free(objs[i]);
    }
    free(objs);
    if (ret_total) {
        *ret_total = n;
    }
    return rfnop;
}

int
obt_devsim_transfers(const char *obj)
{
    const char *at = strstr(obj, "\"transfers\":");
    return at ? atoi(at + strlen("\"transfers\":")) : -1;
}

int
obt_set_dos(const char *coaps, const char *dots_id, const char *dots_key, int s)
{
    cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS, .dos_s = s};
    uint8_t *buf = NULL;
    size_t len = 0;
    char out[256];
    if (cmn_pstat_encode(&ps, &buf, &len) != CMN_OK) {
        return -1;
    }
    int code = obt_coap_as(coaps, dots_id, dots_key, "POST", "/oic/sec/pstat", buf, len, out,
                           sizeof out);
    free(buf);
    return code == 204 ? 0 : -1;
}

int
obt_give_psk_cred(const obt_ids_t *ids,
                  const obt_dev_t *dev,
                  const char *subject,
                  const char *key_hex)
{
    uint8_t key[16];
    for (size_t i = 0; i < sizeof key; i++) {
        unsigned v = 0;
        if (strlen(key_hex) != 2 * sizeof key || sscanf(key_hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        key[i] = (uint8_t) v;
    }
    cmn_cred_t cred = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                  CMN_CRED_HAS_PRIVATEDATA,
                       .credtype = CMN_CREDTYPE_PSK,
                       .priv_data = key,
                       .priv_len = sizeof key,
                       .priv_encoding = CMN_ENC_RAW};
    if (cmn_uuid_from_str(subject, &cred.subjectuuid) != CMN_OK) {
        return -1;
    }
    return obt_post_cred(ids, dev, &cred) == 204 ? 0 : -1;
}

int
obt_post_cred(const obt_ids_t *ids, const obt_dev_t *dev, const cmn_cred_t *cred)
{
    cmn_creds_t creds = {
            .present = CMN_CREDS_HAS_CREDS, .creds = (cmn_cred_t *) (uintptr_t) cred, .n_creds = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    char out[256];
    if (cmn_creds_encode(&creds, &buf, &len) != CMN_OK) {
        return -1;
    }
    int code = obt_set_dos(dev->coaps, ids->dots, dev->dots_key, CMN_DOS_RFPRO);
    if (code == 0) {
        code = obt_coap_as(dev->coaps, ids->cms, dev->cms_key, "POST", "/oic/sec/cred", buf, len,
                           out, sizeof out);
    }
    code = obt_set_dos(dev->coaps, ids->dots, dev->dots_key, CMN_DOS_RFNOP) == 0 ? code : -1;
    free(buf);
    return code;
}

bool
obt_iface_has_addr6(const char *iface, const char *addr)
{
    struct ifaddrs *ifs = NULL;
    bool found = false;
    struct in6_addr want;
    if (inet_pton(AF_INET6, addr, &want) != 1 || getifaddrs(&ifs) != 0) {
        return false;
    }
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 && strcmp(i->ifa_name, iface) == 0 &&
            memcmp(&((struct sockaddr_in6 *) (void *) i->ifa_addr)->sin6_addr, &want,
                   sizeof want) == 0) {
            found = true;
        }
    }
    freeifaddrs(ifs);
    return found;
}
