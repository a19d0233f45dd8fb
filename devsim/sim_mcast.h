/* sim_mcast.h — the process's multicast listener: answers discovery for every device */
#ifndef SIM_MCAST_H
#define SIM_MCAST_H

#include <stdbool.h>
#include <stddef.h>

#include "sim_device.h"

typedef struct sim_mcast sim_mcast_t;

/* Binds UDP 5683 and joins the groups of scopes (comma list of link, realm, site,
 * ipv4) on each of ifaces (comma list), for the families the devices have unicast
 * addresses in (has_v4, has_v6): a device answers from its own unicast address.
 * is_bound: ifaces is one interface and only what arrives on it is received (several
 * device networks in one network namespace: tests/integration/gateways_test.c). NULL
 * if no group could be joined or a scope is unknown, with the reason logged. */
sim_mcast_t *sim_mcast_new(const char *ifaces,
                           const char *scopes,
                           bool has_v4,
                           bool has_v6,
                           bool is_bound,
                           int jitter_ms);
void sim_mcast_destroy(sim_mcast_t **self_p);
/* File descriptors to poll (IPv4, then IPv6 or -1). */
int sim_mcast_fd(const sim_mcast_t *self, int which);
/* Reads every waiting datagram on fd and answers for each matching device. */
void sim_mcast_on_readable(sim_mcast_t *self, int fd, sim_device_t *devs, size_t n);
/* Sends jittered replies that are due; returns ms until the next one (-1 none). */
int sim_mcast_flush(sim_mcast_t *self);

#endif
