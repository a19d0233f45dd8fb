/* ctl_pin.c — obtctl pin: the operator's input of a Random PIN (clause 7.3: the DOTS
 * platform provides a user interface for the number the device shows) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl_args.h"
#include "ctl_main.h"

/* Reads one line from fd into out (NUL-terminated, without the newline). */
static int
s_read_line(int fd, char *out, size_t len)
{
    size_t n = 0;
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) == 1 && c != '\n') {
        if (n + 1 < len) {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return r < 0 ? -1 : 0;
}

/* Keeps the digits only: "1234 5678\n" and "12345678" are the same PIN. */
static void
s_digits_only(char *pin)
{
    size_t k = 0;
    for (size_t i = 0; pin[i]; i++) {
        if (pin[i] >= '0' && pin[i] <= '9') {
            pin[k++] = pin[i];
        }
    }
    pin[k] = '\0';
}

/* Prompts on the terminal with echo off (a PIN is a secret on screen too). */
static int
s_prompt(const char *uuid, char *pin, size_t len)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    struct termios old, quiet;
    bool has_term = tcgetattr(fd, &old) == 0;
    char msg[160];
    int m = snprintf(msg, sizeof msg, "PIN shown by device %s: ", uuid);
    (void) !write(fd, msg, (size_t) m);
    if (has_term) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        (void) tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    int rc = s_read_line(fd, pin, len);
    if (has_term) {
        (void) tcsetattr(fd, TCSAFLUSH, &old);
    }
    (void) !write(fd, "\n", 1);
    (void) close(fd);
    return rc;
}

int
ctl_pin_read(const ctl_pin_src_t *src, const char *uuid, char *pin, size_t len)
{
    int rc = 0;
    if (src->file && strcmp(src->file, "-") == 0) {
        rc = s_read_line(STDIN_FILENO, pin, len); /* --pin-file - is --pin - */
    } else if (src->file) {
        int fd = open(src->file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return ctl_args_file_error("--pin-file", src->file, errno);
        }
        rc = s_read_line(fd, pin, len);
        (void) close(fd);
    } else if (src->from_stdin) {
        rc = s_read_line(STDIN_FILENO, pin, len);
    } else {
        rc = s_prompt(uuid, pin, len);
    }
    if (rc != 0) {
        fprintf(stderr, "obtctl: no PIN read for %s (no terminal? use --pin-file F or --pin -)\n",
                uuid);
        return CTL_EXIT_USAGE;
    }
    s_digits_only(pin);
    return CTL_EXIT_OK;
}

bool
ctl_pin_can_read(const ctl_pin_src_t *src)
{
    return src->file || src->from_stdin || isatty(STDIN_FILENO);
}

int
ctl_pin_submit(const ctl_opts_t *o, const char *uuid, char *pin)
{
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__SubmitPin p = OBT__DOTS__SUBMIT_PIN__INIT;
    p.uuid = (char *) (uintptr_t) uuid;
    p.pin = pin;
    req.body_case = OBT__DOTS__REQUEST__BODY_PIN;
    req.pin = &p;
    Obt__Dots__Reply *r = NULL;
    int rc = ctl_dots(o, &req, 0, &r);
    OPENSSL_cleanse(pin, strlen(pin));
    if (rc == CTL_EXIT_OK) {
        fprintf(stderr, "PIN accepted for %s: %s\n", uuid, r->pin->state);
        obt__dots__reply__free_unpacked(r, NULL);
    }
    return rc;
}

int
ctl_cmd_pin(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {
            {"pin-file", required_argument, NULL, 'f'}, {"pin", required_argument, NULL, 'p'},
            {"no-wait", no_argument, NULL, 'n'},        {"wait-s", required_argument, NULL, 'w'},
            {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    ctl_pin_src_t src = {NULL, false, false};
    bool wait = true;
    int wait_s = 120, c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'f') {
            src.file = optarg;
        } else if (c == 'p' && strcmp(optarg, "-") == 0) {
            src.from_stdin = true;
        } else if (c == 'n') {
            wait = false;
        } else if (c == 'w') {
            if (ctl_args_int("--wait-s", optarg, 1, 86400, &wait_s) != 0) {
                return CTL_EXIT_USAGE;
            }
        } else {
            printf("usage: obtctl pin UUID [--pin-file F | --pin -] [--no-wait] [--wait-s N]\n"
                   "Gives DOTS the Random PIN the device shows (asked on the terminal without\n"
                   "echo, or read from F or stdin); the waiting onboarding resumes. Exit 0 if\n"
                   "the device reaches RFNOP, 1 if it fails (e.g. wrong PIN), 4 on timeout.\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "obtctl: pin: name one device\n");
        return CTL_EXIT_USAGE;
    }
    char *uuid = argv[optind];
    if (ctl_args_check_uuids("pin", &uuid, 1) != 0) {
        return CTL_EXIT_USAGE;
    }
    char pin[64];
    int rc = ctl_pin_read(&src, uuid, pin, sizeof pin);
    if (rc == CTL_EXIT_OK) {
        rc = ctl_pin_submit(o, uuid, pin);
    }
    OPENSSL_cleanse(pin, sizeof pin);
    if (rc != CTL_EXIT_OK || !wait) {
        return rc;
    }
    ctl_pin_src_t given = {NULL, false, true};
    return ctl_wait_onboarding(o, NULL, &uuid, 1, false, wait_s, &given);
}
