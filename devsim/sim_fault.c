/* sim_fault.c — parsing of the --faults SPEC */
#include "sim_fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_uuid.h"
#include "sim_mfg.h"
#include "sim_store.h"

/* damage-acl: the kind of damage repair must undo (clause 5.2 and the baseline): an
 * anon-clear ACE over /oic/sec/cred, and the first ACE with a uuid subject gone. */
static cmn_err_t
s_damage_acl(sim_device_t *d)
{
    for (size_t i = 0; i < d->acl.n_aces; i++) {
        if (d->acl.aces[i].subject_kind == CMN_ACE_SUBJECT_UUID) {
            d->acl.aces[i] = d->acl.aces[--d->acl.n_aces];
            break;
        }
    }
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
    ace.conntype = CMN_CONNTYPE_ANON_CLEAR;
    ace.n_resources = 1;
    (void) snprintf(ace.resources[0].href, sizeof ace.resources[0].href, "/oic/sec/cred");
    ace.permission = CMN_PERM_R | CMN_PERM_U;
    for (size_t i = 0; i < d->acl.n_aces; i++) {
        ace.aceid = d->acl.aces[i].aceid >= ace.aceid ? d->acl.aces[i].aceid + 1 : ace.aceid;
    }
    cmn_err_t err = cmn_acl_add(&d->acl, &ace);
    if (err == CMN_OK) {
        err = sim_store_save(d, true);
    }
    cmn_log_notice("SIM-FAULT", "dev=%d acl2 damaged: anon-clear ACE %lld over /oic/sec/cred",
                   d->idx, (long long) ace.aceid);
    return err;
}

/* seed-recipientid: "HEX" (tests): a pairwise OSCORE entry (credtype 64, a zero master
 * secret, subject the nil uuid but for its last byte) whose recipientid is HEX, unless
 * one already has it; once, at start, like damage-acl. */
static cmn_err_t
s_seed_recipientid(sim_device_t *d, const char *hex)
{
    size_t len = hex ? strlen(hex) : 0;
    if (len < 2 || len > 14 || len % 2 != 0 || strspn(hex, "0123456789abcdef") != len) {
        (void) fprintf(stderr, "error: --faults: IDX:seed-recipientid:HEX (lowercase, 1..7 "
                               "bytes)\n");
        return CMN_EINVAL;
    }
    for (size_t i = 0; i < d->creds.n_creds; i++) {
        if (strcmp(d->creds.creds[i].recipientid, hex) == 0) {
            return CMN_OK;
        }
    }
    uint8_t secret[32] = {0};
    cmn_cred_t c;
    memset(&c, 0, sizeof c);
    c.present = CMN_CRED_HAS_CREDID | CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                CMN_CRED_HAS_PRIVATEDATA | CMN_CRED_HAS_OSCORE;
    c.credtype = CMN_CREDTYPE_OSCORE;
    c.subjectuuid.b[15] = 0x5e;
    c.priv_data = secret;
    c.priv_len = sizeof secret;
    (void) snprintf(c.priv_encoding, sizeof c.priv_encoding, "%s", CMN_ENC_RAW);
    (void) snprintf(c.senderid, sizeof c.senderid, "015eed");
    (void) snprintf(c.recipientid, sizeof c.recipientid, "%s", hex);
    c.credid = 1;
    for (size_t i = 0; i < d->creds.n_creds; i++) {
        c.credid = d->creds.creds[i].credid >= c.credid ? d->creds.creds[i].credid + 1 : c.credid;
    }
    cmn_err_t err = cmn_creds_add(&d->creds, &c);
    if (err == CMN_OK) {
        err = sim_store_save(d, true);
    }
    cmn_log_notice("SIM-FAULT", "dev=%d seeded an OSCORE entry with recipientid %s", d->idx, hex);
    return err;
}

/* owned-rfotm (tests only): an owned device is moved back to RFOTM with owned=true,
 * its credentials (the owner's PSK among them) and ACL kept; an unowned one is marked
 * owned by another owner (owned=true, a random devowneruuid, no credential: an owner
 * this domain does not know). Either stays in RFOTM as a stack that does not
 * reset when its ownership transfer is cut short and picks its DTLS suites by
 * doxm.owned; until its next reset it does not reset itself (no reset when a DOC
 * closes) and takes a PSK session of its credentials (its owner's) as its DOC, the
 * one DTLS peer in RFOTM as IoTivity-Lite does (sim_coap.c). Once, at start, after the
 * boot check (started again without the fault, such a device resets at boot). */
static cmn_err_t
s_owned_rfotm(sim_device_t *d)
{
    if (!d->doxm.owned) {
        cmn_err_t err = cmn_uuid_generate(&d->doxm.devowneruuid);
        if (err != CMN_OK) {
            return err;
        }
        d->doxm.owned = true;
    }
    d->pstat.dos_s = CMN_DOS_RFOTM;
    d->pstat.dos_p = false;
    d->pstat.isop = false;
    d->pstat.cm = 2;
    d->pstat.tm = 0;
    d->is_stuck_owned = true;
    d->in_maint = false;
    cmn_log_notice("SIM-FAULT",
                   "dev=%d moved to RFOTM with owned=true and its %zu credential(s) kept "
                   "(owned-rfotm: no reset by itself)",
                   d->idx, d->creds.n_creds);
    return sim_store_save(d, true);
}

/* stop: "N:METHOD:PATH" (the Nth METHOD request on PATH outside the DOC); *path is
 * moved to the PATH part. */
static cmn_err_t
s_parse_stop(sim_device_t *d, char **path, bool in_doc)
{
    static const struct {
        const char *name;
        sim_method_t method;
    } methods[] = {{"GET", SIM_GET}, {"POST", SIM_POST}, {"PUT", SIM_PUT}, {"DELETE", SIM_DELETE}};
    char *end = NULL;
    long n = *path ? strtol(*path, &end, 10) : 0;
    char *m = end && *end == ':' ? end + 1 : NULL;
    char *p = m ? strchr(m, ':') : NULL;
    if (n < 1 || n > 1000 || p == NULL || p[1] != '/') {
        (void) fprintf(stderr, "error: --faults: IDX:%s:N:METHOD:PATH (N from 1, PATH from /)\n",
                       in_doc ? "stop-doc" : "stop");
        return CMN_EINVAL;
    }
    *p++ = '\0';
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(m, methods[i].name) == 0) {
            d->fault = SIM_FAULT_STOP_NTH;
            d->stop_nth = (int) n;
            d->stop_method = methods[i].method;
            d->stop_in_doc = in_doc;
            *path = p;
            return CMN_OK;
        }
    }
    (void) fprintf(stderr, "error: --faults: stop: METHOD is GET, POST, PUT or DELETE\n");
    return CMN_EINVAL;
}

cmn_err_t
sim_fault_parse(const char *spec, sim_device_t *devs, size_t n)
{
    char *copy = strdup(spec ? spec : "");
    char *save = NULL;
    cmn_err_t err = copy ? CMN_OK : CMN_ENOMEM;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && err == CMN_OK;
         item = strtok_r(NULL, ",", &save)) {
        char *kind = strchr(item, ':');
        char *end = NULL;
        long idx = strtol(item, &end, 10);
        if (kind == NULL || end != kind || idx < 0 || (size_t) idx >= n) {
            (void) fprintf(stderr, "error: --faults: bad entry \"%s\" (IDX:KIND[:PATH])\n", item);
            err = CMN_EINVAL;
            break;
        }
        kind++;
        char *path = strchr(kind, ':');
        if (path) {
            *path++ = '\0';
        }
        sim_device_t *d = &devs[idx];
        if (strcmp(kind, "bad-cbor") == 0) {
            d->fault = SIM_FAULT_BAD_CBOR;
        } else if (strcmp(kind, "silent") == 0) {
            d->fault = SIM_FAULT_SILENT;
        } else if (strcmp(kind, "error") == 0) {
            d->fault = SIM_FAULT_ERROR;
        } else if (strcmp(kind, "bad-coap") == 0) {
            d->fault = SIM_FAULT_BAD_COAP;
        } else if (strcmp(kind, "bad-hint") == 0) {
            d->fault = SIM_FAULT_BAD_HINT;
        } else if (strcmp(kind, "mute-first") == 0) {
            d->fault = SIM_FAULT_MUTE_FIRST;
        } else if (strcmp(kind, "drop-doc") == 0) {
            d->fault = SIM_FAULT_DROP_DOC;
        } else if (strcmp(kind, "stop") == 0 || strcmp(kind, "stop-doc") == 0) {
            err = s_parse_stop(d, &path, strcmp(kind, "stop-doc") == 0);
            if (err != CMN_OK) {
                break;
            }
        } else if (strcmp(kind, "refuse-dtls") == 0) {
            char *end_n = NULL;
            long nr = path ? strtol(path, &end_n, 10) : 0;
            if (nr < 1 || nr > 1000 || end_n == NULL || *end_n != '\0') {
                (void) fprintf(stderr, "error: --faults: IDX:refuse-dtls:N (N from 1 to 1000)\n");
                err = CMN_EINVAL;
                break;
            }
            d->fault = SIM_FAULT_REFUSE_DTLS;
            d->refuse_left = (int) nr;
            path = NULL;
        } else if (strcmp(kind, "error-maint") == 0) {
            d->fault = SIM_FAULT_ERROR_MAINT;
        } else if (strcmp(kind, "stop-maint") == 0) {
            d->fault = SIM_FAULT_STOP_MAINT;
        } else if (strcmp(kind, "mfg") == 0) {
            sim_mfg_kind_t mk = SIM_MFG_GOOD;
            if (sim_mfg_kind_parse(path, &mk) != CMN_OK) {
                (void) fprintf(stderr,
                               "error: --faults: IDX:mfg:KIND with KIND good, expired, bad-ku, "
                               "no-ocf-eku, untrusted, ca-leaf, other-uuid or bad-sig\n");
                err = CMN_EINVAL;
                break;
            }
            d->mfg_kind = (int) mk; /* a certificate, not a fault of a path */
            path = NULL;
        } else if (strcmp(kind, "absent") == 0) {
            d->fault = SIM_FAULT_SILENT; /* never answers anything, multicast included */
            d->is_silenced = true;
        } else if (strcmp(kind, "seed-recipientid") == 0) {
            err = s_seed_recipientid(d, path); /* once, at start; not a lasting behaviour */
            if (err != CMN_OK) {
                break;
            }
            path = NULL;
        } else if (strcmp(kind, "owned-rfotm") == 0) {
            err = s_owned_rfotm(d); /* once, at start; then no reset by itself */
            if (err != CMN_OK) {
                break;
            }
        } else if (strcmp(kind, "damage-acl") == 0) {
            err = s_damage_acl(d); /* once, at start; not a lasting behaviour */
            if (err != CMN_OK) {
                break;
            }
        } else {
            (void) fprintf(stderr, "error: --faults: unknown kind \"%s\"\n", kind);
            err = CMN_EINVAL;
            break;
        }
        int w = snprintf(d->fault_path, sizeof d->fault_path, "%s", path ? path : "");
        if (w < 0 || (size_t) w >= sizeof d->fault_path) {
            (void) fprintf(stderr, "error: --faults: path too long (max %zu): \"%s\"\n",
                           sizeof d->fault_path - 1, path);
            err = CMN_EINVAL;
            break;
        }
    }
    free(copy);
    return err;
}
