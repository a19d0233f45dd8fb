/* sim_dump.c — JSON view of persisted simulated devices */
#include "sim_dump.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "sim_device.h"
#include "sim_store.h"

static void
s_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            fprintf(out, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", c);
        } else {
            fputc(c, out);
        }
    }
    fputc('"', out);
}

static void
s_uuid(FILE *out, const cmn_uuid_t *u)
{
    char buf[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(u, buf);
    s_str(out, buf);
}

/* "bridge": the Bridge's uuid on a VOD; "vods": the VODs' uuids on a Bridge. */
static void
s_bridge(FILE *out, const sim_device_t *d, const sim_device_t *all, size_t n)
{
    if (d->bridge_idx >= 0) {
        for (size_t i = 0; i < n; i++) {
            if (all[i].idx == d->bridge_idx) {
                fprintf(out, ",\"bridge\":");
                s_uuid(out, &all[i].doxm.deviceuuid);
            }
        }
    }
    if (d->is_bridge) {
        fprintf(out, ",\"vods\":[");
        size_t printed = 0;
        for (size_t i = 0; i < n; i++) {
            if (all[i].bridge_idx == d->idx) {
                fprintf(out, "%s", printed++ ? "," : "");
                s_uuid(out, &all[i].doxm.deviceuuid);
            }
        }
        fprintf(out, "]");
    }
}

static void
s_device(FILE *out, const sim_device_t *d, const sim_device_t *all, size_t n_all)
{
    fprintf(out, "{\"index\":%d,\"transfers\":%u,\"dir\":", d->idx, (unsigned) d->n_transfers);
    s_str(out, d->dir);
    fprintf(out, ",\"uuid\":");
    s_uuid(out, &d->doxm.deviceuuid);
    fprintf(out, ",\"doxm\":{\"oxms\":[");
    for (size_t i = 0; i < d->doxm.n_oxms; i++) {
        fprintf(out, "%s%lld", i ? "," : "", (long long) d->doxm.oxms[i]);
    }
    fprintf(out,
            "],\"oxmsel\":%lld,\"sct\":%u,\"owned\":%s,\"deviceuuid\":", (long long) d->doxm.oxmsel,
            d->doxm.sct, d->doxm.owned ? "true" : "false");
    s_uuid(out, &d->doxm.deviceuuid);
    fprintf(out, ",\"devowneruuid\":");
    s_uuid(out, &d->doxm.devowneruuid);
    fprintf(out, ",\"rowneruuid\":");
    s_uuid(out, &d->doxm.rowneruuid);
    fprintf(out,
            "},\"pstat\":{\"dos\":{\"s\":%lld,\"p\":%s},\"state\":\"%s\",\"isop\":%s,"
            "\"cm\":%lld,\"tm\":%lld,\"om\":%lld,\"sm\":%lld,\"rowneruuid\":",
            (long long) d->pstat.dos_s, d->pstat.dos_p ? "true" : "false",
            cmn_dos_name(d->pstat.dos_s), d->pstat.isop ? "true" : "false", (long long) d->pstat.cm,
            (long long) d->pstat.tm, (long long) d->pstat.om, (long long) d->pstat.sm);
    s_uuid(out, &d->pstat.rowneruuid);
    fprintf(out, "},\"cred\":{\"rowneruuid\":");
    s_uuid(out, &d->creds.rowneruuid);
    fprintf(out, ",\"creds\":[");
    for (size_t i = 0; i < d->creds.n_creds; i++) {
        const cmn_cred_t *c = &d->creds.creds[i];
        fprintf(out, "%s{\"credid\":%lld,\"credtype\":%lld,\"subjectuuid\":", i ? "," : "",
                (long long) c->credid, (long long) c->credtype);
        if (c->subject_is_wildcard) {
            s_str(out, "*");
        } else {
            s_uuid(out, &c->subjectuuid);
        }
        fprintf(out, ",\"credusage\":");
        s_str(out, c->credusage);
        fprintf(out, ",\"publicdata_hex\":\"");
        for (size_t j = 0; j < c->pub_len; j++) {
            fprintf(out, "%02x", c->pub_data[j]);
        }
        fprintf(out, "\",\"privatedata_hex\":\"");
        for (size_t j = 0; j < c->priv_len; j++) {
            fprintf(out, "%02x", c->priv_data[j]);
        }
        if (c->present & CMN_CRED_HAS_OSCORE) {
            fprintf(out, "\",\"senderid\":\"%s\",\"recipientid\":\"%s", c->senderid,
                    c->recipientid);
        }
        if (c->present & CMN_CRED_HAS_OSCORE_DESC) {
            fprintf(out, "\",\"desc\":");
            s_str(out, c->desc);
            fprintf(out, "}");
        } else {
            fprintf(out, "\"}");
        }
    }
    fprintf(out, "]},\"crl\":");
    if (d->crl.der_len == 0) {
        fprintf(out, "null");
    } else {
        fprintf(out, "{\"crlid\":%lld,\"thisupdate\":", (long long) d->crl.crlid);
        s_str(out, d->crl.thisupdate);
        fprintf(out, ",\"crldata_hex\":\"");
        for (size_t j = 0; j < d->crl.der_len; j++) {
            fprintf(out, "%02x", d->crl.der[j]);
        }
        fprintf(out, "\"}");
    }
    fprintf(out, ",\"acl2\":{\"rowneruuid\":");
    s_uuid(out, &d->acl.rowneruuid);
    fprintf(out, ",\"aclist2\":[");
    for (size_t i = 0; i < d->acl.n_aces; i++) {
        const cmn_ace_t *a = &d->acl.aces[i];
        fprintf(out, "%s{\"aceid\":%lld,\"subject\":{", i ? "," : "", (long long) a->aceid);
        if (a->subject_kind == CMN_ACE_SUBJECT_UUID) {
            fprintf(out, "\"uuid\":");
            s_uuid(out, &a->subject_uuid);
        } else if (a->subject_kind == CMN_ACE_SUBJECT_ROLE) {
            fprintf(out, "\"role\":");
            s_str(out, a->role);
            fprintf(out, ",\"authority\":");
            s_str(out, a->authority);
        } else {
            fprintf(out, "\"conntype\":\"%s\"",
                    a->conntype == CMN_CONNTYPE_ANON_CLEAR ? "anon-clear" : "auth-crypt");
        }
        fprintf(out, "},\"resources\":[");
        for (size_t r = 0; r < a->n_resources; r++) {
            fprintf(out, "%s{", r ? "," : "");
            if (a->resources[r].href[0]) {
                fprintf(out, "\"href\":");
                s_str(out, a->resources[r].href);
            } else {
                fprintf(out, "\"wc\":");
                s_str(out, a->resources[r].wc);
            }
            fprintf(out, "}");
        }
        fprintf(out, "],\"permission\":%lld}", (long long) a->permission);
    }
    fprintf(out, "]},\"sdi\":{\"uuid\":");
    s_uuid(out, &d->sdi.uuid);
    fprintf(out, ",\"name\":");
    s_str(out, d->sdi.name);
    fprintf(out, ",\"priv\":%s},\"eps\":[", d->sdi.priv ? "true" : "false");
    char addrs[SIM_MAX_ADDRS][64];
    size_t n = sim_device_addrs(d, addrs, SIM_MAX_ADDRS);
    for (size_t i = 0; i < n; i++) {
        char ep[2][96];
        sim_device_ep(addrs[i], false, d->udp_port, true, ep[0], sizeof ep[0]);
        sim_device_ep(addrs[i], true, d->dtls_port, true, ep[1], sizeof ep[1]);
        fprintf(out, "%s\"%s\",\"%s\"", i ? "," : "", ep[0], ep[1]);
    }
    fprintf(out, "]");
    s_bridge(out, d, all, n_all);
    fprintf(out, "}");
}

/* dev-NNNN in index order (dev-10000 after dev-9999). */
static int
s_cmp(const void *a, const void *b)
{
    long x = atol(*(char *const *) a + 4), y = atol(*(char *const *) b + 4);
    return x < y ? -1 : x > y;
}

cmn_err_t
sim_dump_dir(const char *dir, FILE *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return CMN_ENOTFOUND;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "dev-", 4) != 0) {
            continue;
        }
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (grown == NULL) {
            break;
        }
        names = grown;
        names[n] = strdup(e->d_name);
        n += names[n] != NULL;
    }
    (void) closedir(d);
    qsort(names, n, sizeof *names, s_cmp);
    /* All loaded first: a VOD names its Bridge's uuid, a Bridge its VODs'. */
    sim_device_t *devs = calloc(n ? n : 1, sizeof *devs);
    size_t loaded = 0;
    for (size_t i = 0; devs && i < n; i++) {
        sim_device_t *dev = &devs[loaded];
        dev->idx = atoi(names[i] + 4);
        dev->bridge_idx = -1;
        (void) snprintf(dev->dir, sizeof dev->dir, "%s/%s", dir, names[i]);
        (void) snprintf(dev->address, sizeof dev->address, "127.0.0.1");
        if (sim_store_load(dev) == CMN_OK) {
            loaded++;
        } else {
            sim_device_free(dev);
            memset(dev, 0, sizeof *dev);
        }
    }
    fprintf(out, "[");
    for (size_t i = 0; i < loaded; i++) {
        fprintf(out, "%s\n", i ? "," : "");
        s_device(out, &devs[i], devs, loaded);
        sim_device_free(&devs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    free(devs);
    fprintf(out, "\n]\n");
    return CMN_OK;
}
