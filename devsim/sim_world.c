/* sim_world.c — the ocf-devsim process: N devices, multicast, one event loop */
#include "sim_world.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_time.h"
#include "sim_coap.h"
#include "sim_csr.h"
#include "sim_fault.h"
#include "sim_mcast.h"
#include "sim_mfg.h"
#include "sim_store.h"
#include "sim_sync.h"

#define SWEEP_MS   100  /* pending resets */
#define TIMERS_MS  1000 /* libcoap timers of every context: DTLS retransmits are >= 1 s */
#define TAG_MCAST4 ((uint64_t) -1)
#define TAG_MCAST6 ((uint64_t) -2)
#define TAG_SIGNAL ((uint64_t) -3)

struct sim_world {
    sim_device_t *devs;          /* the devices */
    size_t n;                    /* how many */
    sim_mcast_t *mcast;          /* multicast listener */
    int epfd;                    /* the process's epoll */
    int sigfd;                   /* SIGTERM/SIGINT (stop), SIGUSR1 (a --dump asks a flush) */
    sim_store_mode_t store_mode; /* how state changes reach the files (--fsync, --flush-ms) */
    sim_sync_t *sync;            /* batched writes, the --dump handshake */
    sim_mfg_ca_t *mfg_factory;   /* certificate OTM: the CA operators trust */
    sim_mfg_ca_t *mfg_rogue;     /* and one nobody trusts (kind "untrusted") */
};

static int
s_watch(sim_world_t *self, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* --rt: a comma list of the application resource types the devices serve. */
static cmn_err_t
s_parse_rts(const char *s, unsigned *ret)
{
    unsigned bits = 0;
    while (s && *s) {
        char rt[48];
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof rt) {
            return CMN_EINVAL;
        }
        memcpy(rt, s, len);
        rt[len] = '\0';
        unsigned bit = sim_device_app_bit(rt);
        if (bit == 0) {
            return CMN_EINVAL;
        }
        bits |= bit;
        s += len;
        s += *s == ',';
    }
    *ret = bits;
    return CMN_OK;
}

static cmn_err_t
s_parse_oxms(const char *s, sim_device_t *dev)
{
    char *end = NULL;
    dev->n_oxms = 0;
    while (s && *s && dev->n_oxms < CMN_DOXM_MAX_OXMS) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 0xFFFF) {
            return CMN_EINVAL;
        }
        dev->oxms[dev->n_oxms++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return dev->n_oxms > 0 ? CMN_OK : CMN_EINVAL;
}

/* The certificate OTM's factory: if a device offers oxm 2, the CA that issues the
 * manufacturer certificates (DIR/factory-ca.pem: what the operator gives DOTS with
 * obtctl mfg-trust add) and a second one for the kind "untrusted", made at the first
 * start and kept. Leaves are issued on the first DOC handshake (sim_coap.c). */
/* --ssm: "all" or a comma list of IDX; those devices' sct gets 128|256 (seed 6.4). */
static cmn_err_t
s_ssm_setup(const char *spec, sim_device_t *devs, size_t n)
{
    bool is_all = strcmp(spec, "all") == 0;
    char *copy = strdup(is_all ? "" : spec);
    char *save = NULL;
    cmn_err_t err = copy ? CMN_OK : CMN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        devs[i].has_ssm = is_all;
    }
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && err == CMN_OK;
         item = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        long idx = strtol(item, &end, 10);
        if (end == item || *end != '\0' || idx < 0 || (size_t) idx >= n) {
            (void) fprintf(stderr, "error: --ssm: bad entry \"%s\" (all, or IDX below --count)\n",
                           item);
            err = CMN_EINVAL;
            break;
        }
        devs[idx].has_ssm = true;
    }
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        devs[i].doxm.sct = sim_device_sct(&devs[i]);
    }
    free(copy);
    return err;
}

static cmn_err_t
s_mfg_setup(sim_world_t *self, const char *dir)
{
    bool has_mfg = false;
    for (size_t i = 0; i < self->n; i++) {
        for (size_t k = 0; k < self->devs[i].n_oxms; k++) {
            has_mfg |= self->devs[i].oxms[k] == 2;
        }
    }
    if (!has_mfg) {
        return CMN_OK;
    }
    cmn_err_t err = CMN_OK;
    self->mfg_factory = sim_mfg_ca_open(dir, "factory-ca", "ocf-devsim factory CA", &err);
    if (self->mfg_factory) {
        self->mfg_rogue = sim_mfg_ca_open(dir, "untrusted-ca", "ocf-devsim untrusted CA", &err);
    }
    if (self->mfg_rogue == NULL) {
        cmn_log_err("SIM-MFG-CA", "cannot make or load the factory CA in \"%s\": %s", dir,
                    cmn_strerror(err));
        return err;
    }
    for (size_t i = 0; i < self->n; i++) {
        sim_device_t *d = &self->devs[i];
        d->mfg_ca = d->mfg_kind == SIM_MFG_UNTRUSTED ? self->mfg_rogue : self->mfg_factory;
    }
    cmn_log_notice("SIM-MFG-CA", "manufacturer certificates issued by %s/factory-ca.pem", dir);
    return CMN_OK;
}

/* Links a VOD to its Bridge (devices load in index order; a Bridge has a lower index).
 * Indexes are the process's own: a Bridge and its VODs live in one process. */
static void
s_link_bridge(sim_world_t *self, sim_device_t *d)
{
    d->all = self->devs;
    d->n_all = self->n;
    d->bridge = NULL;
    if (d->bridge_idx < 0) {
        return;
    }
    if (d->bridge_idx >= d->idx || d->bridge_idx < self->devs[0].idx ||
        !self->devs[d->bridge_idx - self->devs[0].idx].is_bridge) {
        cmn_log_warn("SIM-BRIDGE", "dev=%d stored Bridge %d is not a Bridge here: unlinked", d->idx,
                     d->bridge_idx);
        d->bridge_idx = -1;
        return;
    }
    d->bridge = &self->devs[d->bridge_idx - self->devs[0].idx];
}

sim_world_t *
sim_world_new(const sim_config_t *cfg)
{
    sim_world_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->epfd = -1;
    self->sigfd = -1;
    self->store_mode = cfg->fsync           ? SIM_STORE_FSYNC
                       : cfg->flush_ms == 0 ? SIM_STORE_WRITE
                                            : SIM_STORE_BATCH;
    self->n = (size_t) cfg->count + (size_t) cfg->bridge_vods; /* VODs come after --count */
    self->devs = calloc(self->n, sizeof *self->devs);
    if (self->devs == NULL || sim_coap_init() != CMN_OK ||
        (mkdir(cfg->dir, 0700) != 0 && errno != EEXIST)) {
        cmn_log_err("SIM-INIT", "cannot prepare \"%s\": %s", cfg->dir, strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < self->n; i++) {
        sim_device_t *d = &self->devs[i];
        d->idx = cfg->first_index + (int) i; /* several processes share one --dir */
        /* The flags decide the Bridge/VOD relation of a new device; a stored one wins. */
        d->is_bridge = cfg->bridge_vods > 0 && i == 0;
        d->bridge_idx = cfg->bridge_vods > 0 && i >= (size_t) cfg->count ? 0 : -1;
        d->reset_delay_ms = cfg->reset_delay_ms;
        d->doc_idle_ms = cfg->doc_idle_ms;
        d->is_legacy_hint = cfg->rdp_legacy_hint;
        d->is_mfg_cn_fixed = cfg->mfg_cn_fixed;
        (void) snprintf(d->dir, sizeof d->dir, "%s/dev-%04d", cfg->dir, d->idx);
        (void) snprintf(d->address, sizeof d->address, "%s", cfg->address);
        int cmp = 0;
        if (s_parse_rts(cfg->rt, &d->app_rts) != CMN_OK) {
            cmn_log_err("SIM-INIT",
                        "bad --rt \"%s\": known types are oic.r.switch.binary, "
                        "oic.r.temperature",
                        cfg->rt);
            goto fail;
        }
        if (cmn_icv_compare(cfg->icv, cfg->icv, &cmp) != CMN_OK ||
            strlen(cfg->icv) >= sizeof d->icv) {
            cmn_log_err("SIM-INIT", "bad --icv \"%s\": want ocf.X.Y.Z", cfg->icv);
            goto fail;
        }
        (void) snprintf(d->icv, sizeof d->icv, "%s", cfg->icv);
        if (s_parse_oxms(cfg->oxms, d) != CMN_OK) {
            cmn_log_err("SIM-INIT", "bad --oxms \"%s\"", cfg->oxms);
            goto fail;
        }
        (void) mkdir(d->dir, 0700);
        cmn_err_t err = sim_store_load(d);
        if (err == CMN_ENOTFOUND || err == CMN_EPROTO) {
            if (err == CMN_EPROTO) {
                cmn_log_warn("SIM-CORRUPT", "dev=%d state unreadable: factory reset", d->idx);
            }
            err = sim_device_factory_reset(d);
        } else if (err == CMN_OK) {
            (void) sim_device_boot_check(d); /* a transfer cut short by a crash */
        }
        if (err == CMN_OK) {
            s_link_bridge(self, d);
        }
        if (err == CMN_OK && cfg->new_ports) {
            d->udp_port = d->dtls_port = 0; /* sim_coap_start picks free ones */
        }
        if (err == CMN_OK) {
            err = sim_coap_start(d, self->store_mode);
        }
        if (err == CMN_OK) {
            err = sim_store_save(d, cfg->fsync); /* its file and ports exist from the start */
        }
        if (err != CMN_OK) {
            cmn_log_err("SIM-INIT", "dev=%d cannot start: %s", d->idx, cmn_strerror(err));
            goto fail;
        }
    }
    if (sim_fault_parse(cfg->faults, self->devs, self->n) != CMN_OK ||
        sim_csr_setup(cfg->certs, self->devs, self->n) != CMN_OK ||
        s_ssm_setup(cfg->ssm, self->devs, self->n) != CMN_OK ||
        s_mfg_setup(self, cfg->dir) != CMN_OK) {
        goto fail;
    }
    if (cfg->mcast) {
        bool has_v4 = false, has_v6 = false;
        char addrs[SIM_MAX_ADDRS][64];
        size_t n_addrs = self->n ? sim_device_addrs(&self->devs[0], addrs, SIM_MAX_ADDRS) : 0;
        for (size_t i = 0; i < n_addrs; i++) {
            bool v6 = strchr(addrs[i], ':') != NULL;
            has_v6 = has_v6 || v6;
            has_v4 = has_v4 || !v6;
        }
        self->mcast = sim_mcast_new(cfg->iface, cfg->scope, has_v4, has_v6, cfg->mcast_bind,
                                    cfg->mcast_jitter_ms);
        if (self->mcast == NULL) {
            goto fail;
        }
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    (void) sigprocmask(SIG_BLOCK, &mask, NULL);
    self->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    self->sync = sim_sync_new(cfg->dir, cfg->first_index,
                              self->store_mode == SIM_STORE_BATCH ? cfg->flush_ms : 0);
    if (self->sync == NULL) {
        cmn_log_err("SIM-INIT", "cannot write the pid file in \"%s\"", cfg->dir);
        goto fail;
    }
    if (self->sigfd < 0 || self->epfd < 0 || s_watch(self, self->sigfd, TAG_SIGNAL) != 0 ||
        (self->mcast && sim_mcast_fd(self->mcast, 0) >= 0 &&
         s_watch(self, sim_mcast_fd(self->mcast, 0), TAG_MCAST4) != 0) ||
        (self->mcast && sim_mcast_fd(self->mcast, 1) >= 0 &&
         s_watch(self, sim_mcast_fd(self->mcast, 1), TAG_MCAST6) != 0)) {
        goto fail;
    }
    for (size_t i = 0; i < self->n; i++) {
        if (s_watch(self, sim_coap_fd(&self->devs[i]), i) != 0) {
            goto fail;
        }
        char uuid[CMN_UUID_STR_LEN + 1];
        cmn_uuid_to_str(&self->devs[i].doxm.deviceuuid, uuid);
        /* coap=/coaps= per address, in --address order (link-local with its zone). */
        char eps[SIM_MAX_ADDRS * 200] = "";
        char addrs[SIM_MAX_ADDRS][64];
        size_t n_addrs = sim_device_addrs(&self->devs[i], addrs, SIM_MAX_ADDRS);
        for (size_t a = 0; a < n_addrs; a++) {
            char ep[2][96];
            size_t used = strlen(eps);
            sim_device_ep(addrs[a], false, self->devs[i].udp_port, true, ep[0], sizeof ep[0]);
            sim_device_ep(addrs[a], true, self->devs[i].dtls_port, true, ep[1], sizeof ep[1]);
            (void) snprintf(eps + used, sizeof eps - used, " coap=%s coaps=%s", ep[0], ep[1]);
        }
        char role[64] = "";
        if (self->devs[i].is_bridge) {
            (void) snprintf(role, sizeof role, " role=bridge");
        } else if (self->devs[i].bridge) {
            (void) snprintf(role, sizeof role, " role=vod bridge=%d", self->devs[i].bridge_idx);
        }
        cmn_log_notice("DEVICE", "idx=%d uuid=%s state=%s%s%s", self->devs[i].idx, uuid,
                       cmn_dos_name(self->devs[i].pstat.dos_s), role, eps);
    }
    cmn_log_notice("READY", "devices=%zu dir=\"%s\"", self->n, cfg->dir);
    return self;
fail:
    sim_world_destroy(&self);
    return NULL;
}

void
sim_world_destroy(sim_world_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    sim_world_t *self = *self_p;
    if (self->devs) {
        (void) sim_store_flush(self->devs, self->n); /* a clean exit loses nothing */
    }
    sim_sync_destroy(&self->sync);
    for (size_t i = 0; self->devs && i < self->n; i++) {
        sim_coap_stop(&self->devs[i]);
        sim_device_free(&self->devs[i]);
    }
    free(self->devs);
    sim_mcast_destroy(&self->mcast);
    sim_mfg_ca_destroy(&self->mfg_factory);
    sim_mfg_ca_destroy(&self->mfg_rogue);
    if (self->epfd >= 0) {
        (void) close(self->epfd);
    }
    if (self->sigfd >= 0) {
        (void) close(self->sigfd);
    }
    sim_coap_fini();
    free(self);
    *self_p = NULL;
}

static void
s_do_reset(sim_world_t *self, sim_device_t *d)
{
    char old[CMN_UUID_STR_LEN + 1], neu[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&d->doxm.deviceuuid, old);
    if (sim_device_factory_reset(d) != CMN_OK || sim_coap_restart(d) != CMN_OK ||
        s_watch(self, sim_coap_fd(d), (uint64_t) (d - self->devs)) != 0) {
        cmn_log_err("SIM-RESET", "dev=%d reset failed", d->idx);
        return;
    }
    cmn_uuid_to_str(&d->doxm.deviceuuid, neu);
    (void) sim_store_changed(d, self->store_mode);
    cmn_log_notice("SIM-RESET", "dev=%d reset: uuid %s -> %s, RFOTM", d->idx, old, neu);
    /* A Bridge that is reset resets its owned VODs with it, and they go off the network
     * while it is unowned (as IoTivity-Lite's bridge does; docs/bridges.md). */
    for (size_t i = 0; d->is_bridge && i < self->n; i++) {
        sim_device_t *vod = &self->devs[i];
        if (vod->bridge == d && vod->doxm.owned) {
            cmn_log_notice("SIM-RESET-VOD", "dev=%d reset with its Bridge dev=%d", vod->idx,
                           d->idx);
            s_do_reset(self, vod);
        }
    }
}

/* The signal read from the signalfd: true to stop (SIGTERM/SIGINT); SIGUSR1 is a
 * --dump asking for the dirty devices to be written (sim_sync_request). */
static bool
s_on_signal(sim_world_t *self)
{
    struct signalfd_siginfo si;
    bool is_stop = false;
    while (read(self->sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            sim_sync_on_request(self->sync, self->devs, self->n);
        } else {
            is_stop = true;
        }
    }
    return is_stop;
}

int
sim_world_run(sim_world_t *self)
{
    struct epoll_event evs[64];
    uint64_t next_sweep = cmn_time_mono_ms() + SWEEP_MS;
    uint64_t next_timers = cmn_time_mono_ms() + TIMERS_MS;
    for (;;) {
        uint64_t now = cmn_time_mono_ms();
        int timeout = now >= next_sweep ? 0 : (int) (next_sweep - now);
        int jitter = self->mcast ? sim_mcast_flush(self->mcast) : -1;
        if (jitter >= 0 && jitter < timeout) {
            timeout = jitter;
        }
        int batch = sim_sync_timeout(self->sync, now);
        if (batch >= 0 && batch < timeout) {
            timeout = batch;
        }
        int n = epoll_wait(self->epfd, evs, 64, timeout);
        if (n < 0 && errno != EINTR) {
            cmn_log_err("SIM-LOOP", "epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_SIGNAL && s_on_signal(self)) {
                cmn_log_notice("SIM-STOP", "signal received, stopping");
                return 0; /* sim_world_destroy writes the dirty devices */
            }
            if (self->mcast && (tag == TAG_MCAST4 || tag == TAG_MCAST6)) {
                sim_mcast_on_readable(self->mcast, sim_mcast_fd(self->mcast, tag == TAG_MCAST6),
                                      self->devs, self->n);
            } else if (tag < self->n) {
                sim_coap_process(&self->devs[tag]);
            }
        }
        now = cmn_time_mono_ms();
        sim_sync_tick(self->sync, self->devs, self->n, now);
        if (now >= next_timers) {
            /* Timers of every context (retransmissions, DTLS, idle sessions); a context
             * with traffic is also processed as soon as its fd is ready. Sweeping all of
             * them more often costs more CPU than the devices' own work at 1000 devices. */
            for (size_t i = 0; i < self->n; i++) {
                sim_coap_process(&self->devs[i]);
            }
            next_timers = now + TIMERS_MS;
        }
        if (now >= next_sweep) {
            for (size_t i = 0; i < self->n; i++) {
                sim_device_t *d = &self->devs[i];
                (void) sim_device_doc_expire(d, now);
                if (d->reset_at_ms != 0 && now >= d->reset_at_ms) {
                    s_do_reset(self, d);
                }
            }
            next_sweep = now + SWEEP_MS;
        }
    }
}
