/* ferry serve's web chat (GET /): the page src/cli/serve_page.html, embedded at build time by
 * tools/embed.py as serve_page_html.c (fy_serve_page_src, fy_serve_page_src_len). */
#include "serve.h"

#include <stdlib.h>
#include <string.h>

extern const char fy_serve_page_src[];
extern const size_t fy_serve_page_src_len;

char *fy_serve_page_html(void)
{
    char *s = malloc(fy_serve_page_src_len + 1);
    if (s)
        memcpy(s, fy_serve_page_src, fy_serve_page_src_len + 1);
    return s;
}
