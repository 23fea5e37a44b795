// plot: SVG plots drawn by gnuplot.  Each plot NAME becomes three files in a directory:
// NAME.dat (the numbers), NAME.gp (the gnuplot script) and NAME.svg (the picture); a
// failing gnuplot's stderr is kept in NAME.log.  The script uses the `svg` terminal at a
// fixed size with enhanced text off (labels print as given), so the same numbers give
// the same SVG bytes (gnuplot writes no date into it).
#ifndef AUTOINTERP_PLOT_H
#define AUTOINTERP_PLOT_H
#include <stddef.h>

// Return values of the plot functions.
enum { PLOT_OK = 0, PLOT_ERROR = -1, PLOT_NO_GNUPLOT = -2 };

typedef struct {
    const char *title;     // legend entry (any text)
    const double *x, *y;   // (n) points, drawn in the order given; NaN y values are gaps
    int n;
} PlotSeries;

typedef struct {
    const char *gnuplot;   // program to run: NULL = $GNUPLOT, else "gnuplot" on PATH
    const char *dir;       // output directory (must exist)
    const char *name;      // file stem, e.g. "loss_vs_layers" (letters, digits, _ - .)
    const char *title, *xlabel, *ylabel;
} PlotSpec;

// One line (with points) per series.  PLOT_OK, PLOT_NO_GNUPLOT when the program cannot be
// started, PLOT_ERROR with a message in err (files cannot be written, gnuplot failed:
// its exit status and last stderr line).
int plot_lines(const PlotSpec *p, const PlotSeries *series, int n_series, char *err, size_t errlen);

// A heatmap of z (ny, nx), row-major, one row per y label (top to bottom in the order
// given), columns x = 0..nx-1 labelled by xlabels (nx strings, e.g. a position and its
// token; NULL: by their index).  The
// colour scale is symmetric around 0 (blue below, red above); each cell carries its
// value printed with 2 decimals; a NaN cell shows the grey background.  zlabel names
// the colour box.  Returns as plot_lines.
int plot_heatmap(const PlotSpec *p, const char *zlabel, const char *const *ylabels, int ny,
                 const char *const *xlabels, int nx, const double *z, char *err, size_t errlen);

#endif
