/* cmn_log_test.c — line format and level filtering of the stderr logger */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_log.h"

/* Runs fn with fd 2 captured; returns what was written. */
static void
s_capture(void (*fn)(void), char *out, size_t out_len)
{
    char path[] = "/tmp/cmn_log_test.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    (void) unlink(path);
    (void) fflush(stderr);
    int saved = dup(2);
    cr_assert_geq(dup2(fd, 2), 0);
    fn();
    cr_assert_geq(dup2(saved, 2), 0);
    (void) close(saved);
    ssize_t n = pread(fd, out, out_len - 1, 0);
    cr_assert_geq(n, 0);
    out[n] = '\0';
    (void) close(fd);
}

static void
s_log_some(void)
{
    cmn_log_init("dots", CMN_LOG_NOTICE);
    cmn_log_notice("JOB-START", "device %s port %d", "abc", 5683);
    cmn_log_debug("HIDDEN", "must not appear");
}

Test(cmn_log, line_format_and_filter)
{
    char out[4096];
    s_capture(s_log_some, out, sizeof out);
    regex_t re;
    cr_assert_eq(regcomp(&re,
                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                         "notice dots JOB-START device abc port 5683\n$",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "got: %s", out);
    regfree(&re);
    cr_assert_null(strstr(out, "HIDDEN"));
}

static void
s_log_long(void)
{
    cmn_log_init("dots", CMN_LOG_DEBUG);
    static char big[8000];
    memset(big, 'x', sizeof big - 1);
    cmn_log_debug("BIG", "%s", big);
}

Test(cmn_log, long_message_is_truncated_to_one_line)
{
    static char out[16384];
    s_capture(s_log_long, out, sizeof out);
    size_t len = strlen(out);
    cr_assert_gt(len, 100);
    cr_assert_eq(out[len - 1], '\n');
    cr_assert_null(memchr(out, '\n', len - 1));
}

Test(cmn_log, level_names_parse)
{
    cmn_log_level_t l;
    cr_assert_eq(cmn_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, CMN_LOG_DEBUG);
    cr_assert_eq(cmn_log_level_parse("NOTICE", &l), 0);
    cr_assert_eq(l, CMN_LOG_NOTICE);
    cr_assert_neq(cmn_log_level_parse("loud", &l), 0);
}

Test(cmn_log, escape_turns_control_and_non_printable_bytes_into_hex)
{
    char out[128];
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "eth0"), "eth0");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "lo\nnotice gw FAKE"),
                     "lo\\x0anotice gw FAKE");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "a\r\t\x1b[31m\x7f"),
                     "a\\x0d\\x09\\x1b[31m\\x7f");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "q\"b\\"), "q\\x22b\\x5c");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "\xc3\xa9"), "\\xc3\\xa9");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, NULL), "");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, ""), "");
}

Test(cmn_log, escape_truncates_without_cutting_an_escape)
{
    char out[6];
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "abcdefgh"), "abcde");
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "ab\ncd"), "ab"); /* \x0a needs 4 */
    cr_assert_str_eq(cmn_log_escape(out, sizeof out, "a\n"), "a\\x0a");
    char one[1];
    cr_assert_str_eq(cmn_log_escape(one, sizeof one, "abc"), "");
}
