/* cmn_lease.c — job leases of CMS and AMS instances sharing a store */
#include "cmn_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt/store.pb-c.h"

static bool
s_is_owner(const Obt__Store__JobLease *l, const cmn_lease_owner_t *owner)
{
    return l->boot_id == owner->boot_id && strcmp(l->instance, owner->instance) == 0;
}

static void
s_copy(const Obt__Store__JobLease *l, cmn_lease_t *ret)
{
    if (ret) {
        (void) snprintf(ret->owner.instance, sizeof ret->owner.instance, "%s", l->instance);
        ret->owner.boot_id = l->boot_id;
        ret->until_ms = l->until_ms;
    }
}

/* The stored lease of uuid (CMN_ENOTFOUND: none); free it with free_unpacked. */
static cmn_err_t
s_get(cmn_kv_txn_t *txn, const char *uuid, Obt__Store__JobLease **ret)
{
    return cmn_kv_get_pb(txn, CMN_LEASE_DB, uuid, &obt__store__job_lease__descriptor,
                         (ProtobufCMessage **) ret);
}

cmn_err_t
cmn_lease_take(cmn_kv_txn_t *txn,
               const char *uuid,
               const cmn_lease_owner_t *owner,
               uint64_t now_ms,
               uint32_t life_ms,
               cmn_lease_t *ret_holder)
{
    Obt__Store__JobLease *held = NULL;
    cmn_err_t err = s_get(txn, uuid, &held);
    if (err != CMN_OK && err != CMN_ENOTFOUND) {
        return err;
    }
    if (held && !s_is_owner(held, owner) && held->until_ms > now_ms) {
        s_copy(held, ret_holder);
        obt__store__job_lease__free_unpacked(held, NULL);
        return CMN_EEXIST;
    }
    if (held) {
        obt__store__job_lease__free_unpacked(held, NULL);
    }
    Obt__Store__JobLease l = OBT__STORE__JOB_LEASE__INIT;
    l.uuid = (char *) (uintptr_t) uuid;
    l.instance = (char *) (uintptr_t) owner->instance;
    l.boot_id = owner->boot_id;
    l.until_ms = now_ms + life_ms;
    return cmn_kv_put_pb(txn, CMN_LEASE_DB, uuid, &l.base);
}

cmn_err_t
cmn_lease_check(cmn_kv_txn_t *txn,
                const char *uuid,
                const cmn_lease_owner_t *owner,
                cmn_lease_t *ret_holder)
{
    Obt__Store__JobLease *held = NULL;
    cmn_err_t err = s_get(txn, uuid, &held);
    if (err != CMN_OK) {
        return err;
    }
    if (!s_is_owner(held, owner)) {
        s_copy(held, ret_holder);
        err = CMN_EEXIST;
    }
    obt__store__job_lease__free_unpacked(held, NULL);
    return err;
}

cmn_err_t
cmn_lease_release(cmn_kv_txn_t *txn, const char *uuid, const cmn_lease_owner_t *owner)
{
    cmn_err_t err = cmn_lease_check(txn, uuid, owner, NULL);
    if (err == CMN_ENOTFOUND) {
        return CMN_OK;
    }
    if (err != CMN_OK) {
        return err;
    }
    return cmn_kv_del(txn, CMN_LEASE_DB, uuid, strlen(uuid));
}

typedef struct {
    uint64_t now_ms;
    cmn_lease_each_fn *fn;
    void *arg;
} s_each_t;

static int
s_each(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) key;
    (void) key_len;
    s_each_t *e = arg;
    int stop = 0;
    Obt__Store__JobLease *l = obt__store__job_lease__unpack(NULL, val_len, val);
    if (l && l->until_ms <= e->now_ms) {
        cmn_lease_t lease;
        s_copy(l, &lease);
        stop = e->fn(l->uuid, &lease, e->arg);
    }
    if (l) {
        obt__store__job_lease__free_unpacked(l, NULL);
    }
    return stop;
}

cmn_err_t
cmn_lease_each_expired(cmn_kv_txn_t *txn, uint64_t now_ms, cmn_lease_each_fn *fn, void *arg)
{
    s_each_t e = {now_ms, fn, arg};
    return cmn_kv_each(txn, CMN_LEASE_DB, s_each, &e);
}

static int
s_collect(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) val;
    (void) val_len;
    char(*keys)[40] = ((void **) arg)[0];
    size_t *n = ((void **) arg)[1];
    if (*n < 256 && key_len < 40) {
        memcpy(keys[*n], key, key_len);
        keys[*n][key_len] = '\0';
        (*n)++;
    }
    return *n == 256;
}

cmn_err_t
cmn_lease_clear(cmn_kv_txn_t *txn)
{
    /* in rounds of 256 keys: no delete under a running cursor */
    for (;;) {
        char keys[256][40];
        size_t n = 0;
        void *arg[2] = {keys, &n};
        cmn_err_t err = cmn_kv_each(txn, CMN_LEASE_DB, s_collect, arg);
        for (size_t i = 0; err == CMN_OK && i < n; i++) {
            err = cmn_kv_del(txn, CMN_LEASE_DB, keys[i], strlen(keys[i]));
        }
        if (err != CMN_OK || n < 256) {
            return err;
        }
    }
}
