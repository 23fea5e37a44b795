// plot: gnuplot-drawn SVG plots from generated data and script files; see plot.h.
#include "io/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

extern char **environ;

// ----------------------------------------------------------------------------- files

// A gnuplot single-quoted string: '' stands for a quote; newlines become spaces.
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '\'') fputs("''", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

static void put_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("NaN", f);   // an undefined point: a gap in the line
}

// Open DIR/NAME.EXT for writing; NULL with a message in err.
static FILE *open_out(const PlotSpec *p, const char *ext, char *err, size_t errlen) {
    char file[512];
    snprintf(file, sizeof file, "%s.%s", p->name, ext);
    char *path = path_join(p->dir, file);
    FILE *f = fopen(path, "w");
    if (!f) fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
    free(path);
    return f;
}

static int close_out(FILE *f, const PlotSpec *p, const char *ext, char *err, size_t errlen) {
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    return bad ? fail(err, errlen, "error writing %s/%s.%s", p->dir, p->name, ext) : 0;
}

static void script_head(FILE *f, const PlotSpec *p, int width, int height) {
    fprintf(f, "# %s.gp: run `gnuplot %s.gp` in this directory to redraw %s.svg\n", p->name,
            p->name, p->name);
    fprintf(f, "set terminal svg size %d,%d noenhanced font 'sans,12' background '#ffffff'\n",
            width, height);
    fprintf(f, "set output '%s.svg'\n", p->name);
    fputs("set title ", f), put_quoted(f, p->title), fputc('\n', f);
    fputs("set xlabel ", f), put_quoted(f, p->xlabel), fputc('\n', f);
    fputs("set ylabel ", f), put_quoted(f, p->ylabel), fputc('\n', f);
}

// ----------------------------------------------------------------------------- running

// The last non-empty line of a small text file, into out.
static void last_line(const char *path, char *out, size_t outlen) {
    size_t len = 0;
    char *text = read_file(path, &len);
    out[0] = '\0';
    if (!text) return;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
    char *start = strrchr(text, '\n');
    snprintf(out, outlen, "%s", start ? start + 1 : text);
    free(text);
}

// Run `gnuplot NAME.gp` in p->dir, stderr into NAME.log (removed on success).
static int run_gnuplot(const PlotSpec *p, char *err, size_t errlen) {
    const char *prog = p->gnuplot ? p->gnuplot : getenv("GNUPLOT");
    if (!prog || !*prog) prog = "gnuplot";
    char script[512], log[512];
    snprintf(script, sizeof script, "%s.gp", p->name);
    snprintf(log, sizeof log, "%s.log", p->name);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, p->dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)prog, script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    char *log_path = path_join(p->dir, log);
    if (rc != 0) {
        unlink(log_path);
        free(log_path);
        if (rc == ENOENT || rc == EACCES) {
            fail(err, errlen, "%s not found (install gnuplot-nox)", prog);
            return PLOT_NO_GNUPLOT;
        }
        return fail(err, errlen, "cannot run %s: %s", prog, strerror(rc));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            free(log_path);
            return fail(err, errlen, "waiting for %s: %s", prog, strerror(errno));
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        unlink(log_path);
        free(log_path);
        return PLOT_OK;
    }
    char why[256];
    last_line(log_path, why, sizeof why);
    free(log_path);
    // The spawn child exits 127 when it could not change directory or exec the program.
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !why[0]) {
        fail(err, errlen, "%s could not be started in %s", prog, p->dir);
        return PLOT_NO_GNUPLOT;
    }
    if (WIFEXITED(status))
        return fail(err, errlen, "%s %s.gp failed (exit %d): %s", prog, p->name,
                    WEXITSTATUS(status), why);
    return fail(err, errlen, "%s %s.gp killed by signal %d", prog, p->name, WTERMSIG(status));
}

// ----------------------------------------------------------------------------- plots

int plot_lines(const PlotSpec *p, const PlotSeries *series, int n_series, char *err,
               size_t errlen) {
    int used = 0, integer_x = 1;
    double xmin = INFINITY, xmax = -INFINITY;
    for (int s = 0; s < n_series; s++) {
        used += series[s].n > 0;
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i];
            integer_x &= x == floor(x);
            if (x < xmin) xmin = x;
            if (x > xmax) xmax = x;
        }
    }
    if (!used) return fail(err, errlen, "plot %s: no points", p->name);

    FILE *f = open_out(p, "dat", err, errlen);
    if (!f) return PLOT_ERROR;
    for (int s = 0, block = 0; s < n_series; s++) {
        if (series[s].n == 0) continue;
        if (block++) fputs("\n\n", f);
        fputs("# ", f), put_quoted(f, series[s].title), fputc('\n', f);
        for (int i = 0; i < series[s].n; i++) {
            put_number(f, series[s].x[i]);
            fputc(' ', f);
            put_number(f, series[s].y[i]);
            fputc('\n', f);
        }
    }
    if (close_out(f, p, "dat", err, errlen) != 0) return PLOT_ERROR;

    if (!(f = open_out(p, "gp", err, errlen))) return PLOT_ERROR;
    script_head(f, p, 720, 450);
    fputs("set grid\nset key outside right top\n", f);
    if (integer_x && xmax - xmin <= 24)
        fprintf(f, "set xtics 1\nset xrange [%g:%g]\n", xmin - 0.5, xmax + 0.5);
    fputs("plot ", f);
    for (int s = 0, block = 0; s < n_series; s++) {
        if (series[s].n == 0) continue;
        fprintf(f, "%s'%s.dat' index %d using 1:2 with linespoints lw 2 pt 7 ps 0.6 title ",
                block ? ", \\\n     " : "", p->name, block);
        put_quoted(f, series[s].title);
        block++;
    }
    fputc('\n', f);
    if (close_out(f, p, "gp", err, errlen) != 0) return PLOT_ERROR;
    return run_gnuplot(p, err, errlen);
}

int plot_heatmap(const PlotSpec *p, const char *zlabel, const char *const *ylabels, int ny,
                 const char *const *xlabels, int nx, const double *z, char *err, size_t errlen) {
    if (ny < 1 || nx < 1) return fail(err, errlen, "plot %s: empty heatmap", p->name);
    double zmax = 0;
    for (int i = 0; i < ny * nx; i++)
        if (isfinite(z[i]) && fabs(z[i]) > zmax) zmax = fabs(z[i]);
    if (zmax == 0) zmax = 1;

    FILE *f = open_out(p, "dat", err, errlen);
    if (!f) return PLOT_ERROR;
    fputs("# x (column) y (row) value; cells without a value are left out\n", f);
    for (int r = 0; r < ny; r++)
        for (int c = 0; c < nx; c++) {
            double v = z[(size_t)r * (size_t)nx + (size_t)c];
            if (!isfinite(v)) continue;
            fprintf(f, "%d %d ", c, r);
            put_number(f, v);
            fputc('\n', f);
        }
    if (close_out(f, p, "dat", err, errlen) != 0) return PLOT_ERROR;

    if (!(f = open_out(p, "gp", err, errlen))) return PLOT_ERROR;
    int width = 260 + 48 * nx, height = 160 + 36 * ny + (xlabels ? 60 : 0);
    script_head(f, p, width < 520 ? 520 : width, height < 300 ? 300 : height);
    fprintf(f, "set xrange [-0.5:%g]\nset yrange [%g:-0.5]\n", nx - 0.5, ny - 0.5);
    if (xlabels) {   // one tic per column, its label rotated to fit a token
        fputs("set xtics out nomirror rotate by 45 right (", f);
        for (int c = 0; c < nx; c++) {
            if (c) fputs(", ", f);
            put_quoted(f, xlabels[c] ? xlabels[c] : "");
            fprintf(f, " %d", c);
        }
        fputs(")\n", f);
    } else {
        fputs("set xtics 1 out nomirror\n", f);
    }
    fputs("set ytics out nomirror (", f);
    for (int r = 0; r < ny; r++) {
        if (r) fputs(", ", f);
        put_quoted(f, ylabels[r]);
        fprintf(f, " %d", r);
    }
    fputs(")\n", f);
    fprintf(f, "set cbrange [%.9g:%.9g]\n", -zmax, zmax);
    fputs("set cblabel ", f), put_quoted(f, zlabel), fputc('\n', f);
    fputs("set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\nunset key\n", f);
    // Cells as filled boxes (not `with image`, which needs a complete grid) over a grey
    // background, which shows through where a cell has no value.
    fputs(
        "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#d9d9d9' fillstyle solid noborder\n",
        f);
    fprintf(f,
            "set style fill solid 1.0 noborder\n"
            "plot '%s.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fillcolor palette, \\\n"
            "     '' using 1:2:(sprintf('%%.2f', $3)) with labels font 'sans,9'\n",
            p->name);
    if (close_out(f, p, "gp", err, errlen) != 0) return PLOT_ERROR;
    return run_gnuplot(p, err, errlen);
}
