// test_hub: names, cache paths, URL building, header metadata, the token, offline mode
// and cache lookup in a synthetic cache.  With arguments it drives hub_resolve for
// tests/tool/hub_download.sh:
//   test_hub --resolve NAME [--revision R] [--offline] [--files a,b,...] [--progress]
// prints the resolved directory on stdout (exit 0), or "test_hub: MESSAGE" on stderr (exit 1).
#define _XOPEN_SOURCE 700
#include "base/util.h"
#include "check.h"
#include "io/hub.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[512];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static char *tmp_path(const char *rel) { return path_join(tmpdir, rel); }

// Unsets every variable that steers the cache, so each test sets only its own.
static void env_clear(void) {
    const char *vars[] = {
        "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",        "XDG_CACHE_HOME",
        "HF_TOKEN",     "HF_TOKEN_PATH",         "HF_HUB_OFFLINE", "HF_ENDPOINT"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

static void test_names(void) {
    CHECK_STR("alias gpt2", hub_alias("gpt2"), "openai-community/gpt2");
    CHECK_STR("alias gpt2-xl", hub_alias("gpt2-xl"), "openai-community/gpt2-xl");
    CHECK_STR("alias distilgpt2", hub_alias("distilgpt2"), "distilbert/distilgpt2");
    CHECK("no alias", hub_alias("gpt3") == NULL);
    CHECK_STR("alias other forward", hub_alias_other("gpt2-medium"),
              "openai-community/gpt2-medium");
    CHECK_STR("alias other back", hub_alias_other("openai-community/gpt2-large"), "gpt2-large");
    CHECK("alias other none", hub_alias_other("org/x") == NULL);

    CHECK("repo gpt2", hub_repo_id_valid("gpt2"));
    CHECK("repo org/name", hub_repo_id_valid("openai-community/gpt2"));
    CHECK("repo dots", hub_repo_id_valid("EleutherAI/pythia-70m.v1_0"));
    CHECK("repo 3 parts", !hub_repo_id_valid("a/b/c"));
    CHECK("repo dotdot", !hub_repo_id_valid("a/../b"));
    CHECK("repo double dash", !hub_repo_id_valid("a--b/c"));
    CHECK("repo leading dot", !hub_repo_id_valid(".hidden/x"));
    CHECK("repo trailing dash", !hub_repo_id_valid("org/x-"));
    CHECK("repo empty part", !hub_repo_id_valid("/x"));
    CHECK("repo space", !hub_repo_id_valid("a b"));
    CHECK("repo .git", !hub_repo_id_valid("org/x.git"));
    CHECK("repo empty", !hub_repo_id_valid(""));
    char longname[120];
    memset(longname, 'a', 97);
    longname[97] = '\0';
    CHECK("repo too long", !hub_repo_id_valid(longname));

    CHECK("rev main", hub_revision_valid("main"));
    CHECK("rev pr", hub_revision_valid("refs/pr/1"));
    CHECK("rev dotdot", !hub_revision_valid("../main"));
    CHECK("rev abs", !hub_revision_valid("/main"));
    CHECK("rev empty comp", !hub_revision_valid("a//b"));
    CHECK("rev space", !hub_revision_valid("a b"));
    CHECK("file nested", hub_filename_valid("onnx/model.onnx"));
    CHECK("file dot comp", !hub_filename_valid("./config.json"));
    CHECK("file dotdot", !hub_filename_valid("a/../../b"));
    CHECK("file newline", !hub_filename_valid("a\nb"));
}

static void test_paths(void) {
    env_clear();
    setenv("HOME", "/home/u", 1);
    char *s = hub_cache_root();
    CHECK_STR("cache root default", s, "/home/u/.cache/huggingface/hub");
    free(s);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    s = hub_cache_root();
    CHECK_STR("cache root xdg", s, "/xdg/huggingface/hub");
    free(s);
    setenv("HF_HOME", "~/hf", 1);
    s = hub_cache_root();
    CHECK_STR("cache root HF_HOME", s, "/home/u/hf/hub");
    free(s);
    setenv("HF_HUB_CACHE", "/c", 1);
    s = hub_cache_root();
    CHECK_STR("cache root HF_HUB_CACHE", s, "/c");
    free(s);
    env_clear();

    s = hub_repo_dir("/c", "openai-community/gpt2");
    CHECK_STR("repo dir org", s, "/c/models--openai-community--gpt2");
    free(s);
    s = hub_repo_dir("/c/", "gpt2");
    CHECK_STR("repo dir short", s, "/c/models--gpt2");
    free(s);

    s = hub_endpoint();
    CHECK_STR("endpoint default", s, "https://huggingface.co");
    free(s);
    setenv("HF_ENDPOINT", "http://127.0.0.1:8080//", 1);
    s = hub_endpoint();
    CHECK_STR("endpoint trimmed", s, "http://127.0.0.1:8080");
    free(s);
    env_clear();

    s = hub_file_url("https://huggingface.co", "gpt2", "main", "model.safetensors");
    CHECK_STR("url plain", s, "https://huggingface.co/gpt2/resolve/main/model.safetensors");
    free(s);
    s = hub_file_url("http://h", "org/m", "refs/pr/1", "sub dir/a.json");
    CHECK_STR("url quoted", s, "http://h/org/m/resolve/refs%2Fpr%2F1/sub%20dir/a.json");
    free(s);
}

static void add(HttpHeaders *h, const char *line) { http_headers_add_line(h, line, strlen(line)); }

static void test_meta(void) {
    char e[129];
    CHECK("etag quoted",
          hub_etag_normalize("\"abc123\"", e, sizeof e) == 0 && strcmp(e, "abc123") == 0);
    CHECK("etag weak", hub_etag_normalize("W/\"abc\"", e, sizeof e) == 0 && strcmp(e, "abc") == 0);
    CHECK("etag bare", hub_etag_normalize("abc", e, sizeof e) == 0 && strcmp(e, "abc") == 0);
    CHECK("etag path", hub_etag_normalize("\"../x\"", e, sizeof e) == -1);
    CHECK("etag slash", hub_etag_normalize("\"a/b\"", e, sizeof e) == -1);
    CHECK("etag empty", hub_etag_normalize("\"\"", e, sizeof e) == -1);
    CHECK("etag too long", hub_etag_normalize("abcdef", e, 4) == -1);

    const char *sha = "a3b1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    char line[200];
    HttpHeaders h = {0};
    HubFileMeta m;
    char err[256] = "";
    add(&h, "HTTP/1.1 302 Found\r\n");
    add(&h, "x-repo-commit: 607a30d783dfa663caf39e06633721c8d4cfcd7e\r\n");
    snprintf(line, sizeof line, "X-Linked-Etag: \"%s\"\r\n", sha);
    add(&h, line);
    add(&h, "X-Linked-Size: 548105171\r\n");
    add(&h, "ETag: \"0123456789abcdef0123456789abcdef01234567\"\r\n");
    add(&h, "Content-Length: 1089\r\n");
    CHECK_INT("meta lfs ok", hub_meta_from_headers(&h, &m, err, sizeof err), 0);
    CHECK_STR("meta lfs commit", m.commit, "607a30d783dfa663caf39e06633721c8d4cfcd7e");
    CHECK_STR("meta lfs etag is sha256", m.etag, sha);
    CHECK_INT("meta lfs size", m.size, 548105171LL);
    http_headers_free(&h);

    add(&h, "X-Repo-Commit: 607a30d783dfa663caf39e06633721c8d4cfcd7e\r\n");
    add(&h, "ETag: W/\"10c66461e4c109d7aa0f8e6b1f4d0a3bc45c2e77\"\r\n");
    add(&h, "Content-Length: 665\r\n");
    CHECK_INT("meta small ok", hub_meta_from_headers(&h, &m, err, sizeof err), 0);
    CHECK_STR("meta small etag", m.etag, "10c66461e4c109d7aa0f8e6b1f4d0a3bc45c2e77");
    CHECK_INT("meta small size", m.size, 665);
    http_headers_free(&h);

    add(&h, "X-Repo-Commit: 607a30d783dfa663caf39e06633721c8d4cfcd7e\r\n");
    add(&h, "ETag: \"abc\"\r\n");
    add(&h, "Content-Length: 12x\r\n");
    CHECK_INT("meta bad size ok", hub_meta_from_headers(&h, &m, err, sizeof err), 0);
    CHECK_INT("meta bad size unknown", m.size, -1);
    http_headers_free(&h);

    add(&h, "ETag: \"abc\"\r\n");
    CHECK_INT("meta no commit", hub_meta_from_headers(&h, &m, err, sizeof err), -1);
    CHECK("meta no commit message", strstr(err, "X-Repo-Commit") != NULL);
    http_headers_free(&h);

    add(&h, "X-Repo-Commit: ../../etc\r\n");
    add(&h, "ETag: \"abc\"\r\n");
    CHECK_INT("meta evil commit", hub_meta_from_headers(&h, &m, err, sizeof err), -1);
    http_headers_free(&h);

    add(&h, "X-Repo-Commit: 607a30d783dfa663caf39e06633721c8d4cfcd7e\r\n");
    CHECK_INT("meta no etag", hub_meta_from_headers(&h, &m, err, sizeof err), -1);
    CHECK("meta no etag message", strstr(err, "ETag") != NULL);
    http_headers_free(&h);
}

static void test_env(void) {
    env_clear();
    CHECK("offline unset", !hub_offline_env());
    const char *yes[] = {"1", "true", "ON", "Yes"}, *no[] = {"0", "", "false", "2"};
    for (int i = 0; i < 4; i++) {
        setenv("HF_HUB_OFFLINE", yes[i], 1);
        CHECK(yes[i], hub_offline_env());
        setenv("HF_HUB_OFFLINE", no[i], 1);
        CHECK(no[i][0] ? no[i] : "offline empty", !hub_offline_env());
    }
    env_clear();

    char *home = tmp_path("hfhome");
    mkdir_p(home);
    setenv("HF_HOME", home, 1);
    char *t = hub_token();
    CHECK("token none", t == NULL);
    char *tokfile = path_join(home, "token");
    write_text(tokfile, "hf_fromfile\n");
    t = hub_token();
    CHECK_STR("token from HF_HOME/token", t, "hf_fromfile");
    free(t);
    char *other = tmp_path("othertoken");
    write_text(other, "  hf_other  ");
    setenv("HF_TOKEN_PATH", other, 1);
    t = hub_token();
    CHECK_STR("token from HF_TOKEN_PATH", t, "hf_other");
    free(t);
    setenv("HF_TOKEN", " hf_env\n", 1);
    t = hub_token();
    CHECK_STR("token from HF_TOKEN trimmed", t, "hf_env");
    free(t);
    setenv("HF_TOKEN", "hf_a\r\nX-Evil: 1", 1);
    t = hub_token();
    CHECK("token with CR LF refused", t == NULL);
    free(t);
    env_clear();
    free(home);
    free(tokfile);
    free(other);
}

// A cache with models--org--m: blobs e1, e2; refs/main → C; snapshots/C/{a, sub/b}.
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
static char *make_cache(void) {
    char *root = tmp_path("cache");
    char *repo = hub_repo_dir(root, "org/m");
    char *p;
    p = path_join(repo, "blobs");
    mkdir_p(p);
    free(p);
    p = path_join(repo, "refs");
    mkdir_p(p);
    free(p);
    p = path_join(repo, "snapshots/" COMMIT "/sub");
    mkdir_p(p);
    free(p);
    p = path_join(repo, "blobs/e1");
    write_text(p, "one");
    free(p);
    p = path_join(repo, "blobs/e2");
    write_text(p, "two");
    free(p);
    p = path_join(repo, "refs/main");
    write_text(p, COMMIT "\n");
    free(p);
    p = path_join(repo, "snapshots/" COMMIT "/a");
    if (symlink("../../blobs/e1", p) != 0) perror(p);
    free(p);
    p = path_join(repo, "snapshots/" COMMIT "/sub/b");
    if (symlink("../../../blobs/e2", p) != 0) perror(p);
    free(p);
    free(repo);
    return root;
}

static void test_lookup(void) {
    char *root = make_cache();
    char *want = path_join(root, "models--org--m/snapshots/" COMMIT);
    const char *ab[] = {"a", "sub/b"}, *ac[] = {"a", "c", "d"};
    char *missing = NULL;
    char *s = hub_cache_lookup(root, "org/m", "main", ab, 2, &missing);
    CHECK_STR("lookup main", s, want);
    CHECK("lookup nothing missing", missing == NULL);
    free(s);
    s = hub_cache_lookup(root, "org/m", COMMIT, ab, 2, NULL);
    CHECK_STR("lookup by commit", s, want);
    free(s);
    s = hub_cache_lookup(root, "org/m", "main", ac, 3, &missing);
    CHECK("lookup missing file", s == NULL);
    CHECK_STR("lookup missing list", missing, "c, d");
    free(missing);
    s = hub_cache_lookup(root, "org/m", "v2", ab, 2, &missing);
    CHECK("lookup unknown revision", s == NULL && missing == NULL);
    s = hub_cache_lookup(root, "org/other", "main", ab, 2, &missing);
    CHECK("lookup unknown repo", s == NULL && missing == NULL);

    char *blob = path_join(root, "models--org--m/blobs/e2");
    remove(blob);
    s = hub_cache_lookup(root, "org/m", "main", ab, 2, &missing);
    CHECK("lookup dangling link", s == NULL);
    CHECK_STR("lookup dangling listed", missing, "sub/b");
    free(missing);
    write_text(blob, "two");
    free(blob);

    char *ref = path_join(root, "models--org--m/refs/evil");
    write_text(ref, "../../../etc");
    s = hub_cache_lookup(root, "org/m", "evil", ab, 2, NULL);
    CHECK("lookup evil ref refused", s == NULL);
    free(ref);

    // hub_resolve: offline, found through the cache; the short name finds the long folder.
    env_clear();
    setenv("HF_HUB_CACHE", root, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    HubOptions o = {.files = ab, .nfiles = 2};
    char err[512] = "", *dir = NULL;
    CHECK_INT("resolve cached", hub_resolve("org/m", &o, &dir, err, sizeof err), 0);
    CHECK_STR("resolve cached dir", dir, want);
    free(dir);

    char *long_repo = hub_repo_dir(root, "openai-community/gpt2");
    char *short_repo = hub_repo_dir(root, "org/m");
    CHECK("rename to alias folder", rename(short_repo, long_repo) == 0);
    char *want_alias = path_join(long_repo, "snapshots/" COMMIT);
    CHECK_INT("resolve alias", hub_resolve("gpt2", &o, &dir, err, sizeof err), 0);
    CHECK_STR("resolve alias dir", dir, want_alias);
    free(dir);
    CHECK_INT("resolve canonical", hub_resolve("openai-community/gpt2", &o, &dir, err, sizeof err),
              0);
    free(dir);

    CHECK_INT("resolve offline missing", hub_resolve("org/m", &o, &dir, err, sizeof err), -1);
    CHECK("offline message",
          strstr(err, "HF_HUB_OFFLINE") && strstr(err, "not in the cache") && strstr(err, "org/m"));
    CHECK("offline dir NULL", dir == NULL);
    o.files = ac;
    o.nfiles = 3;
    CHECK_INT("resolve offline partial", hub_resolve("gpt2", &o, &dir, err, sizeof err), -1);
    CHECK("offline partial names files", strstr(err, "c, d") != NULL);
    unsetenv("HF_HUB_OFFLINE");
    o.offline = 1;
    CHECK_INT("offline option", hub_resolve("org/m", &o, &dir, err, sizeof err), -1);
    CHECK("offline option message", strstr(err, "offline") != NULL);
    env_clear();

    free(want_alias);
    free(long_repo);
    free(short_repo);
    free(want);
    free(root);
}

static void test_resolve_args(void) {
    char err[512] = "", *dir = NULL;
    char *d = tmp_path("localmodel");
    mkdir_p(d);
    const char *files[] = {"config.json", "model.safetensors"};
    HubOptions o = {.files = files, .nfiles = 2};
    CHECK_INT("local dir lacking", hub_resolve(d, &o, &dir, err, sizeof err), -1);
    CHECK("local dir lacking names files", strstr(err, "config.json, model.safetensors") != NULL);
    char *p = path_join(d, "config.json");
    write_text(p, "{}");
    free(p);
    p = path_join(d, "model.safetensors");
    write_text(p, "x");
    free(p);
    CHECK_INT("local dir ok", hub_resolve(d, &o, &dir, err, sizeof err), 0);
    CHECK_STR("local dir as is", dir, d);
    free(dir);
    free(d);

    CHECK_INT("bad name", hub_resolve("a/b/c", NULL, &dir, err, sizeof err), -1);
    CHECK("bad name message", strstr(err, "not a Hugging Face repo id") != NULL);
    CHECK_INT("empty name", hub_resolve("", NULL, &dir, err, sizeof err), -1);
    const char *evil[] = {"../../x"};
    HubOptions e = {.files = evil, .nfiles = 1};
    CHECK_INT("bad file", hub_resolve("gpt2", &e, &dir, err, sizeof err), -1);
    CHECK("bad file message", strstr(err, "invalid file name") != NULL);
    HubOptions z = {.files = files, .nfiles = 0};
    CHECK_INT("no files", hub_resolve("gpt2", &z, &dir, err, sizeof err), -1);
    CHECK("no files message", strstr(err, "no files") != NULL);
    HubOptions r = {.revision = "../main"};
    CHECK_INT("bad revision", hub_resolve("gpt2", &r, &dir, err, sizeof err), -1);
    CHECK("bad revision message", strstr(err, "invalid revision") != NULL);
}

// --files a,b,c → a NULL-free array (malloc'd; the strings live in s).
static int split_files(char *s, const char ***out) {
    int n = 1;
    for (char *p = s; *p; p++) n += *p == ',';
    const char **v = xmalloc((size_t)n * sizeof *v);
    int k = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) v[k++] = tok;
    *out = v;
    return k;
}

static int mode_resolve(int argc, char **argv) {
    HubOptions o = {.progress = -1};
    const char **files = NULL;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--resolve") == 0 && i + 1 < argc) name = argv[++i];
        else if (strcmp(argv[i], "--revision") == 0 && i + 1 < argc) o.revision = argv[++i];
        else if (strcmp(argv[i], "--offline") == 0) o.offline = 1;
        else if (strcmp(argv[i], "--progress") == 0) o.progress = 1;
        else if (strcmp(argv[i], "--files") == 0 && i + 1 < argc) {
            o.nfiles = split_files(argv[++i], &files);
            o.files = files;
        } else {
            fprintf(
                stderr,
                "usage: test_hub --resolve NAME [--revision R] [--offline] [--files a,b] [--progress]\n");
            return 2;
        }
    }
    char err[1024], *dir = NULL;
    int rc = hub_resolve(name, &o, &dir, err, sizeof err);
    if (rc == 0) printf("%s\n", dir);
    else fprintf(stderr, "test_hub: %s\n", err);
    free(dir);
    free(files);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1) return mode_resolve(argc, argv);
    if (check_scratch(tmpdir, sizeof tmpdir, "test_hub") != 0) {
        perror("mkdtemp");
        return 2;
    }
    test_names();
    test_paths();
    test_meta();
    test_env();
    test_lookup();
    test_resolve_args();
    if (!check_keep_scratch()) rm_rf(tmpdir);
    CHECK_DONE();
}
