/* fuzz_check.h — what the libFuzzer harnesses share: a property check that stops the
 * run (libFuzzer saves the input as a crash) with a one-line reason */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* Checks a property of the code under test (not of the input): a failure is a bug. */
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            (void) fprintf(stderr, "FUZZ-PROPERTY %s (%s:%d)\n", what, __FILE__, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
