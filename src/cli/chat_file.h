/* The conversation file of `ferry chat` (/save FILE, /load FILE): JSON lines, one message per
 * line, in the order of the conversation, as a flat object with string values:
 *
 *   {"role":"user","content":"What is 2 + 2?"}
 *   {"role":"assistant","channel":"analysis","content":"Simple arithmetic."}
 *   {"role":"assistant","channel":"final","content":"2 + 2 = 4."}
 *
 * "role" (system, developer, user, assistant, tool) and "content" are required; "name",
 * "recipient", "channel" and "content_type" are written when the message has them, and
 * "recipient_after_channel": true when set; no other key is read. Strings are UTF-8 with JSON
 * escapes (\u0000 excepted). Blank lines are skipped. The system and developer messages that
 * chat composes from its flags (--sys, --reasoning, --date) are not in the file: a conversation
 * loaded under the same flags renders to the same tokens as the one saved. */
#ifndef FY_CHAT_FILE_H
#define FY_CHAT_FILE_H

#include "text/harmony.h"

#include <stdio.h>

#define FY_LIMIT_CHAT_FILE ((size_t)64 << 20) /* /load reads at most 64 MiB */

/* Writes msgs[0..n) to f, one line each. FY_E_IO when f reports an error. */
fy_status fy_chat_file_write(FILE *f, const struct fy_harmony_msg *msgs, int64_t n);

/* Reads the messages of PATH into *out (emptied first; left empty on failure). Errors are
 * logged naming `what` ("/load"), the path and the line (and column or byte): FY_E_IO when the
 * file cannot be read, FY_E_INVAL when it is too large or a directory, FY_E_FORMAT for a line
 * that is not JSON, a missing or unknown key, a value of the wrong type, an unknown role, a
 * tool message without a name, text that is not UTF-8. */
fy_status fy_chat_file_read(const char *what, const char *path, struct fy_harmony_msgs *out);

#endif
