/* cmn_ep.c — CoAP endpoint URIs */
#include "cmn_ep.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cmn_err_t
cmn_ep_parse(const char *uri, cmn_ep_t *ret)
{
    cmn_ep_t ep;
    memset(&ep, 0, sizeof ep);
    const char *p;
    if (uri == NULL) {
        return CMN_EINVAL;
    }
    if (strncmp(uri, "coaps://", 8) == 0) {
        ep.is_secure = true;
        p = uri + 8;
    } else if (strncmp(uri, "coap://", 7) == 0) {
        p = uri + 7;
    } else {
        return CMN_EINVAL;
    }
    const char *host_end;
    const char *rest;
    bool is_v6 = false;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL) {
            return CMN_EINVAL;
        }
        p++;
        rest = host_end + 1;
        is_v6 = true;
    } else {
        host_end = strchr(p, ':');
        if (host_end == NULL) {
            host_end = p + strlen(p);
        }
        rest = host_end;
    }
    size_t hlen = (size_t) (host_end - p);
    if (hlen == 0 || hlen >= sizeof ep.host) {
        return CMN_EINVAL;
    }
    memcpy(ep.host, p, hlen);
    ep.host[hlen] = '\0';
    /* Validate the literal (zone suffix allowed for IPv6). */
    char lit[64];
    (void) snprintf(lit, sizeof lit, "%s", ep.host);
    char *zone = strchr(lit, '%');
    if (zone != NULL) {
        if (!is_v6 || zone[1] == '\0') {
            return CMN_EINVAL;
        }
        *zone = '\0';
    }
    unsigned char buf[16];
    if (inet_pton(is_v6 ? AF_INET6 : AF_INET, lit, buf) != 1) {
        return CMN_EINVAL;
    }
    ep.port = ep.is_secure ? 5684 : 5683;
    if (*rest == ':') {
        char *end = NULL;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port <= 0 || port > 65535) {
            return CMN_EINVAL;
        }
        rest = end;
        ep.port = (uint16_t) port;
    }
    if (*rest != '\0' && strcmp(rest, "/") != 0) {
        return CMN_EINVAL;
    }
    *ret = ep;
    return CMN_OK;
}

void
cmn_ep_format(const cmn_ep_t *ep, char *out, size_t out_len)
{
    bool is_v6 = strchr(ep->host, ':') != NULL;
    (void) snprintf(out, out_len, "%s://%s%s%s:%u", ep->is_secure ? "coaps" : "coap",
                    is_v6 ? "[" : "", ep->host, is_v6 ? "]" : "", (unsigned) ep->port);
}
