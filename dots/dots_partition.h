/* dots_partition.h — the partition of the devices among DOTS instance groups across
 * hosts (docs/scaling.md "Across hosts", D92): a group takes only the devices
 * whose first uuid falls in its part */
#ifndef DOTS_PARTITION_H
#define DOTS_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOTS_PARTITION_MAX 1024 /* groups at most */
#define DOTS_PARTS_MAX     64   /* --parts: parts of one store at most */

/* "K/G": this DOTS serves part K (0..G-1) of G; G = 0: no partition (every device). */
typedef struct {
    unsigned k, g;
} dots_partition_t;

/* Parses "K/G" (G 1..DOTS_PARTITION_MAX, K < G; "" = no partition). 0, or -1 with the
 * reason in why. */
int dots_partition_parse(const char *text, dots_partition_t *ret, char *why, size_t why_len);
/* The part of a device: the first 8 bytes of SHA-256 of its first uuid in lower-case
 * text, big-endian, modulo g (0 when g <= 1); -1 if SHA-256 failed (out of memory).
 * Every group computes the same from the uuid alone. */
int dots_partition_of(const char *first_uuid, unsigned g);
/* Whether this DOTS serves the device of first_uuid (always without a partition). */
bool dots_partition_has(const dots_partition_t *p, const char *first_uuid);

/* --parts: the parts of mask (bit K: part K of g) as "K,L/g" into out ("" when mask is 0,
 * or "" cut short when cap is too small). Health and error messages name the parts an
 * instance serves this way. */
void dots_parts_format(uint64_t mask, unsigned g, char *out, size_t cap);

#endif
