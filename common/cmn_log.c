/* cmn_log.c — one-line structured logging to stderr */
#include "cmn_log.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char s_daemon[32] = "obt";
static cmn_log_level_t s_level = CMN_LOG_INFO;
static const char *const s_names[CMN_LOG_LEVEL_COUNT] = {"err", "warn", "notice", "info", "debug"};

void
cmn_log_init(const char *daemon, cmn_log_level_t level)
{
    (void) snprintf(s_daemon, sizeof s_daemon, "%s", daemon ? daemon : "obt");
    s_level = level;
    /* CZMQ's own messages go to the same stream; it prefixes them itself. */
    zsys_set_logstream(stderr);
    zsys_set_logident(s_daemon);
}

int
cmn_log_level_parse(const char *name, cmn_log_level_t *ret_level)
{
    for (int i = 0; i < CMN_LOG_LEVEL_COUNT; i++) {
        if (name && strcasecmp(name, s_names[i]) == 0) {
            *ret_level = (cmn_log_level_t) i;
            return 0;
        }
    }
    return -1;
}

cmn_log_level_t
cmn_log_level(void)
{
    return s_level;
}

const char *
cmn_log_escape(char *out, size_t len, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *) (in ? in : ""); *p; p++) {
        bool is_plain = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
        size_t need = is_plain ? 1 : 4;
        if (o + need >= len) {
            break;
        }
        if (is_plain) {
            out[o++] = (char) *p;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 0x0f];
        }
    }
    out[o] = '\0';
    return out;
}

void
cmn_log(cmn_log_level_t level, const char *msgid, const char *fmt, ...)
{
    if (level > s_level) {
        return;
    }
    char line[2048];
    struct timespec ts;
    struct tm tm;
    (void) clock_gettime(CLOCK_REALTIME, &ts);
    (void) gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, s_names[level], s_daemon, msgid);
    if (n < 0) {
        return;
    }
    size_t len = (size_t) n < sizeof line ? (size_t) n : sizeof line - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    va_end(ap);
    if (m > 0) {
        len += (size_t) m < sizeof line - len ? (size_t) m : sizeof line - len - 1;
    }
    if (len >= sizeof line - 1) {
        len = sizeof line - 2;
    }
    line[len++] = '\n';
    (void) !write(STDERR_FILENO, line, len);
}
