// test_hugepages: the weights are read through huge pages where the system allows.
//   - huge_alloc: 2 MiB-aligned, advised MADV_HUGEPAGE (VmFlags "hg" in /proc/self/smaps).
//   - safetensors_open advises its mapping the same way.
//   - the checkpoint writers (safetensors_write here; http_download in tests/tool/http.sh,
//     through this program's --pmd-kb mode) write in 2 MiB-aligned pieces, so the page cache holds the file in 2 MiB folios and a mapping of it is
//     PMD-mapped at once (FilePmdMapped).  Whether the file system caches files in 2 MiB
//     folios at all depends on the kernel (ext4 from 6.16, xfs): a control file written
//     with one 4 MiB write() decides; where even it is not PMD-mapped, those checks are
//     reported as a NOTE, not passed.  A file written in 4 KiB pieces is checked to map
//     in 4 KiB pages (the measurement tells the two apart).
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "check.h"
#include "io/safetensors.h"

static char tmpdir[512];

#define MIB ((size_t)1 << 20)

static int has_flag(const char *flags, const char *flag) {
    char padded[1100];
    snprintf(padded, sizeof padded, " %s ", flags);
    for (char *p = padded; *p; p++)
        if (*p == '\n') *p = ' ';
    char want[8];
    snprintf(want, sizeof want, " %s ", flag);
    return strstr(padded, want) != NULL;
}

static int thp_compiled_in(void) { return is_dir("/sys/kernel/mm/transparent_hugepage"); }

// Maps path read-only, advised (as safetensors_open), reads every page, returns the kB of
// it mapped through PMDs (huge pages); -1 on error.
static long pmd_mapped_kb(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size == 0) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    char *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    huge_pages_advise(m, n);
    volatile char sink = 0;
    for (size_t i = 0; i < n; i += 4096) sink = (char)(sink + m[i]);
    long kb = smaps_field(m, "FilePmdMapped", NULL, 0);
    munmap(m, n);
    return kb;
}

// A file of `bytes` bytes written in pieces of `piece` bytes with write(2).
static int write_pieces(const char *path, size_t bytes, size_t piece) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    char *buf = malloc(piece);
    int rc = buf ? 0 : -1;
    for (size_t i = 0; buf && i < piece; i++) buf[i] = (char)(i * 7 + 1);
    for (size_t off = 0; rc == 0 && off < bytes; off += piece)
        if (write(fd, buf, piece) != (ssize_t)piece) rc = -1;
    free(buf);
    if (close(fd) != 0) rc = -1;
    return rc;
}

static void test_huge_alloc(void) {
    char *p = huge_alloc(3 * MIB + 1);
    CHECK("huge_alloc: 3 MiB + 1", p != NULL);
    if (!p) return;
    CHECK_INT("huge_alloc: on a 2 MiB boundary", (uintptr_t)p % HUGE_PAGE_BYTES, 0);
    memset(p, 1, 3 * MIB + 1);   // the whole request is usable
    char flags[1024] = "";
    long found = smaps_field(p, "Rss", flags, sizeof flags);
    CHECK("huge_alloc: its mapping is in smaps", found >= 0);
    if (thp_compiled_in())
        CHECK("huge_alloc: advised MADV_HUGEPAGE (VmFlags hg)", has_flag(flags, "hg"));
    else printf("NOTE huge_alloc: the kernel has no transparent huge pages\n");
    free(p);
    p = huge_alloc(0);
    CHECK("huge_alloc(0): a valid pointer", p != NULL);
    free(p);
    CHECK("huge_alloc(SIZE_MAX): NULL, no abort", huge_alloc(SIZE_MAX) == NULL);
    CHECK("huge_alloc(SIZE_MAX - 1 MiB): NULL", huge_alloc(SIZE_MAX - MIB) == NULL);
}

static int fill_pattern(void *ctx, int index, void *buf, size_t nbytes, char *err, size_t errlen) {
    (void)ctx, (void)index, (void)err, (void)errlen;
    float *f = buf;
    for (size_t i = 0; i < nbytes / sizeof *f; i++) f[i] = (float)(i % 1000) * 0.5f;
    return 0;
}

// A checkpoint of one (768, 2048) fp32 tensor (6 MiB) written by safetensors_write.
static int write_checkpoint(const char *path) {
    StWriteTensor t = {.name = "w", .dtype = ST_F32, .ndim = 2, .shape = {768, 2048}, .data = NULL};
    char err[512];
    int rc = safetensors_write(path, &t, 1, NULL, 0, fill_pattern, NULL, err, sizeof err);
    if (rc != 0) printf("# %s\n", err);
    return rc;
}

static void test_reader_advises(void) {
    char path[700], err[512], flags[1024] = "";
    snprintf(path, sizeof path, "%s/advised.safetensors", tmpdir);
    CHECK_INT("reader: checkpoint written", write_checkpoint(path), 0);
    SafeTensors st;
    int rc = safetensors_open(&st, path, err, sizeof err);
    CHECK_INT("reader: opened", rc, 0);
    if (rc != 0) return;
    CHECK("reader: mapping in smaps", smaps_field(st.map, "Rss", flags, sizeof flags) >= 0);
    if (thp_compiled_in())
        CHECK("reader: mapping advised MADV_HUGEPAGE (VmFlags hg)", has_flag(flags, "hg"));
    else printf("NOTE reader: the kernel has no transparent huge pages\n");
    const StTensor *t = safetensors_find(&st, "w");
    CHECK("reader: tensor found", t != NULL);
    if (t) CHECK("reader: data intact", ((const float *)t->data)[1001] == 0.5f);
    safetensors_close(&st);
}

static void test_writers_huge_folios(void) {
    char control[700], small[700], written[700];
    snprintf(control, sizeof control, "%s/control.bin", tmpdir);
    snprintf(small, sizeof small, "%s/small-writes.bin", tmpdir);
    snprintf(written, sizeof written, "%s/written.safetensors", tmpdir);
    CHECK_INT("folios: control file (one 4 MiB write)", write_pieces(control, 4 * MIB, 4 * MIB), 0);
    CHECK_INT("folios: file in 4 KiB writes", write_pieces(small, 6 * MIB, 4096), 0);
    CHECK_INT("folios: checkpoint written", write_checkpoint(written), 0);

    long kb_control = pmd_mapped_kb(control);
    if (kb_control < 2048) {
        printf(
            "NOTE folios: this kernel/file system does not cache files in 2 MiB folios (control %ld kB "
            "PMD-mapped): writer checks not applicable\n",
            kb_control);
        return;
    }
    CHECK("folios: 4 KiB writes map in 4 KiB pages", pmd_mapped_kb(small) == 0);
    // 6 MiB + header: the three whole 2 MiB pieces from offset 0 map as huge pages
    long kb = pmd_mapped_kb(written);
    if (kb < 6144) printf("# safetensors_write: %ld kB PMD-mapped\n", kb);
    CHECK("folios: safetensors_write's file maps in huge pages", kb >= 6144);
}

// test_hugepages --pmd-kb FILE: prints the kB of FILE mapped through huge pages;
// test_hugepages --control DIR: the same for a control file written there in one write.
static int mode_pmd(int argc, char **argv) {
    char path[700];
    if (argc != 3) return 2;
    if (strcmp(argv[1], "--control") == 0) {
        snprintf(path, sizeof path, "%s/control.bin", argv[2]);
        if (write_pieces(path, 4 * MIB, 4 * MIB) != 0) return 1;
    } else snprintf(path, sizeof path, "%s", argv[2]);
    printf("%ld\n", pmd_mapped_kb(path));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) return mode_pmd(argc, argv);
    if (check_scratch(tmpdir, sizeof tmpdir, "test_hugepages") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    test_huge_alloc();
    test_reader_advises();
    test_writers_huge_folios();
    check_scratch_remove(tmpdir);
    CHECK_DONE();
}
