// ndjson: newline-delimited JSON records — a line reader for lines of any length, a
// parsed record with typed field access, and output that passes every field the tool
// does not own through byte-for-byte.
#ifndef AUTOINTERP_NDJSON_H
#define AUTOINTERP_NDJSON_H
#include <stdio.h>
#include <sys/types.h>

#include "base/json.h"

// ----------------------------------------------------------------------------- lines
typedef struct {
    FILE *fp;
    char *buf;
    size_t cap;
    long lineno;      // 1-based number of the line last returned
    size_t max_len;   // longest accepted line (default 1 GiB); longer ones are consumed
} LineReader;

void lines_init(LineReader *r, FILE *fp);
void lines_free(LineReader *r);
// Next line without its '\n' (and a trailing '\r'), NUL-terminated in r->buf.
// Returns the length, -1 at end of input, -2 on a read error, -3 for a line over max_len
// (which is consumed; the reader stays usable).
ssize_t lines_next(LineReader *r, char **line);

// ----------------------------------------------------------------------------- records
typedef struct {
    JsonDoc doc;   // doc.text = the raw line
    long lineno;
} Record;

// Parse a line that must hold one JSON object.  -1 with a message in err otherwise.
int record_parse(Record *r, const char *line, size_t len, long lineno, char *err, size_t errlen);
void record_free(Record *r);

int record_has(const Record *r, const char *key);   // present and not null
// Typed field readers.  Return 1 when read, 0 when absent (or null), -1 when present with
// the wrong type (err then says which field and what was expected).
int record_string(const Record *r, const char *key, char **out, size_t *len, char *err,
                  size_t errlen);
int record_int(const Record *r, const char *key, long long *out, char *err, size_t errlen);
int record_double(const Record *r, const char *key, double *out, char *err, size_t errlen);
int record_bool(const Record *r, const char *key, int *out, char *err, size_t errlen);
// An array of integers (e.g. "layers", "tokens"); *out malloc'd (NULL when n == 0).
int record_int_array(const Record *r, const char *key, int **out, int *n, char *err, size_t errlen);

// ----------------------------------------------------------------------------- output
// Open an output object: "{" followed by every field of `in` whose key is not in `owned`
// (a NULL-terminated list), copied as raw bytes.  `in` may be NULL (a fresh object).
// The caller then adds its own fields with jb_key + a value writer, and calls
// record_end.
void record_begin(JsonBuf *out, const Record *in, const char *const *owned);
// Close the object with "}\n" and append it to `lines` (records for one input line are
// collected there so that they go out together).
void record_end(JsonBuf *out, JsonBuf *lines);
// An error record for a line that is not a JSON object:
// {"error": msg, "line": N, "input": raw text}.
void record_bad_line(JsonBuf *lines, long lineno, const char *msg, const char *raw, size_t rawlen);

// Write `lines` to fp and reset it; flush when fp is not a regular file, so that a loop
// downstream sees each record at once.  -1 on a write error.
int lines_write(JsonBuf *lines, FILE *fp);

#endif
