/* Ctrl-C for the interactive commands: SIGINT sets a flag that generation loops poll, instead
 * of killing the process (so nothing typed or generated is lost). */
#ifndef FY_CLI_SIGNAL_H
#define FY_CLI_SIGNAL_H

#include <stdbool.h>

/* Installs the handler (without SA_RESTART, so a blocking read returns EINTR). */
void fy_sigint_install(void);
/* Returns whether Ctrl-C was pressed since the last call, and clears it. */
bool fy_sigint_take(void);
/* Returns whether Ctrl-C was pressed since the last take, without clearing. */
bool fy_sigint_pending(void);

#endif
