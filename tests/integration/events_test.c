/* events_test.c — DOTS's job events: `obtctl watch` started before the onboarding of a
 * device prints each of its transitions once, in order, seq without gaps; `obtctl
 * onboard --all` follows the events of several devices to RFNOP */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "obt_checks.h"
#include "obt_json.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;
static obt_proc_t s_watch; /* obtctl watch, stopped at the end if a failure left it */

static void
s_setup(int count)
{
    s_dir = obt_tmpdir("events");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, count, NULL), 0, "devsim did not start");
}

static void
s_setup_one(void)
{
    s_setup(1);
}

static void
s_setup_four(void)
{
    s_setup(4);
}

static void
s_teardown(void)
{
    (void) obt_proc_stop(&s_watch);
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl_or_dump(&s_suite, &s_sim, args, out);
}

static char *
s_read(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    (void) fclose(f);
    return buf;
}

Test(events,
     watch_prints_each_transition_of_an_onboarding_in_order,
     .init = s_setup_one,
     .fini = s_teardown,
     .timeout = 120)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    char uuid[40];
    cr_assert_eq(s_ctl(discover, NULL), 0);
    cr_assert_eq(s_ctl(list, &out), 0);
    cr_assert(obt_json_str(out, "uuid", uuid, sizeof uuid), "%s", out);
    free(out);

    const char *const wargs[] = {"--keys-dir", s_suite.keys, "--dots", s_suite.ep_dots,
                                 "watch",      "--json",     uuid,     "--until-done",
                                 NULL};
    cr_assert_eq(obt_proc_start(&s_watch, s_dir, "watch", "obtctl", wargs), 0);
    cr_assert_eq(obt_proc_wait_log(&s_watch, "watching", 10000), 0, "watch never went live");

    const char *const approve[] = {"approve", uuid, NULL};
    const char *const onboard[] = {"onboard", uuid, "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, NULL), 0);
    cr_assert_eq(obt_proc_wait_log(&s_watch, "\"to\":\"RFNOP\"", 10000), 0);
    /* --until-done: it exits by itself (else the test's timeout fails it) */
    int status = -1;
    cr_assert_eq(waitpid(s_watch.pid, &status, 0), s_watch.pid);
    s_watch.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "watch --until-done: status %d",
              status);

    static const char *const path[] = {"APPROVED",       "QUEUED",
                                       "GET_DOXM",       "SET_OXMSEL",
                                       "DOC_OM",         "SET_DEVOWNER",
                                       "SET_DEVICEUUID", "SET_DOXM_ROWNER",
                                       "SET_ACL_ROWNER", "SET_PSTAT_ROWNER",
                                       "DERIVE_PSK",     "OWNER_CRED",
                                       "SERVICE_CREDS",  "SDI",
                                       "SET_OWNED",      "SET_RFPRO",
                                       "CLOSE_DOC",      "HANDOVER_CMS",
                                       "HANDOVER_AMS",   "RFNOP"};
    size_t n_path = sizeof path / sizeof path[0];
    char *log = s_read(s_watch.log);
    size_t step = 0;
    unsigned long long last_seq = 0;
    char last_to[32] = "DISCOVERED";
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '{') {
            continue;
        }
        char job[16], from[32], to[32], first[40], seq[24];
        cr_assert(obt_json_str(line, "job", job, sizeof job), "%s", line);
        cr_assert(obt_json_str(line, "from", from, sizeof from), "%s", line);
        cr_assert(obt_json_str(line, "to", to, sizeof to), "%s", line);
        cr_assert(obt_json_str(line, "first_uuid", first, sizeof first), "%s", line);
        cr_assert_str_eq(first, uuid);
        const char *s = strstr(line, "\"seq\":");
        cr_assert_not_null(s, "%s", line);
        (void) snprintf(seq, sizeof seq, "%s", s + 6);
        unsigned long long n = strtoull(seq, NULL, 10);
        cr_assert(last_seq == 0 || n == last_seq + 1, "seq %llu after %llu: %s", n, last_seq, line);
        last_seq = n;
        if (strcmp(job, "onboard") != 0) {
            continue; /* the bridge check after RFNOP */
        }
        cr_assert_lt(step, n_path, "more transitions than the path: %s", line);
        cr_assert_str_eq(to, path[step], "transition %zu: %s", step, line);
        cr_assert_str_eq(from, last_to, "transition %zu: %s", step, line);
        (void) snprintf(last_to, sizeof last_to, "%s", to);
        step++;
    }
    cr_assert_eq(step, n_path, "%zu of %zu transitions printed:\n%s", step, n_path, log);
    free(log);
}

Test(events,
     onboard_all_follows_the_events_of_several_devices,
     .init = s_setup_four,
     .fini = s_teardown,
     .timeout = 180)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, NULL), 0);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    cr_assert(strstr(out, "4 device(s) in RFNOP, 0 failed") != NULL, "%s", out);
    free(out);
    cr_assert_eq(s_ctl(list, &out), 0);
    char *objs[8];
    size_t n = obt_json_objects(out, objs, 8);
    free(out);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        char state[32];
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        cr_assert_str_eq(state, "RFNOP");
        free(objs[i]);
    }
}
