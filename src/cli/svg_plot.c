/* A small line chart as SVG (svg_plot.h). */
#include "svg_plot.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[FY_PLOT_MAX_SERIES] = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
};

/* An axis range rounded out to a 1-2-5 step. */
struct plot_scale {
    double lo, hi, step;
    int decimals;   /* for tick labels */
};

static void scale_make(double lo, double hi, struct plot_scale *sc)
{
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.5 : 1.0;
        lo -= lo < 0 ? pad : 0;
        hi = lo + 2 * pad;
    }
    double rough = (hi - lo) / 5;
    double mag = pow(10, floor(log10(rough)));
    double norm = rough / mag;
    double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
    sc->step = step;
    sc->lo = floor(lo / step + 1e-9) * step;
    sc->hi = ceil(hi / step - 1e-9) * step;
    if (sc->hi <= sc->lo)
        sc->hi = sc->lo + step;
    int d = (int)-floor(log10(step) + 1e-9);
    sc->decimals = d > 0 ? d : 0;
}

/* XML text content / attribute value. */
static void xml_str(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '&')
            fputs("&amp;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c == '\'')
            fputs("&apos;", f);
        else if (c < 0x20 && c != '\t' && c != '\n')
            fputc(' ', f); /* not allowed in XML 1.0 */
        else
            fputc(c, f);
    }
}

static void text(FILE *f, double x, double y, const char *anchor, const char *extra,
                 const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor,
            extra ? extra : "");
    xml_str(f, s);
    fputs("</text>\n", f);
}

/* Data range of the series on one axis (x when axis < 0); false if no finite point. */
static bool data_range(const struct fy_plot_series *s, int n_series, int axis, double *lo,
                       double *hi)
{
    bool any = false;
    for (int i = 0; i < n_series; i++) {
        if (axis >= 0 && s[i].axis != axis)
            continue;
        for (int64_t j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = s[i].y[j];
            if (!isfinite(x) || !isfinite(y))
                continue;
            double v = axis < 0 ? x : y;
            if (!any || v < *lo)
                *lo = v;
            if (!any || v > *hi)
                *hi = v;
            any = true;
        }
    }
    return any;
}

fy_status fy_svg_plot_fwrite(FILE *f, const struct fy_plot *p, const struct fy_plot_series *s,
                             int n_series)
{
    FY_CHECK_ARG(f && p && (s || n_series == 0));
    FY_CHECK_ARG(n_series >= 0 && n_series <= FY_PLOT_MAX_SERIES);
    const int w = p->width > 0 ? p->width : 800;
    const int h = p->height > 0 ? p->height : 500;
    bool axis_on[2] = {p->y_title[0] != NULL, p->y_title[1] != NULL};
    for (int i = 0; i < n_series; i++) {
        FY_CHECK_ARG(s[i].axis == 0 || s[i].axis == 1);
        FY_CHECK_ARG(s[i].n == 0 || (s[i].x && s[i].y));
        axis_on[s[i].axis] = true;
    }
    const double ml = 80, mr = axis_on[1] ? 80 : 30, mt = 50, mb = 60;
    const double x0 = ml, x1 = w - mr, y0 = h - mb, y1 = mt;  /* plot area; y0 is the bottom */

    struct plot_scale sx, sy[2];
    double lo = 0, hi = 1;
    if (!data_range(s, n_series, -1, &lo, &hi))
        lo = 0, hi = 1;
    scale_make(lo, hi, &sx);
    for (int a = 0; a < 2; a++) {
        lo = 0, hi = 1;
        if (data_range(s, n_series, a, &lo, &hi)) {
            lo = lo < 0 ? lo : 0;
            hi = hi > 0 ? hi * 1.05 : hi;
        } else {
            lo = 0, hi = 1;
        }
        scale_make(lo, hi, &sy[a]);
    }
#define PX(v) (x0 + ((v) - sx.lo) / (sx.hi - sx.lo) * (x1 - x0))
#define PY(a, v) (y0 - ((v) - sy[a].lo) / (sy[a].hi - sy[a].lo) * (y0 - y1))

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            w, h, w, h, w, h);
    text(f, w / 2.0, 28, "middle", " font-size=\"16\" font-weight=\"bold\"", p->title);

    /* grid and ticks: x */
    char buf[64];
    for (int k = 0;; k++) {
        double v = sx.lo + k * sx.step;
        if (v > sx.hi + sx.step * 1e-6)
            break;
        double x = PX(v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                x, y0, x, y1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                x, y0, x, y0 + 5);
        snprintf(buf, sizeof(buf), "%.*f", sx.decimals, v);
        text(f, x, y0 + 19, "middle", NULL, buf);
    }
    /* y axes: ticks on the left one get grid lines */
    for (int a = 0; a < 2; a++) {
        if (!axis_on[a])
            continue;
        double ax = a == 0 ? x0 : x1, dir = a == 0 ? -1 : 1;
        for (int k = 0;; k++) {
            double v = sy[a].lo + k * sy[a].step;
            if (v > sy[a].hi + sy[a].step * 1e-6)
                break;
            double y = PY(a, v);
            if (a == 0 || !axis_on[0])
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"#e0e0e0\"/>\n", x0, y, x1, y);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                    ax, y, ax + 5 * dir, y);
            snprintf(buf, sizeof(buf), "%.*f", sy[a].decimals, v);
            text(f, ax + 8 * dir, y + 4, a == 0 ? "end" : "start", NULL, buf);
        }
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                ax, y0, ax, y1);
        if (p->y_title[a]) {
            double tx = a == 0 ? 18 : w - 12, ty = (y0 + y1) / 2;
            char rot[64];
            snprintf(rot, sizeof(rot), " transform=\"rotate(%d %.1f %.1f)\"", a == 0 ? -90 : 90,
                     tx, ty);
            text(f, tx, ty, "middle", rot, p->y_title[a]);
        }
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
            x0, y0, x1, y0);
    if (p->x_title)
        text(f, (x0 + x1) / 2, h - 15, "middle", NULL, p->x_title);

    /* the series */
    for (int i = 0; i < n_series; i++) {
        const char *col = palette[i];
        int a = s[i].axis;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int64_t j = 0; j < s[i].n; j++)
            if (isfinite(s[i].x[j]) && isfinite(s[i].y[j]))
                fprintf(f, "%s%.1f,%.1f", j ? " " : "", PX(s[i].x[j]), PY(a, s[i].y[j]));
        fputs("\"/>\n", f);
        for (int64_t j = 0; j < s[i].n; j++)
            if (isfinite(s[i].x[j]) && isfinite(s[i].y[j]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                        PX(s[i].x[j]), PY(a, s[i].y[j]), col);
    }
#undef PX
#undef PY

    /* legend, top left inside the plot area */
    if (n_series > 0) {
        double lx = x0 + 12, ly = y1 + 10;
        size_t longest = 0;
        for (int i = 0; i < n_series; i++) {
            size_t n = s[i].name ? strlen(s[i].name) : 0;
            longest = n > longest ? n : longest;
        }
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"white\" "
                "fill-opacity=\"0.85\" stroke=\"#888\"/>\n", lx, ly, 46 + 7.0 * (double)longest,
                10 + 18 * n_series);
        for (int i = 0; i < n_series; i++) {
            double yy = ly + 14 + 18 * i;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"/>\n", lx + 8, yy, lx + 32, yy, palette[i]);
            text(f, lx + 38, yy + 4, "start", NULL, s[i].name ? s[i].name : "");
        }
    }
    fputs("</svg>\n", f);
    return ferror(f) ? FY_E_IO : FY_OK;
}

fy_status fy_svg_plot_write(struct fy_outfile *out, const struct fy_plot *p,
                            const struct fy_plot_series *s, int n_series)
{
    FY_CHECK_ARG(out);
    fy_status st = fy_svg_plot_fwrite(fy_outfile_fp(out), p, s, n_series);
    if (st != FY_OK)
        fy_outfile_fail(out, errno);
    fy_status cst = fy_outfile_commit(out); /* reports, and removes the temporary file */
    return st != FY_OK ? st : cst;
}
