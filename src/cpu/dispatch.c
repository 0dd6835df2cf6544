/* Choice of the CPU kernel set (qdot.h): once per process, from CPUID, or FY_CPU. */
#include "qdot.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define FY_X86 1
#else
#define FY_X86 0
#endif

/* the sets in order of preference (best last); NULL where this build lacks the set */
static const struct fy_cpu_set *set_of(int i)
{
    switch (i) {
    case 0:
        return &fy_cpu_set_c;
#if FY_HAVE_SET_AVX2
    case 1:
        return &fy_cpu_set_avx2;
#endif
#if FY_HAVE_SET_AVXVNNI
    case 2:
        return &fy_cpu_set_avxvnni;
#endif
#if FY_HAVE_SET_AVX512
    case 3:
        return &fy_cpu_set_avx512;
#endif
#if FY_HAVE_SET_AVX512VNNI
    case 4:
        return &fy_cpu_set_avx512vnni;
#endif
#if FY_HAVE_SET_AMX
    case 5:
        return &fy_cpu_set_amx;
#endif
    default:
        return NULL;
    }
}

static const char *const set_names[] = {"c", "avx2", "avxvnni", "avx512", "avx512vnni", "amx"};

#if FY_X86
/* AVX-VNNI (VEX-encoded, 256-bit): CPUID leaf 7 subleaf 1, EAX bit 4 */
static bool avx_vnni(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1u);
}

/* F16C: CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c") */
static bool f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1u);
}

/* AMX-TILE and AMX-INT8 in CPUID, the tile state enabled by the OS (XCR0 bits 17-18), and the
 * tile data granted to this process (Linux >= 5.16: arch_prctl ARCH_REQ_XCOMP_PERM; the grant
 * is per process and may be asked for again). Linux x86-64 only, as the amx library. */
static bool amx_usable(void)
{
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25)))
        return false;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17))
        return false;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return false;
#endif
}
#endif

const char *fy_cpu_set_name(int i)
{
    return i >= 0 && i < (int)FY_ARRAY_LEN(set_names) ? set_names[i] : NULL;
}

bool fy_cpu_set_supported(const char *name)
{
    if (!strcmp(name, "c"))
        return true;
#if FY_X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c();
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl");
    if (!strcmp(name, "avx2"))
        return avx2;
    if (!strcmp(name, "avxvnni"))
        return avx2 && avx_vnni();
    if (!strcmp(name, "avx512"))
        return avx512;
    if (!strcmp(name, "avx512vnni"))
        return avx512 && __builtin_cpu_supports("avx512vnni");
    if (!strcmp(name, "amx"))
        return avx512 && __builtin_cpu_supports("avx512vnni") && amx_usable();
#endif
    return false;
}

const struct fy_cpu_set *fy_cpu_set_named(const char *name)
{
    for (int i = 0; fy_cpu_set_name(i); i++)
        if (!strcmp(name, fy_cpu_set_name(i)))
            return set_of(i) && fy_cpu_set_supported(name) ? set_of(i) : NULL;
    return NULL;
}

static const struct fy_cpu_set *g_set; /* written once, under g_once */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    const struct fy_cpu_set *best = &fy_cpu_set_c;
    for (int i = 0; fy_cpu_set_name(i); i++)
        if (set_of(i) && fy_cpu_set_supported(fy_cpu_set_name(i)))
            best = set_of(i);
    const char *want = getenv("FY_CPU");
    if (want && *want) {
        const struct fy_cpu_set *s = fy_cpu_set_named(want);
        if (s)
            best = s;
        else
            fy_log(FY_LOG_WARN,
                   "FY_CPU=%s: not a kernel set this build has and this CPU runs "
                   "(c, avx2, avxvnni, avx512, avx512vnni, amx); using %s",
                   want, best->name);
    }
    g_set = best;
}

const struct fy_cpu_set *fy_cpu_set(void)
{
    pthread_once(&g_once, choose);
    return g_set;
}
