/* ctl_args.h — obtctl's argument checks: numbers with bounds, UUIDs, state names, and
 * global options given after the command */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <getopt.h>
#include <stddef.h>

/* Parses text as a whole decimal number in [min, max] (no trailing characters, no
 * overflow, no empty text). On error prints `obtctl: OPT: ...` (what was given and
 * the range) and returns CTL_EXIT_USAGE; 0 on success (*ret written only then). */
int ctl_args_long(const char *opt, const char *text, long min, long max, long *ret);
/* The same for an int. */
int ctl_args_int(const char *opt, const char *text, int min, int max, int *ret);

/* Each of the n uuids must be a well-formed UUID (36 characters, 8-4-4-4-12, either
 * case). Prints `obtctl: CMD: "X" is not a UUID` and returns CTL_EXIT_USAGE for the
 * first that is not; 0 if all are. */
int ctl_args_check_uuids(const char *cmd, char *const *uuids, size_t n);

/* A file given on the command line that cannot be opened (errno err): prints
 * `obtctl: WHAT: cannot open "PATH": reason` and returns the exit code, the same for
 * every command: CTL_EXIT_NOTFOUND if it does not exist, else CTL_EXIT_FAILED. */
int ctl_args_file_error(const char *what, const char *path, int err);

/* Moves global options (those of `globals`, "help" excepted) that follow the command
 * to before it, keeping their order and values ("--json", "--keys-dir D",
 * "--keys-dir=D"), so `obtctl devices --json` is `obtctl --json devices`. The command
 * is the first argument that is neither a global option nor its value; nothing
 * after "--" moves. argv is permuted in place. */
void ctl_args_hoist(int argc, char **argv, const struct option *globals);

#endif
