/* Fuzzes `ferry bench-compare`: the JSONL reader (src/cli/json_lite.c), the row checks and the
 * comparison with its table. Input: the BASE file, a NUL byte, the NEW file (no NUL: BASE and NEW
 * are the same bytes); a NUL after that starts --threshold's value. The files are memory files
 * (memfd) named /proc/self/fd/N, read by the command as any file; the table goes to a memory file
 * too. Checked besides the sanitizers: the exit status is 0, 1 or 2. Seeds: tools/fuzz.sh pairs
 * the fixtures tests/data/bench_*.jsonl. */
#include "cli/cmd.h"
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

static int fd_base, fd_new, fd_out;

static void put(int fd, const uint8_t *p, size_t n)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, p, n, 0) != (ssize_t)n)
        fy_fuzz_die("writing a memory file failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t nb = nul ? (size_t)(nul - data) : size;
    const uint8_t *nw = nul ? nul + 1 : data;
    size_t rest = nul ? size - nb - 1 : size;
    const uint8_t *nul2 = nul ? memchr(nw, 0, rest) : NULL;
    size_t nn = nul2 ? (size_t)(nul2 - nw) : rest;
    char thr[32] = "";
    if (nul2) {
        size_t k = rest - nn - 1 < sizeof(thr) - 1 ? rest - nn - 1 : sizeof(thr) - 1;
        memcpy(thr, nul2 + 1, k);
        thr[k] = '\0';
    }
    put(fd_base, data, nb);
    put(fd_new, nw, nn);
    char a0[] = "bench-compare", a1[64], a2[64], a3[] = "--threshold";
    snprintf(a1, sizeof(a1), "/proc/self/fd/%d", fd_base);
    snprintf(a2, sizeof(a2), "/proc/self/fd/%d", fd_new);
    char *argv[] = {a0, a1, a2, a3, thr, NULL};
    int rc = fy_cmd_bench_compare(nul2 ? 5 : 3, argv);
    if (rc < 0 || rc > 2)
        fy_fuzz_die("bench-compare exited with a status outside 0..2");
    fflush(stdout);
    if (ftruncate(fd_out, 0) != 0 || lseek(fd_out, 0, SEEK_SET) != 0)
        fy_fuzz_die("resetting the output file failed");
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fy_fuzz_quiet();
    if (fy_fuzz_seed_dir())
        exit(0); /* the seeds are the fixtures of tests/data (tools/fuzz.sh) */
    fd_base = memfd_create("base.jsonl", 0);
    fd_new = memfd_create("new.jsonl", 0);
    fd_out = memfd_create("table", 0);
    /* the table is written to standard output: into a memory file, emptied after each input */
    if (fd_base < 0 || fd_new < 0 || fd_out < 0 || fflush(stdout) != 0 || dup2(fd_out, 1) != 1)
        fy_fuzz_die("memfd_create failed");
    return 0;
}
