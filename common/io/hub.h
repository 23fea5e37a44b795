// hub: resolve a model name to a local directory, through the Hugging Face cache.
//
// A NAME is either a path to an existing directory (used as is, after checking that it
// holds the needed files) or a repo id: "org/name", or one of the GPT-2 short names
// "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl" (openai-community/…) and "distilgpt2"
// (distilbert/distilgpt2).  An existing directory wins over a repo id of the same name.
//
// The cache is huggingface_hub's, shared with transformers and TransformerLens:
//   root     $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
//   repo     <root>/models--ORG--NAME/            (a short name keeps its own folder,
//                                                    "models--gpt2", as transformers does)
//   blobs/<etag>                 the content; etag = git sha1, or sha256 for LFS files
//   refs/<revision>              the commit hash that revision last resolved to (no newline)
//   snapshots/<commit>/<file>    relative symlink ../../blobs/<etag>
// Lookup: refs/<revision> (or the revision itself when it names a snapshot) → snapshot
// holding every needed file → done, without any network access.  A short name is looked
// up under both its folders (models--gpt2 and models--openai-community--gpt2).
//
// Otherwise each file is fetched from $HF_ENDPOINT (default https://huggingface.co) at
// /{repo}/resolve/{revision}/{file}: a HEAD request gives the metadata (X-Repo-Commit,
// X-Linked-Etag else ETag, X-Linked-Size else Content-Length, X-Error-Code).  Redirects
// without metadata (a renamed repo: 307 gpt2 → openai-community/gpt2) are followed; a
// redirect carrying the metadata (an LFS file: 302 to the CDN) gives the download
// location.  The first file pins the commit; the others are asked for at that commit.
// A blob already present is only linked; a missing one is downloaded into
// blobs/<etag>.incomplete (resumed with a Range request when it exists; cut or stalled
// transfers are retried, resuming), its size checked, and its sha256 checked when the
// etag is a sha256; then renamed to blobs/<etag>.  Concurrent downloads of one blob wait
// on <root>/.locks/models--ORG--NAME/<etag>.lock (flock, as huggingface_hub's filelock).
//
// Environment: HF_TOKEN (else the token file $HF_TOKEN_PATH, else $HF_HOME/token, else
// ~/.cache/huggingface/token) is sent as "Authorization: Bearer …" to the endpoint's own
// origin only (never to a CDN) and never printed.  HF_HUB_OFFLINE=1 (or true/yes/on):
// cache only.  HF_HUB_ETAG_TIMEOUT (s, default 10): limit of each metadata request.
// HF_HUB_DOWNLOAD_TIMEOUT (s, default 30): a download that receives nothing for this long
// is abandoned (and retried, resuming).  Connections time out after 10 s.  CURL_CA_BUNDLE
// (else SSL_CERT_FILE): a CA file for an endpoint with a private CA (see http.h).
// Called outside this module only by the tests (tests/fuzz/fuzz_http_headers.c,
// tests/unit/test_hub.c, tests/unit/test_regressions.c): hub_alias, hub_alias_other,
// hub_cache_lookup, hub_cache_root, hub_endpoint, hub_etag_normalize, hub_file_url,
// hub_filename_valid, hub_meta_from_headers, hub_offline_env, hub_repo_dir, hub_repo_id_valid,
// hub_revision_valid, hub_token.
#ifndef AUTOINTERP_HUB_H
#define AUTOINTERP_HUB_H
#include <stddef.h>

#include "io/http.h"

#define HUB_DEFAULT_NFILES 4   // config.json, model.safetensors, vocab.json, merges.txt

typedef struct {
    const char *revision;   // branch, tag or commit; NULL → "main"
    int offline;            // 1: cache only (also on when HF_HUB_OFFLINE is set truthy)
    int progress;           // 0: auto (a bar when stderr is a terminal), 1: always, -1: never
    const char *const
        *files;   // (nfiles ≥ 1) files the directory must hold; NULL → the default four
    int nfiles;
} HubOptions;   // a zeroed HubOptions (or opt = NULL) means all defaults

// Resolves NAME to a directory holding every needed file; *dir_out is malloc'd (the
// caller frees it): NAME itself for a directory, else <repo>/snapshots/<commit>.
// Returns 0, or -1 with a message in err naming the repo, the file and what to do:
// repository / file / revision not found, access denied (gated or private: HF_TOKEN),
// offline and not cached, connection failure, checksum or size mismatch (the bad blob
// is removed), or a local cache error.
int hub_resolve(const char *name, const HubOptions *opt, char **dir_out, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// pieces of hub_resolve, exposed for tests and tools

// The canonical repo id of a short name ("gpt2" → "openai-community/gpt2"), or NULL.
const char *hub_alias(const char *name);
// The other cache name of an aliased repo ("gpt2" ↔ "openai-community/gpt2"), or NULL.
const char *hub_alias_other(const char *repo);
// Is repo a valid id: "name" or "org/name", each part of [A-Za-z0-9._-], not starting or
// ending with '.' or '-', no "--" or "..", at most 96 characters in all.
int hub_repo_id_valid(const char *repo);
// Is rev a usable revision (nonempty, printable, no "..", no empty '/' component)?
int hub_revision_valid(const char *rev);
// Is file a usable repo-relative file name (no leading '/', no "." or ".." component)?
int hub_filename_valid(const char *file);
// Cache root from the environment (see above); malloc'd.
char *hub_cache_root(void);
// <root>/models--ORG--NAME for repo "ORG/NAME" ('/' becomes "--"); malloc'd.
char *hub_repo_dir(const char *root, const char *repo);
// {endpoint}/{repo}/resolve/{revision, '/' escaped too}/{file, '/' kept}; malloc'd.
char *hub_file_url(const char *endpoint, const char *repo, const char *revision, const char *file);
// $HF_ENDPOINT without trailing slashes, or https://huggingface.co; malloc'd.
char *hub_endpoint(void);
// The token (see above) or NULL; malloc'd.  A token holding control characters is refused
// (NULL) so that it can never split a header.
char *hub_token(void);
// Is HF_HUB_OFFLINE set to 1, true, yes or on (any case)?
int hub_offline_env(void);

// ETag header value → cache name: drops a leading "W/" and surrounding quotes; the rest
// must be 1..128 characters of [A-Za-z0-9._-] not starting with '.'.  0 or -1.
int hub_etag_normalize(const char *raw, char *out, size_t outlen);

typedef struct {
    char commit[129];   // X-Repo-Commit
    char etag[129];     // normalised X-Linked-Etag, else ETag
    long long size;     // X-Linked-Size, else Content-Length; -1 when unknown
} HubFileMeta;

// Reads the metadata headers of one response.  -1 (message in err) when X-Repo-Commit
// or the etag is missing or unusable as a file name.
int hub_meta_from_headers(const HttpHeaders *h, HubFileMeta *m, char *err, size_t errlen);

// Looks repo up in the cache at root: the snapshot directory (malloc'd) that revision
// resolves to when it holds every file, else NULL.  When the snapshot exists but lacks
// files and missing is non-NULL, *missing gets their comma-separated names (malloc'd).
char *hub_cache_lookup(const char *root, const char *repo, const char *revision,
                       const char *const *files, int nfiles, char **missing);

#endif
