// json: parsing (jsmn, strict) and writing of JSON text.  The caller owns the text;
// a JsonDoc holds only token offsets into it.  Every reader validates: a wrong type,
// a bad escape or an out-of-range number is reported, never guessed.
#ifndef AUTOINTERP_JSON_H
#define AUTOINTERP_JSON_H
#include <stddef.h>

// Every file sees the same jsmn configuration; json.c alone compiles its implementation.
#ifndef JSMN_STRICT
#define JSMN_STRICT
#endif
#ifndef JSMN_PARENT_LINKS
#define JSMN_PARENT_LINKS
#endif
#ifdef JSON_JSMN_IMPLEMENTATION
#define JSMN_STATIC   // jsmn_init and jsmn_parse are json.c's own
#else
#define JSMN_HEADER
#endif
#include <jsmn.h>

typedef struct {
    const char *text;   // not owned
    size_t len;
    jsmntok_t *tok;   // (ntok) owned; tok[0] is the root value
    int ntok;
} JsonDoc;

// Parse one JSON value that spans all of text[0..len) (surrounding whitespace allowed).
// 0 on success; -1 with a message in err.  Free with json_free even after failure.
// Nesting deeper than JSON_MAX_DEPTH is refused (as serde_json does): jsmn's closing
// bracket walks up the parent chain, so deep input would cost depth x length.
#define JSON_MAX_DEPTH 128
int json_parse(JsonDoc *d, const char *text, size_t len, char *err, size_t errlen);
void json_free(JsonDoc *d);

int json_type(const JsonDoc *d, int i);   // JSMN_OBJECT/ARRAY/STRING/PRIMITIVE
int json_skip(const JsonDoc *d, int i);   // index of the token after i's subtree
int json_size(const JsonDoc *d, int i);   // members of an object / elements of an array
// Value token of `key` in object i, or -1.  Keys are compared after unescaping.
int json_obj_get(const JsonDoc *d, int obj, const char *key);
// Element k of array i (walks the array), or -1.
int json_arr_at(const JsonDoc *d, int arr, int k);
// Raw source text of token i (strings include their quotes).
const char *json_raw(const JsonDoc *d, int i, size_t *len);
// Does string token i, unescaped, equal the NUL-terminated s?
int json_str_eq(const JsonDoc *d, int i, const char *s);

// Typed readers: 0 on success, -1 when the token has another type or a bad value.
// json_str returns a malloc'd, NUL-terminated, unescaped copy (may contain NUL bytes;
// *len, if given, is the true length).  \uXXXX surrogate pairs become UTF-8; a lone
// surrogate is an error.
int json_str(const JsonDoc *d, int i, char **out, size_t *len);
int json_int(const JsonDoc *d, int i, long long *out);   // integers only, no fraction
int json_double(const JsonDoc *d, int i, double *out);
int json_bool(const JsonDoc *d, int i, int *out);
int json_is_null(const JsonDoc *d, int i);

// ---------------------------------------------------------------------------
// Writer: a growable buffer of JSON text, and the project's one string builder (jb_raw,
// jb_puts, jb_printf, jb_take write plain text).  Separators are automatic: jb_key and
// jb_sep emit a comma unless the previous byte opened the object/array.  A zeroed JsonBuf
// is empty; buf, once allocated, is always NUL-terminated.
typedef struct {
    char *buf;
    size_t len, cap;
} JsonBuf;

void jb_free(JsonBuf *b);
void jb_reset(JsonBuf *b);
// The text as a malloc'd NUL-terminated string the caller owns (never NULL: "" when
// empty); b is left empty.
char *jb_take(JsonBuf *b);
void jb_raw(JsonBuf *b, const char *s, size_t n);
void jb_puts(JsonBuf *b, const char *s);
// printf-formatted text appended as it is (no escaping).
void jb_printf(JsonBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jb_key(JsonBuf *b, const char *key);   // [,]"key":
void jb_sep(JsonBuf *b);                    // [,] before an array element
// A JSON string of the bytes s[0..n): escapes control characters, quotes and
// backslashes; valid UTF-8 passes raw; each invalid byte becomes \ufffd.
void jb_string(JsonBuf *b, const char *s, size_t n);
void jb_cstr(JsonBuf *b, const char *s);   // jb_string of a C string
void jb_int(JsonBuf *b, long long v);
// Shortest decimal that reads back to the same double / float; NaN and ±Inf as null.
void jb_double(JsonBuf *b, double v);
void jb_float(JsonBuf *b, float v);
void jb_int_array(JsonBuf *b, const int *v, int n);

#endif
