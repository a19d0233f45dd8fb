/* cmn_log.h — one-line structured logging to stderr; never log secrets */
#ifndef CMN_LOG_H
#define CMN_LOG_H

#include <stddef.h>

typedef enum {
    CMN_LOG_ERR = 0,
    CMN_LOG_WARN,
    CMN_LOG_NOTICE,
    CMN_LOG_INFO,
    CMN_LOG_DEBUG,
    CMN_LOG_LEVEL_COUNT
} cmn_log_level_t;

/* Sets the daemon name printed on every line and the most verbose level shown.
 * Also routes CZMQ's zsys log to the same sink. Call once from main(). */
void cmn_log_init(const char *daemon, cmn_log_level_t level);

/* Parses "err", "warn", "notice", "info", "debug"; returns 0 and sets *ret_level,
 * or -1 when the name is unknown. */
int cmn_log_level_parse(const char *name, cmn_log_level_t *ret_level);

/* Current threshold (for libraries that want to route their own logs here). */
cmn_log_level_t cmn_log_level(void);

/* Writes `ts level daemon msgid message` to stderr as one line (one write(2)).
 * msgid is a stable tag such as "GW-DTLS-UP". Quote peer strings with %s inside
 * double quotes; never pass keys, PSKs or PINs. */
void cmn_log(cmn_log_level_t level, const char *msgid, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Copies in (NULL = "") into out (len bytes, len >= 1) for a log line: control
 * characters, DEL, bytes >= 0x80, the double quote and the backslash become \xNN;
 * the rest is copied as it is. Truncated if out is too short (never inside an
 * escape); always NUL-terminated. Returns out, to be used as a printf argument.
 * Use it for every string a peer or a client chose. */
const char *cmn_log_escape(char *out, size_t len, const char *in);

#define cmn_log_err(msgid, ...)    cmn_log(CMN_LOG_ERR, msgid, __VA_ARGS__)
#define cmn_log_warn(msgid, ...)   cmn_log(CMN_LOG_WARN, msgid, __VA_ARGS__)
#define cmn_log_notice(msgid, ...) cmn_log(CMN_LOG_NOTICE, msgid, __VA_ARGS__)
#define cmn_log_info(msgid, ...)   cmn_log(CMN_LOG_INFO, msgid, __VA_ARGS__)
#define cmn_log_debug(msgid, ...)  cmn_log(CMN_LOG_DEBUG, msgid, __VA_ARGS__)

#endif
