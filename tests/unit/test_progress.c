// test_progress: the progress line's record count of a regular input file, its time
// format, and that it stays silent when not enabled (base/progress.h).  The drawing
// under a terminal is tested by tests/tool/progress.sh.
#include <fcntl.h>
#include <unistd.h>

#include "base/progress.h"
#include "base/util.h"
#include "check.h"

// Writes `text` to a fresh file in dir and returns a descriptor for it, at offset `skip`.
static int file_with(const char *dir, const char *name, const char *text, off_t skip) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) lseek(fd, skip, SEEK_SET);
    return fd;
}

int main(void) {
    util_set_progname("test_progress");
    char dir[256];
    if (check_scratch(dir, sizeof dir, "test_progress") != 0) return 1;

    struct {
        const char *name, *text;
        off_t skip;
        long want;
    } files[] = {
        {"three lines", "{}\n{}\n{}\n", 0, 3},
        {"no final newline", "{}\n{}", 0, 2},
        {"blank lines skipped", "{}\n\n  \t\n{}\r\n\n", 0, 2},
        {"empty file", "", 0, 0},
        {"from the offset", "{\"a\":1}\n{}\n{}\n", 8, 2},
        {"a bad line counts", "{}\nnot json\n", 0, 2},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int fd = file_with(dir, "f", files[i].text, files[i].skip);
        char name[96];
        snprintf(name, sizeof name, "count: %s", files[i].name);
        CHECK_INT(name, progress_count_records(fd, 1 << 20), files[i].want);
        snprintf(name, sizeof name, "count: %s, offset unmoved", files[i].name);
        CHECK_INT(name, lseek(fd, 0, SEEK_CUR), files[i].skip);
        close(fd);
    }
    int fd = file_with(dir, "f", "{}\n{}\n", 0);
    CHECK_INT("count: over max_bytes is unknown", progress_count_records(fd, 5), -1);
    close(fd);
    int p[2];
    CHECK("pipe", pipe(p) == 0);
    CHECK_INT("count: a pipe is unknown", progress_count_records(p[0], 1 << 20), -1);
    close(p[0]), close(p[1]);
    CHECK_INT("count: a bad descriptor is unknown", progress_count_records(-1, 1 << 20), -1);

    char buf[32];
    progress_format_time(buf, sizeof buf, 0);
    CHECK_STR("time 0", buf, "0:00");
    progress_format_time(buf, sizeof buf, 65.9);
    CHECK_STR("time 65.9", buf, "1:05");
    progress_format_time(buf, sizeof buf, 3723);
    CHECK_STR("time 3723", buf, "1:02:03");
    progress_format_time(buf, sizeof buf, -1);
    CHECK_STR("time negative", buf, "-");
    progress_format_time(buf, sizeof buf, 0.0 / 0.0);
    CHECK_STR("time NaN", buf, "-");

    // Off: never drawn, nothing to end.
    setenv("AUTOINTERP_PROGRESS", "0", 1);
    Progress pr;
    progress_begin(&pr, stdin);
    progress_update(&pr, 5);
    CHECK("off: not enabled, not shown", !pr.enabled && !pr.shown && !pr.visible);
    // Forced on: drawn from the first update, total counted from the input file.
    setenv("AUTOINTERP_PROGRESS", "1", 1);
    fd = file_with(dir, "g", "{}\n{}\n{}\n{}\n", 0);
    FILE *in = fdopen(fd, "r");
    CHECK("stderr to /dev/null (the line is not looked at here)",
          freopen("/dev/null", "w", stderr) != NULL);
    progress_begin(&pr, in);
    progress_update(&pr, 1);
    int shown = pr.shown && pr.visible;
    progress_hide(&pr);
    int hidden = !pr.visible;
    progress_end(&pr);
    fclose(in);
    CHECK("forced: total from the file", pr.total == 4);
    CHECK("forced: drawn at the first update", shown);
    CHECK("forced: hide erases", hidden);
    unsetenv("AUTOINTERP_PROGRESS");
    check_scratch_remove(dir);
    CHECK_DONE();
}
