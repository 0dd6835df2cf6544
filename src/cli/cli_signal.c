/* SIGINT as a polled flag. The flag is the one piece of process state a signal handler needs. */
#include "cli_signal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_sigint;

static void on_sigint(int sig)
{
    (void)sig;
    g_sigint = 1;
}

void fy_sigint_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: fgets at the prompt returns on Ctrl-C */
    sigaction(SIGINT, &sa, NULL);
}

bool fy_sigint_take(void)
{
    bool was = g_sigint != 0;
    g_sigint = 0;
    return was;
}

bool fy_sigint_pending(void) { return g_sigint != 0; }
