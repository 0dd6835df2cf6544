/* Output files the user names (-o, --plot, /save), written safely.
 *
 * - A new path or an existing regular file: written to a temporary file in the same directory
 *   (mode 0600 while written) and renamed over the path at commit, so the old content survives
 *   any failure and a half file never carries the real name. An existing file keeps its mode.
 * - A symbolic link is followed (relative links against the link's directory, at most 40 hops)
 *   and its target treated as above: the link stays a link.
 * - A character device, a FIFO or a socket is written in place, with no temporary file: the
 *   device (/dev/null, a terminal) stays a device and the pipe receives the bytes. A block
 *   device and a directory are refused.
 * - "-" means standard output.
 * Every write error (ENOSPC, EIO, EPIPE: SIGPIPE is ignored while such an output is open) and
 * every close/fsync error is reported once with the user's path; the temporary file is removed.
 */
#ifndef FY_OUTFILE_H
#define FY_OUTFILE_H

#include "ferry.h"

#include <stdbool.h>
#include <stdio.h>

struct fy_outfile;

/* Opens PATH for writing as described above. `what` names it in messages ("-o", "--plot");
 * may be NULL. A FIFO blocks here until a reader opens it. */
fy_status fy_outfile_open(const char *what, const char *path, struct fy_outfile **out);
/* The stream to write to (buffered; errors are caught at commit as well). */
FILE *fy_outfile_fp(struct fy_outfile *o);
/* True when the stream can seek (a temporary regular file): holes and ftruncate work. */
bool fy_outfile_seekable(const struct fy_outfile *o);
/* The path as the user gave it, for messages. */
const char *fy_outfile_path(const struct fy_outfile *o);
/* Logs a write failure (errno at the call) naming the path, once; marks the output failed. */
void fy_outfile_fail(struct fy_outfile *o, int err);
/* Flushes, syncs, closes and renames into place; frees o. On any error (also an earlier one
 * recorded with fy_outfile_fail) logs it, removes the temporary file and returns FY_E_IO. */
fy_status fy_outfile_commit(struct fy_outfile *o);
/* Closes without committing and removes the temporary file; frees o. NULL-safe. */
void fy_outfile_discard(struct fy_outfile *o);

/* Removes every temporary file still open (for a signal handler: async-signal-safe). */
void fy_outfile_cleanup_signal(void);

#endif
