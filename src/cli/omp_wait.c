/* How OpenMP threads wait for work (--poll). libgomp reads GOMP_SPINCOUNT once, in its own
 * constructor, before main (and a .preinit_array entry runs before libc has its environment,
 * so it cannot set it either): ferry's main sets GOMP_SPINCOUNT and executes itself again,
 * once, unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is already in the environment. Default --poll 0: a
 * thread that finds no work sleeps at once instead of spinning for up to 300000 iterations
 * (libgomp's default). On the 2-core development VM, tiny model, `bench -p 64 -n 64 -t 2`: with
 * another process busy on one core, tg64 179 t/s at --poll 0 against 73 with libgomp's default
 * spin; idle, 322 against 334
 * (bench/results/2026-12-07_20b-preset_cpu-2core-zen3_attention/notes.md).
 * --poll N (0-100) spins N * 3000 iterations first (100: libgomp's default). A user's own
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone. */
#include "cli/cli_common.h"
#include "fy_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_desc[96] = "libgomp default";

/* 0..100 from "--poll N" / "--poll=N" in argv, or -1 (absent or not a number in range: the
 * argument parser reports that one) */
static int poll_arg(int argc, char **argv)
{
    int level = -1;
    for (int i = 1; argv && i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--poll") && i + 1 < argc)
            v = argv[i + 1];
        else if (!strncmp(argv[i], "--poll=", 7))
            v = argv[i] + 7;
        if (v) {
            char *end;
            long x = strtol(v, &end, 10);
            level = *v && !*end && x >= 0 && x <= 100 ? (int)x : -1;
        }
    }
    return level;
}

void fy_omp_wait_setup(int argc, char **argv)
{
#if !FY_HAVE_OPENMP
    snprintf(g_desc, sizeof(g_desc), "no OpenMP in this build");
    return;
#endif
    const char *pol = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    const char *mine = getenv("FY_POLL_SET");
    if (mine && spin) {
        snprintf(g_desc, sizeof(g_desc), "--poll %s (GOMP_SPINCOUNT=%s)", mine, spin);
        unsetenv("FY_POLL_SET"); /* not inherited by what ferry starts */
        return;
    }
    if (pol || spin) {
        snprintf(g_desc, sizeof(g_desc), "from the environment (%s%s)",
                 pol ? "OMP_WAIT_POLICY=" : "GOMP_SPINCOUNT=", pol ? pol : spin);
        return;
    }
    int level = poll_arg(argc, argv);
    if (level < 0)
        level = FY_POLL_DEFAULT;
    char sc[16], lv[8];
    snprintf(sc, sizeof(sc), "%d", level * 3000);
    snprintf(lv, sizeof(lv), "%d", level);
    if (setenv("GOMP_SPINCOUNT", sc, 1) || setenv("FY_POLL_SET", lv, 1))
        return;
    /* the resolved path, not /proc/self/exe itself: ps and top then show "ferry", not "exe" */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        fflush(NULL);
        execv(self, argv);
    }
    /* no /proc: this process goes on with libgomp's default */
    unsetenv("GOMP_SPINCOUNT");
    unsetenv("FY_POLL_SET");
    snprintf(g_desc, sizeof(g_desc),
             "libgomp default (--poll %d not applied: cannot re-execute "
             "/proc/self/exe)",
             level);
}

const char *fy_omp_wait_desc(void)
{
    return g_desc;
}
