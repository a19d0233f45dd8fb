/* sim_svr_res.c — /oic/res and /oic/d (OCF-NOTES 2.3/2.4) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
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

cmn_err_t
sim_device_res(const sim_device_t *dev, const char *query, uint8_t **ret, size_t *len)
{
    static const struct {
        const char *href;
        const char *rt;
        bool is_secure_only;
        bool is_svr;
    } links[] = {
            {"/oic/res", "oic.wk.res", false, false},
            {"/oic/d", "oic.wk.d", false, false},
            {"/oic/p", "oic.wk.p", false, false},
            {"/oic/sec/doxm", "oic.r.doxm", false, true},
            {"/oic/sec/pstat", "oic.r.pstat", false, true},
            {"/oic/sec/cred", "oic.r.cred", true, true},
            {"/oic/sec/acl2", "oic.r.acl2", true, true},
            {"/oic/sec/sdi", "oic.r.sdi", true, true},
            {"/a/light", "oic.r.switch.binary", true, false},
            {CMN_VODLIST_HREF, "oic.r.vodlist", true, false},
    };
    char rt[48] = "";
    if (query) {
        (void) sim_svr_query_value(query, "rt", rt, sizeof rt);
    }
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&dev->doxm.deviceuuid, uuid);
    bool plain_svr = dev->pstat.dos_s == CMN_DOS_RFOTM && !dev->doc_open;
    cmn_res_t res = {0};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if ((rt[0] && strcmp(rt, links[i].rt) != 0) ||
            (!dev->is_bridge && strcmp(links[i].href, CMN_VODLIST_HREF) == 0)) {
            continue;
        }
        cmn_link_t l;
        memset(&l, 0, sizeof l);
        (void) snprintf(l.anchor, sizeof l.anchor, "ocf://%s", uuid);
        (void) snprintf(l.href, sizeof l.href, "%s", links[i].href);
        (void) snprintf(l.rt[0], sizeof l.rt[0], "%s", links[i].rt);
        l.n_rt = 1;
        (void) snprintf(l.ifs[0], sizeof l.ifs[0], "oic.if.baseline");
        (void) snprintf(l.ifs[1], sizeof l.ifs[1], "%s",
                        links[i].is_svr ? "oic.if.rw" : "oic.if.r");
        l.n_ifs = 2;
        l.bm = 3;
        s_eps(dev, &l, !links[i].is_secure_only && (!links[i].is_svr || plain_svr));
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
    (void) snprintf(d.icv, sizeof d.icv, "ocf.2.2.5");
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
