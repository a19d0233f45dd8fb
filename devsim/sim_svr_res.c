/* sim_svr_res.c — /oic/res and /oic/d (OCF-NOTES 2.3/2.4) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "sim_acl.h"
#include "sim_svr.h"

size_t
sim_device_addrs(const sim_device_t *dev, char out[][64], size_t max)
{
    size_t n = 0;
    const char *p = dev->address;
    while (*p && n < max) {
        size_t len = strcspn(p, ",");
        if (len > 0 && len < 64) {
            memcpy(out[n], p, len);
            out[n++][len] = '\0';
        }
        p += len;
        p += *p == ',';
    }
    return n;
}

void
sim_device_ep(
        const char *addr, bool secure, uint16_t port, bool with_zone, char *out, size_t out_len)
{
    bool v6 = strchr(addr, ':') != NULL;
    int host_len = (int) (with_zone ? strlen(addr) : strcspn(addr, "%"));
    (void) snprintf(out, out_len, "%s://%s%.*s%s:%u", secure ? "coaps" : "coap", v6 ? "[" : "",
                    host_len, addr, v6 ? "]" : "", (unsigned) port);
}

/* Every address's endpoints, as [IL] lists all of a device's endpoints (OCF-NOTES 2.3). */
static void
s_eps(const sim_device_t *dev, cmn_link_t *l, bool with_plain)
{
    char addrs[SIM_MAX_ADDRS][64];
    size_t n = sim_device_addrs(dev, addrs, SIM_MAX_ADDRS);
    l->n_eps = 0;
    for (size_t i = 0; i < n && l->n_eps + 2 <= CMN_LINK_MAX_EPS; i++) {
        if (with_plain) {
            sim_device_ep(addrs[i], false, dev->udp_port, false, l->eps[l->n_eps++],
                          sizeof l->eps[0]);
        }
        sim_device_ep(addrs[i], true, dev->dtls_port, false, l->eps[l->n_eps++], sizeof l->eps[0]);
    }
}

/* Every resource a simulated device may serve: /oic/res lists them, the access check
 * reads what it needs from them. app: the --rt bit of an application resource (0 =
 * always served). */
static const struct {
    const char *href;
    const char *rt;
    const char *ifs[2]; /* the first is the default interface */
    bool is_secure_only;
    bool is_svr;
    bool is_dcr;
    unsigned app;
} s_links[] = {
        {"/oic/res", "oic.wk.res", {"oic.if.ll", "oic.if.baseline"}, false, false, true, 0},
        {"/oic/d", "oic.wk.d", {"oic.if.r", "oic.if.baseline"}, false, false, true, 0},
        {"/oic/p", "oic.wk.p", {"oic.if.r", "oic.if.baseline"}, false, false, true, 0},
        {"/oic/sec/doxm", "oic.r.doxm", {"oic.if.rw", "oic.if.baseline"}, false, true, true, 0},
        {"/oic/sec/pstat", "oic.r.pstat", {"oic.if.rw", "oic.if.baseline"}, false, true, true, 0},
        {"/oic/sec/cred", "oic.r.cred", {"oic.if.rw", "oic.if.baseline"}, true, true, true, 0},
        {"/oic/sec/acl2", "oic.r.acl2", {"oic.if.rw", "oic.if.baseline"}, true, true, true, 0},
        {"/oic/sec/sdi", "oic.r.sdi", {"oic.if.rw", "oic.if.baseline"}, true, true, true, 0},
        {"/oic/sec/csr", "oic.r.csr", {"oic.if.r", "oic.if.baseline"}, true, true, true, 0},
        {"/oic/sec/crl", "oic.r.crl", {"oic.if.rw", "oic.if.baseline"}, true, true, true, 0},
        {"/oic/sec/roles", "oic.r.roles", {"oic.if.rw", "oic.if.baseline"}, true, true, true, 0},
        {"/a/light", "oic.r.switch.binary", {"oic.if.a", "oic.if.baseline"}, true, false, false, 0},
        {"/light",
         "oic.r.switch.binary",
         {"oic.if.a", "oic.if.baseline"},
         false,
         false,
         false,
         SIM_APP_LIGHT},
        {"/temp",
         "oic.r.temperature",
         {"oic.if.s", "oic.if.baseline"},
         true,
         false,
         false,
         SIM_APP_TEMP},
        {CMN_VODLIST_HREF, "oic.r.vodlist", {"oic.if.r", "oic.if.baseline"}, true, false, false, 0},
};

static bool
s_serves(const sim_device_t *dev, size_t i)
{
    if (strcmp(s_links[i].href, CMN_VODLIST_HREF) == 0) {
        return dev->is_bridge;
    }
    if (strcmp(s_links[i].href, "/oic/sec/csr") == 0) {
        return dev->has_csr; /* --certs (docs/cms.md) */
    }
    if (strcmp(s_links[i].href, "/oic/sec/crl") == 0 ||
        strcmp(s_links[i].href, "/oic/sec/roles") == 0) {
        return dev->has_certs;
    }
    return s_links[i].app == 0 || (dev->app_rts & s_links[i].app) != 0;
}

bool
sim_device_res_info(const sim_device_t *dev, const char *path, sim_res_info_t *ret)
{
    for (size_t i = 0; i < sizeof s_links / sizeof s_links[0]; i++) {
        if (strcmp(s_links[i].href, path) != 0 || !s_serves(dev, i)) {
            continue;
        }
        memset(ret, 0, sizeof *ret);
        ret->href = s_links[i].href;
        ret->rt = s_links[i].rt;
        ret->ifs[0] = s_links[i].ifs[0];
        ret->ifs[1] = s_links[i].ifs[1];
        ret->is_dcr = s_links[i].is_dcr;
        ret->is_svr = s_links[i].is_svr;
        ret->is_discoverable = true;
        ret->has_plain_ep = !s_links[i].is_secure_only;
        return true;
    }
    return false;
}

unsigned
sim_device_app_bit(const char *rt)
{
    for (size_t i = 0; i < sizeof s_links / sizeof s_links[0]; i++) {
        if (s_links[i].app != 0 && strcmp(s_links[i].rt, rt) == 0) {
            return s_links[i].app;
        }
    }
    return 0;
}

cmn_err_t
sim_device_res(const sim_device_t *dev, const char *query, uint8_t **ret, size_t *len)
{
    char rt[48] = "";
    if (query) {
        (void) sim_svr_query_value(query, "rt", rt, sizeof rt);
    }
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&dev->doxm.deviceuuid, uuid);
    bool plain_svr = dev->pstat.dos_s == CMN_DOS_RFOTM && !dev->doc_open;
    cmn_res_t res = {0};
    for (size_t i = 0; i < sizeof s_links / sizeof s_links[0]; i++) {
        if ((rt[0] && strcmp(rt, s_links[i].rt) != 0) || !s_serves(dev, i)) {
            continue;
        }
        cmn_link_t l;
        memset(&l, 0, sizeof l);
        (void) snprintf(l.anchor, sizeof l.anchor, "ocf://%s", uuid);
        (void) snprintf(l.href, sizeof l.href, "%s", s_links[i].href);
        (void) snprintf(l.rt[0], sizeof l.rt[0], "%s", s_links[i].rt);
        l.n_rt = 1;
        (void) snprintf(l.ifs[0], sizeof l.ifs[0], "oic.if.baseline");
        (void) snprintf(l.ifs[1], sizeof l.ifs[1], "%s", s_links[i].ifs[0]);
        l.n_ifs = 2;
        l.bm = 3;
        s_eps(dev, &l, !s_links[i].is_secure_only && (!s_links[i].is_svr || plain_svr));
        if (cmn_res_add(&res, &l) != CMN_OK) {
            cmn_res_free(&res);
            return CMN_ENOMEM;
        }
    }
    if (res.n_links == 0) {
        cmn_res_free(&res);
        return CMN_ENOTFOUND;
    }
    cmn_err_t err = cmn_res_encode(&res, ret, len);
    cmn_res_free(&res);
    return err;
}

cmn_err_t
sim_svr_get_d(const sim_device_t *dev, uint8_t **ret, size_t *len)
{
    cmn_d_t d;
    memset(&d, 0, sizeof d);
    d.di = dev->doxm.deviceuuid;
    d.piid = dev->piid;
    (void) snprintf(d.n, sizeof d.n, "ocf-devsim %s %d",
                    dev->is_bridge ? "bridge"
                    : dev->bridge  ? "vod"
                                   : "light",
                    dev->idx);
    (void) snprintf(d.icv, sizeof d.icv, "%s", dev->icv[0] ? dev->icv : SIM_DEFAULT_ICV);
    (void) snprintf(d.dmv, sizeof d.dmv, "ocf.res.1.0.0,ocf.sh.1.0.0");
    (void) snprintf(d.rt[0], sizeof d.rt[0], "oic.wk.d");
    (void) snprintf(d.rt[1], sizeof d.rt[1], "%s", dev->is_bridge ? "oic.d.bridge" : "oic.d.light");
    d.n_rt = 2;
    if (dev->bridge) {
        (void) snprintf(d.rt[d.n_rt++], sizeof d.rt[0], "oic.d.virtual");
    }
    return cmn_d_encode(&d, ret, len);
}

cmn_err_t
sim_svr_get_vodlist(const sim_device_t *dev, uint8_t **ret, size_t *len)
{
    cmn_vodlist_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        return CMN_ENOMEM;
    }
    for (size_t i = 0; i < dev->n_all && v->n_vods < CMN_VODLIST_MAX; i++) {
        const sim_device_t *vod = &dev->all[i];
        if (vod->bridge != dev) {
            continue;
        }
        cmn_vod_t *e = &v->vods[v->n_vods++];
        (void) snprintf(e->n, sizeof e->n, "ocf-devsim vod %d", vod->idx);
        e->di = vod->doxm.deviceuuid;
        (void) snprintf(e->econame, sizeof e->econame, "devsim");
    }
    cmn_err_t err = cmn_vodlist_encode(v, ret, len);
    free(v);
    return err;
}
