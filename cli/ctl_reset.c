/* ctl_reset.c — obtctl reset (offboarding), forget (records of a device no longer
 * ours) and repair (SRESET) */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_main.h"
#include "obt/dots.pb-c.h"

typedef enum { S_RESET = 0, S_FORGET, S_REPAIR } s_cmd_t;

/* Parses `CMD UUID [--forget] [--wait-s N]`; returns -1 to go on, else an exit code. */
static int
s_args(int argc, char **argv, s_cmd_t cmd, bool *forget, int *wait_s, const char **uuid)
{
    bool has_forget = cmd == S_RESET;
    static const struct option longs[] = {{"forget", no_argument, NULL, 'f'},
                                          {"wait-s", required_argument, NULL, 'w'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    optind = 0; /* GNU getopt: full re-initialisation, so options may follow the UUID */
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'f' && has_forget) {
            *forget = true;
        } else if (c == 'w') {
            if (ctl_args_int("--wait-s", optarg, 1, 86400, wait_s) != 0) {
                return CTL_EXIT_USAGE;
            }
        } else {
            if (cmd == S_FORGET) {
                printf("usage: obtctl forget UUID [--wait-s N]\n"
                       "Removes the records and secrets of a device that is not owned by this\n"
                       "domain any more from DOTS, CMS and AMS, without asking the device: one\n"
                       "never owned (discovered, approved, failed before its owner credential)\n"
                       "or a superseded record (the device reset and answers under a new UUID).\n"
                       "Refused (exit 1, with the reason) for a device in RFNOP or whose owner\n"
                       "credential DOTS holds (obtctl reset UUID first), or whose onboarding,\n"
                       "reset or repair runs; exit 3 for an unknown UUID.\n");
            } else if (has_forget) {
                printf("usage: obtctl reset UUID [--forget] [--wait-s N]\n"
                       "Resets an owned device (pstat dos.s=0: it returns to RFOTM with a new\n"
                       "UUID) and removes every record of it in DOTS, CMS and AMS. If the device\n"
                       "cannot be reset its records stay, marked RESET_PENDING; --forget drops\n"
                       "them without asking the device. Waits up to N s (60) for the outcome.\n");
            } else {
                printf("usage: obtctl repair UUID [--wait-s N]\n"
                       "Soft reset (pstat dos.s=4): DOTS, CMS and AMS correct their resources of\n"
                       "the device (owners, credentials, baseline ACEs, no SVR under anon-clear "
                       "or\n"
                       "auth-crypt ACEs), then it goes back through RFPRO to RFNOP.\n");
            }
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "obtctl: %s needs exactly one UUID\n", argv[0]);
        return CTL_EXIT_USAGE;
    }
    if (ctl_args_check_uuids(argv[0], &argv[optind], 1) != 0) {
        return CTL_EXIT_USAGE;
    }
    *uuid = argv[optind];
    return -1;
}

/* reset and repair: one request, answered when DOTS's job ends. */
static int
s_run(const ctl_opts_t *o, int argc, char **argv, s_cmd_t cmd)
{
    bool forget = cmd == S_FORGET;
    bool is_reset = cmd != S_REPAIR;
    int wait_s = 60;
    const char *uuid = NULL;
    int rc = s_args(argc, argv, cmd, &forget, &wait_s, &uuid);
    if (rc >= 0) {
        return rc;
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Reset r = OBT__DOTS__RESET__INIT;
    Obt__Dots__Repair p = OBT__DOTS__REPAIR__INIT;
    if (is_reset) {
        r.uuid = (char *) (uintptr_t) uuid;
        r.forget = forget;
        r.if_not_owned = cmd == S_FORGET;
        req.body_case = OBT__DOTS__REQUEST__BODY_RESET;
        req.reset = &r;
    } else {
        p.uuid = (char *) (uintptr_t) uuid;
        req.body_case = OBT__DOTS__REQUEST__BODY_REPAIR;
        req.repair = &p;
    }
    Obt__Dots__Reply *reply = NULL;
    rc = ctl_dots(o, &req, wait_s * 1000, &reply);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    const char *state = is_reset ? "forgotten" : reply->repair->state;
    if (o->json) {
        printf("{\"uuid\":");
        ctl_json_str(stdout, uuid);
        printf(",\"%s\":", is_reset ? "outcome" : "state");
        ctl_json_str(stdout, state);
        printf("}\n");
    } else if (is_reset) {
        printf("%s %s: every record removed from DOTS, CMS and AMS\n", uuid,
               forget ? "forgotten" : "reset");
    } else {
        printf("%s repaired: %s\n", uuid, state);
    }
    obt__dots__reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

int
ctl_cmd_reset(const ctl_opts_t *o, int argc, char **argv)
{
    return s_run(o, argc, argv, S_RESET);
}

int
ctl_cmd_forget(const ctl_opts_t *o, int argc, char **argv)
{
    return s_run(o, argc, argv, S_FORGET);
}

int
ctl_cmd_repair(const ctl_opts_t *o, int argc, char **argv)
{
    return s_run(o, argc, argv, S_REPAIR);
}
