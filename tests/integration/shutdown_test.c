/* shutdown_test.c — SIGTERM to DOTS while many onboarding calls are pending: a clean
 * exit (no use of freed memory when the pending calls are failed at shutdown, which
 * ASan would report), and every interrupted job is left where it was, to resume */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 16

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* The suite and N_DEVICES devices that stop answering at their first request on
 * /oic/sec/<even> (devices 0, 2, ...) or /oic/sec/<odd> (1, 3, ...). */
static void
s_setup_silent(const char *tag, const char *even, const char *odd)
{
    char faults[N_DEVICES * 32] = "";
    size_t off = 0;
    for (int i = 0; i < N_DEVICES; i++) {
        off += (size_t) snprintf(faults + off, sizeof faults - off, "%s%d:silent:/oic/sec/%s",
                                 i ? "," : "", i, i % 2 ? odd : even);
    }
    static const char *const dots_flags[] = {"--step-timeout-ms", "120000", NULL};
    s_dir = obt_tmpdir(tag);
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_flags), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_DEVICES, faults), 0);
}

static void
s_setup(void)
{
    /* Every device stops answering at its first POST to pstat (DOC_OM): each job then
     * has a call to the gateway pending for the whole step timeout. */
    s_setup_silent("shutdown", "pstat", "pstat");
}

/* Onboards every device until each has gone silent: a request to each in flight. */
static void
s_onboard_until_silent(void)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(obt_ctl(&s_suite, discover, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, approve, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, onboard, NULL), 0);
    for (int i = 0; i < N_DEVICES; i++) {
        char token[48];
        (void) snprintf(token, sizeof token, "dev=%d goes silent", i);
        cr_assert_eq(obt_proc_wait_log(&s_sim, token, 60000), 0, "device %d did not go silent", i);
    }
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* The number of devices DOTS lists whose JSON contains want. */
static int
s_count(const char *want)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL, *objs[N_DEVICES + 4];
    cr_assert_eq(obt_ctl(&s_suite, list, &out), 0);
    size_t n = obt_json_objects(out, objs, N_DEVICES + 4);
    free(out);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        count += strstr(objs[i], want) != NULL;
        free(objs[i]);
    }
    return count;
}

Test(shutdown,
     sigterm_with_calls_pending_exits_cleanly_and_keeps_the_jobs,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    s_onboard_until_silent();
    cr_assert_eq(s_count("\"state\":\"DOC_OM\""), N_DEVICES);

    /* Every job now waits for the gateway's reply to its DOC_OM POST. */
    int rc = obt_proc_stop(&s_suite.dots);
    int asan = obt_proc_log_count(&s_suite.dots, "AddressSanitizer");
    if (rc != 0 || asan != 0) {
        obt_proc_dump(&s_suite.dots);
    }
    cr_assert_eq(asan, 0, "DOTS used freed memory at shutdown");
    cr_assert_eq(rc, 0, "DOTS exited with %d after SIGTERM", rc);
    cr_assert_eq(obt_proc_log_count(&s_suite.dots, "DOTS-FAILED"), 0,
                 "a stop must not fail the interrupted jobs");

    /* Restarted, DOTS finds every job at DOC_OM, where it stopped; a DOC does not
     * survive a restart, so DOTS itself fails those jobs, for that reason, and retries
     * them once the devices had time to drop their DOC (--recover-delay-ms). */
    cr_assert_eq(obt_suite_restart(&s_suite, "dots", NULL), 0, "DOTS did not restart");
    cr_assert_eq(s_count("\"error\":\"DOC_OM: interrupted by a restart of DOTS (retried by "
                         "itself)\""),
                 N_DEVICES);
}

/* Half the devices stop answering at their first GET /oic/sec/doxm (coap://, GET_DOXM),
 * half at their first POST to pstat (coaps://, DOC_OM). */
static void
s_setup_mixed(void)
{
    s_setup_silent("shutdown-gw", "doxm", "pstat");
}

Test(shutdown,
     sigterm_to_the_gateway_with_exchanges_in_flight_frees_them,
     .init = s_setup_mixed,
     .fini = s_teardown,
     .timeout = 180)
{
    s_onboard_until_silent();
    /* Each GET_DOXM / DOC_OM request is confirmable, retransmitted by libcoap: in
     * flight in the gateway (its PDU, its session's queue) when SIGTERM comes. ASan's leak check
     * runs at exit. */
    int rc = obt_proc_stop(&s_suite.gw);
    int asan = obt_proc_log_count(&s_suite.gw, "Sanitizer");
    if (rc != 0 || asan != 0) {
        obt_proc_dump(&s_suite.gw);
    }
    cr_assert_eq(asan, 0, "the gateway leaked or misused memory at shutdown");
    cr_assert_eq(rc, 0, "the gateway exited with %d after SIGTERM", rc);
}
