/* The CPU emulator of the GPU dialect (src/hip/emu/) tested on its own: its self-test kernels
 * (geometry, barriers, shuffles, dynamic shared memory, atomics, lazy streams, events, errors,
 * happens-before overlap counters) under each scheduling mode, the stats reset (once, at the
 * end), the divergence and overrun checks (each must kill a child process), and its f16
 * conversions against the CPU's, bit for bit. Built for a real GPU (without FY_TEST_EMU) there
 * is nothing to test: skip. */
#ifndef FY_TEST_EMU
int main(void)
{
    return 77;
}
#else

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fy_test.h"
#include "hip/emu/fy_emu_ctl.h"
#include "quant.h"

/* runs one self-test in a child, which must die of SIGABRT (divergence) or SIGSEGV (overrun) */
static int expect_abort(const char *name)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        /* the default action, so that the overrun kills the child with SIGSEGV even where a
         * sanitizer (ASan's handle_segv) installed its own handler, which would exit instead */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        fy_emu_set_workers(1);  /* the parent's worker threads do not exist here */
        int r = fy_emu_selftest(name);
        _exit(r == 0 ? 0 : 3);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        perror("waitpid");
        return 1;
    }
    int ok = WIFSIGNALED(st) && (WTERMSIG(st) == SIGABRT || WTERMSIG(st) == SIGSEGV);
    printf("%s %s (child %s %d)\n", ok ? "PASS" : "FAIL", name,
           WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return !ok;
}

static int f16_conversions(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = fy_emu_f16_to_f32((uint16_t)h);
        float b = fy_fp16_to_f32((uint16_t)h);
        if (memcmp(&a, &b, 4) && bad++ < 5)
            fprintf(stderr, "f16 0x%04x: emu %a, cpu %a\n", h, a, b);
    }
    struct fy_rng rng = { 42 };
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)fy_rng_u64(&rng);
        if (i & 1)  /* half of them near the f16 range, subnormals and rounding ties included */
            u = (u & 0x80000000u) | ((u & 0x0fffffffu) + 0x30000000u);
        float f;
        memcpy(&f, &u, 4);
        uint16_t a = fy_emu_f32_to_f16(f);
        uint16_t b = fy_f32_to_fp16(f);
        if (a != b && bad++ < 10)
            fprintf(stderr, "f32 0x%08x: emu 0x%04x, cpu 0x%04x\n", u, a, b);
    }
    printf("%s f16 conversions (65536 f16, 1e6 f32): %d mismatches\n", bad ? "FAIL" : "PASS", bad);
    return bad != 0;
}

int main(void)
{
    static const struct {
        const char *mode;
        int workers, eager, reverse;
    } modes[] = {
        { "default", 0, 0, 0 },
        { "one worker", 1, 0, 0 },
        { "reverse lanes", 0, 0, 1 },
        { "eager", 0, 1, 0 },
    };
    int failed = 0;
    int cases = 0;

    for (size_t m = 0; m < FY_ARRAY_LEN(modes); m++) {
        fy_emu_set_workers(modes[m].workers);
        fy_emu_set_eager(modes[m].eager);
        fy_emu_set_reverse(modes[m].reverse);
        for (int i = 0; fy_emu_selftest_name(i); i++) {
            const char *name = fy_emu_selftest_name(i);
            if (!strncmp(name, "abort_", 6) || !strcmp(name, "overlap_reset"))
                continue;
            int r = fy_emu_selftest(name);
            printf("%s %s [%s]\n", r ? "FAIL" : "PASS", name, modes[m].mode);
            failed += r != 0;
            cases++;
        }
    }
    fy_emu_set_workers(0);
    fy_emu_set_eager(0);
    fy_emu_set_reverse(0);

    struct fy_emu_stats st;
    fy_emu_stats_get(&st);
    printf("stats: %llu launches, %llu blocks, %llu threads, %llu barriers, %llu warp ops, "
           "%llu copies (%llu overlappable with %llu kernels); %zu bytes in use, pending %lld\n",
           (unsigned long long)st.launches, (unsigned long long)st.blocks,
           (unsigned long long)st.threads, (unsigned long long)st.barriers,
           (unsigned long long)st.warp_ops, (unsigned long long)st.copies,
           (unsigned long long)st.copies_overlappable,
           (unsigned long long)st.kernels_overlappable, st.mem_used, (long long)st.pending);
    if (st.mem_used != 0 || st.pending != 0) {
        printf("FAIL the self-tests leaked device memory or left work pending\n");
        failed++;
    }
    cases++;
    {  /* resets the stats: after the summary */
        int r = fy_emu_selftest("overlap_reset");
        printf("%s overlap_reset\n", r ? "FAIL" : "PASS");
        failed += r != 0;
        cases++;
    }

    for (int i = 0; fy_emu_selftest_name(i); i++) {
        const char *name = fy_emu_selftest_name(i);
        if (strncmp(name, "abort_", 6))
            continue;
        failed += expect_abort(name);
        cases++;
    }
    failed += f16_conversions();
    cases++;
    failed += fy_emu_selftest("no such test") != -1;
    cases++;

    printf("%d of %d cases failed\n", failed, cases);
    return failed ? 1 : 0;
}

#endif
