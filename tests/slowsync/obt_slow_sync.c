/* obt_slow_sync.c — a slow disk for benchmarks, the same on every run: preloaded
 * (LD_PRELOAD=bin/libobt_slow_sync.so OBT_SLOW_SYNC_MS=N), every fsync and fdatasync of
 * the process takes N ms longer before it syncs. LMDB syncs a durable commit's pages
 * with one fdatasync (its meta page goes through an O_DSYNC descriptor, not slowed), so
 * N is what each commit costs more. Release builds only: a sanitized process refuses a
 * library preloaded before its runtime. Not a test: bench_onboard's figures under a
 * slow disk (docs/performance.md). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int(s_sync_fn)(int fd);

static void
s_delay(void)
{
    const char *ms = getenv("OBT_SLOW_SYNC_MS");
    long n = ms ? strtol(ms, NULL, 10) : 0;
    if (n > 0 && n <= 10000) {
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
}

static int
s_call(const char *name, int fd)
{
    s_sync_fn *real = (s_sync_fn *) (uintptr_t) dlsym(RTLD_NEXT, name);
    s_delay();
    return real ? real(fd) : -1;
}

int
fdatasync(int fd)
{
    return s_call("fdatasync", fd);
}

int
fsync(int fd)
{
    return s_call("fsync", fd);
}
