/* sim_svr_roles.c — /oic/sec/roles: the role certificates a peer asserts over its
 * secured session (OCF-NOTES 3.7), verified, kept with the session, given to the ACL
 * evaluator (sim_acl.c) */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "sim_csr.h"
#include "sim_svr.h"

void
sim_roles_clear(sim_roles_t *roles)
{
    for (size_t i = 0; i < roles->n; i++) {
        free(roles->pems[i]);
    }
    memset(roles, 0, sizeof *roles);
}

/* Removes entry i of roles (its certificate freed; the last entry takes its place). */
static void
s_remove(sim_roles_t *roles, size_t i)
{
    free(roles->pems[i]);
    roles->n--;
    roles->roles[i] = roles->roles[roles->n];
    roles->credids[i] = roles->credids[roles->n];
    roles->pems[i] = roles->pems[roles->n];
    roles->pems[roles->n] = NULL;
}

/* True if crl lists the leaf of the PEM chain pem (same issuer, its serial). */
static bool
s_is_revoked(X509_CRL *crl, const char *pem)
{
    STACK_OF(X509) *chain = cmn_cert_parse_pem((const uint8_t *) pem, strlen(pem));
    X509 *leaf = chain ? sk_X509_value(chain, 0) : NULL;
    X509_REVOKED *rev = NULL;
    bool is_revoked = leaf &&
                      X509_NAME_cmp(X509_get_issuer_name(leaf), X509_CRL_get_issuer(crl)) == 0 &&
                      X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(leaf)) == 1;
    sk_X509_pop_free(chain, X509_free);
    return is_revoked;
}

size_t
sim_roles_drop_revoked(const sim_device_t *dev, sim_roles_t *roles)
{
    if (dev->crl.der_len == 0 || roles->n == 0) {
        return 0;
    }
    const uint8_t *q = dev->crl.der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long) dev->crl.der_len);
    size_t dropped = 0;
    for (size_t i = roles->n; crl && i-- > 0;) {
        if (s_is_revoked(crl, roles->pems[i])) {
            cmn_log_notice("SIM-ROLE-DROPPED",
                           "dev=%d role \"%s\" (authority \"%s\") dropped: the CRL revokes its "
                           "certificate",
                           dev->idx, roles->roles[i].role, roles->roles[i].authority);
            s_remove(roles, i);
            dropped++;
        }
    }
    X509_CRL_free(crl);
    ERR_clear_error();
    return dropped;
}

/* The index of the entry whose certificate is pem, or n. */
static size_t
s_find(const sim_roles_t *roles, const uint8_t *pem, size_t len)
{
    for (size_t i = 0; i < roles->n; i++) {
        if (strlen(roles->pems[i]) == len && memcmp(roles->pems[i], pem, len) == 0) {
            return i;
        }
    }
    return roles->n;
}

static int64_t
s_next_credid(const sim_roles_t *roles)
{
    int64_t id = 1;
    for (size_t i = 0; i < roles->n; i++) {
        id = roles->credids[i] >= id ? roles->credids[i] + 1 : id;
    }
    return id;
}

/* POST: every entry is checked before any is kept (a refused POST changes nothing). */
static int
s_post(const sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    sim_roles_t *roles = peer->asserted;
    cmn_creds_t in;
    if (cmn_roles_decode(p, len, &in) != CMN_OK) {
        cmn_log_notice("SIM-ROLE-REFUSED", "dev=%d roles: invalid CBOR", dev->idx);
        return SIM_CODE_BAD_REQUEST;
    }
    sim_role_t got[SIM_MAX_ROLES];
    char why[200] = "";
    size_t n_new = 0;
    const X509 *peer_cert = peer->ssl ? SSL_get0_peer_certificate(peer->ssl) : NULL;
    for (size_t i = 0; why[0] == '\0' && i < in.n_creds; i++) {
        const cmn_cred_t *c = &in.creds[i];
        if (c->credtype != CMN_CREDTYPE_CERT || c->pub_len == 0 ||
            ((c->present & CMN_CRED_HAS_CREDUSAGE) &&
             strcmp(c->credusage, CMN_CRED_USAGE_ROLECERT) != 0)) {
            (void) snprintf(why, sizeof why,
                            "entry %zu: want credtype 8, oic.sec.cred.rolecert, publicdata", i);
        } else if (s_find(roles, c->pub_data, c->pub_len) < roles->n) {
            continue; /* identical to one held: not added again (still 2.04) */
        } else if (!sim_role_verify(dev, c->pub_data, c->pub_len, peer_cert, &got[n_new], why,
                                    sizeof why)) {
            continue; /* why says it */
        } else if (roles->n + ++n_new > SIM_MAX_ROLES) {
            (void) snprintf(why, sizeof why, "more than %d roles in one session", SIM_MAX_ROLES);
        }
    }
    if (in.n_creds == 0 && why[0] == '\0') {
        (void) snprintf(why, sizeof why, "no role certificate in the POST");
    }
    if (why[0]) {
        cmn_log_notice("SIM-ROLE-REFUSED", "dev=%d role certificate refused: %s", dev->idx, why);
        cmn_creds_free(&in);
        return SIM_CODE_BAD_REQUEST;
    }
    size_t k = 0;
    for (size_t i = 0; i < in.n_creds && k < n_new; i++) {
        const cmn_cred_t *c = &in.creds[i];
        if (s_find(roles, c->pub_data, c->pub_len) < roles->n) {
            continue;
        }
        char *pem = malloc(c->pub_len + 1);
        if (pem == NULL) {
            break;
        }
        memcpy(pem, c->pub_data, c->pub_len);
        pem[c->pub_len] = '\0';
        roles->credids[roles->n] = s_next_credid(roles);
        roles->roles[roles->n] = got[k++];
        roles->pems[roles->n++] = pem;
        cmn_log_info("SIM-ROLE", "dev=%d peer asserted role \"%s\" (authority \"%s\")", dev->idx,
                     roles->roles[roles->n - 1].role, roles->roles[roles->n - 1].authority);
    }
    cmn_creds_free(&in);
    return SIM_CODE_CHANGED;
}

static int
s_get(const sim_roles_t *roles, const sim_peer_t *peer, uint8_t **ret, size_t *ret_len)
{
    cmn_cred_t entries[SIM_MAX_ROLES];
    for (size_t i = 0; i < roles->n; i++) {
        cmn_cred_t *c = &entries[i];
        memset(c, 0, sizeof *c);
        c->present = CMN_CRED_HAS_CREDID | CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_CREDUSAGE |
                     CMN_CRED_HAS_PUBLICDATA | (peer->has_peer ? CMN_CRED_HAS_SUBJECT : 0);
        c->credid = roles->credids[i];
        c->credtype = CMN_CREDTYPE_CERT;
        c->subjectuuid = peer->peer;
        (void) snprintf(c->credusage, sizeof c->credusage, "%s", CMN_CRED_USAGE_ROLECERT);
        c->pub_data = (uint8_t *) roles->pems[i];
        c->pub_len = strlen(roles->pems[i]);
        (void) snprintf(c->pub_encoding, sizeof c->pub_encoding, "%s", CMN_ENC_PEM);
    }
    cmn_creds_t out = {.present = CMN_CREDS_HAS_CREDS, .creds = entries, .n_creds = roles->n};
    return cmn_roles_encode(&out, ret, ret_len) == CMN_OK ? SIM_CODE_CONTENT : SIM_CODE_INTERNAL;
}

static int
s_delete(sim_roles_t *roles, const char *query)
{
    char v[24];
    if (query == NULL || query[0] == '\0') {
        sim_roles_clear(roles);
        return SIM_CODE_DELETED;
    }
    if (!sim_svr_query_value(query, "credid", v, sizeof v)) {
        return SIM_CODE_BAD_REQUEST;
    }
    char *end = NULL;
    long long id = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || id <= 0) {
        return SIM_CODE_BAD_REQUEST;
    }
    for (size_t i = 0; i < roles->n; i++) {
        if (roles->credids[i] == id) {
            s_remove(roles, i);
            return SIM_CODE_DELETED;
        }
    }
    return SIM_CODE_NOT_FOUND;
}

int
sim_svr_roles(const sim_device_t *dev,
              const sim_peer_t *peer,
              sim_method_t method,
              const char *query,
              const uint8_t *p,
              size_t len,
              uint8_t **ret,
              size_t *ret_len)
{
    if (peer->asserted == NULL) {
        return SIM_CODE_FORBIDDEN; /* no session to bind roles to */
    }
    switch (method) {
    case SIM_POST:
        return s_post(dev, peer, p, len);
    case SIM_GET:
        return s_get(peer->asserted, peer, ret, ret_len);
    case SIM_DELETE:
        return s_delete(peer->asserted, query);
    case SIM_PUT:
        break;
    }
    return SIM_CODE_BAD_METHOD;
}
