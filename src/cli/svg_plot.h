/* A small line chart written as a self-contained SVG file: series of (x, y) points with names,
 * one or two y axes (left and right), ticks with numeric labels, axis titles, a title and a
 * legend. No dependency; every text is XML-escaped. Used by `ferry sweep-bench --plot`. */
#ifndef FY_SVG_PLOT_H
#define FY_SVG_PLOT_H

#include "ferry.h"
#include "outfile.h"

#include <stdio.h>

#define FY_PLOT_MAX_SERIES 8

struct fy_plot_series {
    const char *name;   /* legend text */
    const double *x;    /* (n) */
    const double *y;    /* (n) */
    int64_t n;
    int axis;           /* 0: left y axis, 1: right y axis */
};

struct fy_plot {
    const char *title;
    const char *x_title;
    const char *y_title[2];   /* left, right (NULL: that axis is not drawn) */
    int width, height;        /* pixels; 0: 800 x 500 */
};

/* Draws the series (n_series <= FY_PLOT_MAX_SERIES; non-finite points are skipped) to f. Each
 * axis starts at 0 (or the data minimum when it is negative) and ends at a rounded-up maximum. */
fy_status fy_svg_plot_fwrite(FILE *f, const struct fy_plot *p, const struct fy_plot_series *s,
                             int n_series);
/* The same to an output opened with fy_outfile_open, which it commits (or discards on an
 * error, which names the file): out is consumed either way. */
fy_status fy_svg_plot_write(struct fy_outfile *out, const struct fy_plot *p,
                            const struct fy_plot_series *s, int n_series);

#endif
