// llm: OpenAI-compatible chat completions; see llm.h.
#include "io/llm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/util.h"
#include "io/http.h"

#define LLM_MAX_BODY       ((size_t)32 << 20)   // a chat completion is far smaller
#define LLM_MAX_TOOL_CALLS 256
#define LLM_REDACTED       "[redacted]"
#define SNIPPET            200   // bytes of a bad body or arguments quoted in messages

// ----------------------------------------------------------------------------- strings

// A malloc'd printf.

// Keys shorter than this are placeholders (local servers take any key, and "x" or
// "dummy" are common); replacing them everywhere would corrupt replies.  The journal's
// key guard uses the same bound.
#define LLM_REDACT_MIN 8

// A copy of text[0..len) with every occurrence of key replaced by "[redacted]"
// (NUL-terminated, length in *outlen when given).  key NULL or shorter than
// LLM_REDACT_MIN: a plain copy.
static char *redact(const char *key, const char *text, size_t len, size_t *outlen) {
    size_t klen = key ? strlen(key) : 0;
    if (klen < LLM_REDACT_MIN) klen = 0;
    JsonBuf b = {0};
    size_t i = 0;
    while (klen > 0 && i + klen <= len) {
        const char *hit = memmem(text + i, len - i, key, klen);
        if (!hit) break;
        jb_raw(&b, text + i, (size_t)(hit - (text + i)));
        jb_puts(&b, LLM_REDACTED);
        i = (size_t)(hit - text) + klen;
    }
    jb_raw(&b, text + i, len - i);   // always allocates and NUL-terminates
    if (outlen) *outlen = b.len;
    return b.buf;
}

// Up to max bytes of s[0..n) for a one-line message: control characters become spaces,
// "..." marks a cut.  Malloc'd.
static char *snippet(const char *s, size_t n, size_t max) {
    size_t k = n < max ? n : max;
    char *out = xmalloc(k + 4);
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    strcpy(out + k, n > max ? "..." : "");
    return out;
}

// Append JSON text (known valid) with the whitespace outside strings removed, so that a
// pretty-printed body fits on one NDJSON line.
static void append_compact(JsonBuf *b, const char *s, size_t n) {
    int in_str = 0;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            jb_raw(b, s + start, i - start);
            start = i + 1;
        }
    }
    if (start < n) jb_raw(b, s + start, n - start);
}

// ----------------------------------------------------------------------------- client

// Value of environment variable name, NULL when unset or empty.
static const char *env_get(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

// A number from the environment in [lo, hi] into *out (unchanged when unset).
static int env_double(const char *name, double lo, double hi, double *out, char *err,
                      size_t errlen) {
    const char *v = env_get(name);
    if (!v) return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi)
        return fail(err, errlen, "%s must be a number in %g..%g, not '%s'", name, lo, hi, v);
    *out = d;
    return 0;
}

// Printable ASCII without spaces, quotes or backslashes (keys and model names).
static int plain_token(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') return 0;
    return 1;
}

static int base_url_set(LlmClient *c, const char *base, char *err, size_t errlen) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') n--;
    int http = n > 7 && strncasecmp(base, "http://", 7) == 0,
        https = n > 8 && strncasecmp(base, "https://", 8) == 0;
    if (!http && !https)
        return fail(err, errlen, "OPENAI_BASE_URL must be an http:// or https:// URL");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)base[i] <= 0x20 || base[i] == 0x7f)
            return fail(err, errlen, "OPENAI_BASE_URL holds a space or control character");
    c->base_url = xstrndup(base, n);
    return 0;
}

int llm_client_init(LlmClient *c, const char *model, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    double timeout = 120, retries = 5, base = 1;
    if (env_double("AUTOINTERP_LLM_TIMEOUT", 0.001, 86400, &timeout, err, errlen) != 0 ||
        env_double("AUTOINTERP_LLM_RETRIES", 0, LLM_MAX_RETRIES, &retries, err, errlen) != 0 ||
        env_double("AUTOINTERP_LLM_BACKOFF_BASE", 0, 3600, &base, err, errlen) != 0)
        return -1;
    if (retries != floor(retries))
        return fail(err, errlen, "AUTOINTERP_LLM_RETRIES must be a whole number");
    if (!model || !model[0]) model = env_get("AUTOINTERP_LLM_MODEL");
    if (!model) model = LLM_DEFAULT_MODEL;
    if (!plain_token(model))
        return fail(err, errlen, "model name '%s' holds spaces, quotes or control characters",
                    model);

    const char *key = getenv("OPENAI_API_KEY");
    size_t ks = key ? strspn(key, " \t\r\n") : 0, kn = key ? strlen(key) : 0;
    while (kn > ks && strchr(" \t\r\n", key[kn - 1])) kn--;
    char *k = kn > ks ? xstrndup(key + ks, kn - ks) : NULL;
    if (k && !plain_token(k)) {   // the message must not show the key
        explicit_bzero(k, strlen(k));
        free(k);
        return fail(err, errlen,
                    "OPENAI_API_KEY holds spaces, quotes, backslashes or control characters");
    }
    const char *b = env_get("OPENAI_BASE_URL");
    if (base_url_set(c, b ? b : LLM_DEFAULT_BASE_URL, err, errlen) != 0) {
        if (k) explicit_bzero(k, strlen(k));
        free(k);
        return -1;
    }
    c->api_key = k;
    c->model = xstrdup(model);
    c->timeout_s = (long)ceil(timeout);
    c->connect_timeout_s = c->timeout_s < 10 ? c->timeout_s : 10;
    c->max_retries = (int)retries;
    c->backoff_base_s = base;
    c->backoff_max_s = 60;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->jitter_state =
        (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    return 0;
}

void llm_client_free(LlmClient *c) {
    if (c->api_key) explicit_bzero(c->api_key, strlen(c->api_key));
    free(c->api_key);
    free(c->base_url);
    free(c->model);
    memset(c, 0, sizeof *c);
}

// ----------------------------------------------------------------------------- request

// Append `"key": <raw JSON>` after checking that raw parses and has type want
// (-1: any type).
static int append_raw_field(JsonBuf *out, const char *key, const char *raw, int want,
                            const char *what, char *err, size_t errlen) {
    JsonDoc d;
    char jerr[160];
    int rc = json_parse(&d, raw, strlen(raw), jerr, sizeof jerr);
    int type = rc == 0 ? json_type(&d, 0) : -1;
    int empty = rc == 0 && type == JSMN_ARRAY && json_size(&d, 0) == 0;
    json_free(&d);
    if (rc != 0) return fail(err, errlen, "request: %s is not valid JSON: %s", key, jerr);
    if (want >= 0 && type != want) return fail(err, errlen, "request: %s must be %s", key, what);
    if (empty && strcmp(key, "messages") == 0)
        return fail(err, errlen, "request: messages is empty");
    jb_key(out, key);
    append_compact(out, raw, strlen(raw));
    return 0;
}

int llm_request_json(const LlmClient *c, const LlmRequest *req, JsonBuf *out, char *err,
                     size_t errlen) {
    if (!req->messages) return fail(err, errlen, "request: no messages");
    const char *model = req->model && req->model[0] ? req->model : c->model;
    if (!model || !model[0]) return fail(err, errlen, "request: no model");
    if (req->has_temperature && !isfinite(req->temperature))
        return fail(err, errlen, "request: temperature is not a finite number");
    JsonBuf b = {0};
    jb_puts(&b, "{");
    jb_key(&b, "model");
    jb_cstr(&b, model);
    int rc = append_raw_field(&b, "messages", req->messages, JSMN_ARRAY, "an array", err, errlen);
    if (rc == 0 && req->tools)
        rc = append_raw_field(&b, "tools", req->tools, JSMN_ARRAY, "an array", err, errlen);
    if (rc == 0 && req->tool_choice)
        rc = append_raw_field(&b, "tool_choice", req->tool_choice, -1, "", err, errlen);
    if (rc == 0 && req->response_format)
        rc = append_raw_field(&b, "response_format", req->response_format, JSMN_OBJECT, "an object",
                              err, errlen);
    if (rc != 0) {
        jb_free(&b);
        return -1;
    }
    if (req->has_temperature) {
        jb_key(&b, "temperature");
        jb_double(&b, req->temperature);
    }
    if (req->max_tokens > 0) {
        jb_key(&b, req->use_max_completion_tokens ? "max_completion_tokens" : "max_tokens");
        jb_int(&b, req->max_tokens);
    }
    if (req->has_seed) {
        jb_key(&b, "seed");
        jb_int(&b, req->seed);
    }
    jb_puts(&b, "}");
    jb_raw(out, b.buf, b.len);
    jb_free(&b);
    return 0;
}

// ----------------------------------------------------------------------------- reply

// Drop what a failed parse left of choices[0] (content, tool calls, finish_reason,
// model, usage), so that a refused reply exposes no half-read fields.
static void reply_choice_clear(LlmReply *r) {
    free(r->content);
    for (int i = 0; i < r->n_tool_calls; i++) {
        free(r->tool_calls[i].id);
        free(r->tool_calls[i].name);
        free(r->tool_calls[i].arguments);
    }
    free(r->tool_calls);
    free(r->finish_reason);
    free(r->model);
    r->content = r->finish_reason = r->model = NULL;
    r->tool_calls = NULL;
    r->n_tool_calls = 0;
    r->prompt_tokens = r->completion_tokens = r->total_tokens = -1;
}

void llm_reply_free(LlmReply *r) {
    reply_choice_clear(r);
    free(r->request_body);
    free(r->body);
    free(r->error_message);
    free(r->error_type);
    free(r->error_code);
    memset(r, 0, sizeof *r);
}

// String token i into *out (malloc'd); -1 when not a string or holding a NUL byte.
static int str_nonul(const JsonDoc *d, int i, char **out) {
    size_t n;
    *out = NULL;
    if (json_str(d, i, out, &n) != 0) return -1;
    if (strlen(*out) != n) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

// Optional string member: 0 absent or null (*out NULL), 1 read, -1 another type.
static int opt_string(const JsonDoc *d, int obj, const char *key, char **out) {
    *out = NULL;
    int v = json_obj_get(d, obj, key);
    if (v < 0 || json_is_null(d, v)) return 0;
    return str_nonul(d, v, out) == 0 ? 1 : -1;
}

// message.content: a string, null, or an array of {"type":"text","text":...} parts
// (concatenated).  0, or -1 with the reason in *why.
static int parse_content(const JsonDoc *d, int msg, char **out, const char **why) {
    *out = NULL;
    int v = json_obj_get(d, msg, "content");
    if (v < 0 || json_is_null(d, v)) return 0;
    if (json_type(d, v) == JSMN_STRING) {
        if (str_nonul(d, v, out) == 0) return 0;
        *why = "message content holds a bad escape or a NUL character";
        return -1;
    }
    if (json_type(d, v) != JSMN_ARRAY) {
        *why = "message content is neither a string nor null";
        return -1;
    }
    JsonBuf b = {0};
    int n = json_size(d, v);
    for (int k = 0, p = v + 1; k < n; k++, p = json_skip(d, p)) {
        char *text = NULL;
        if (json_type(d, p) != JSMN_OBJECT || opt_string(d, p, "text", &text) != 1) {
            free(text);
            jb_free(&b);
            *why = "message content part is not an object with a \"text\" string";
            return -1;
        }
        jb_puts(&b, text);
        free(text);
    }
    jb_raw(&b, "", 0);   // allocated and NUL-terminated even when empty
    *out = b.buf;
    return 0;
}

// One element of message.tool_calls into *tc.  -1 with the reason in why (a static
// string naming the field).
static int parse_tool_call(const JsonDoc *d, int v, LlmToolCall *tc, const char **why) {
    memset(tc, 0, sizeof *tc);
    if (json_type(d, v) != JSMN_OBJECT) return *why = "is not an object", -1;
    char *type = NULL;
    int rc = opt_string(d, v, "type", &type);
    int bad_type = rc < 0 || (rc == 1 && strcmp(type, "function") != 0);
    free(type);
    if (bad_type) return *why = "has a \"type\" other than \"function\"", -1;
    if (opt_string(d, v, "id", &tc->id) < 0) return *why = "has an \"id\" that is not a string", -1;
    if (!tc->id) tc->id = xstrdup("");
    int f = json_obj_get(d, v, "function");
    if (f < 0 || json_type(d, f) != JSMN_OBJECT) return *why = "has no \"function\" object", -1;
    if (opt_string(d, f, "name", &tc->name) != 1 || !tc->name[0])
        return *why = "has no function name (a non-empty string)", -1;
    int a = json_obj_get(d, f, "arguments");
    if (a < 0 || json_is_null(d, a)) {
        tc->arguments = xstrdup("");
    } else if (json_type(d, a) == JSMN_STRING) {
        if (str_nonul(d, a, &tc->arguments) != 0)
            return *why = "has arguments with a bad escape or a NUL", -1;
    } else if (json_type(d, a) == JSMN_OBJECT) {   // some local servers send the object itself
        size_t n;
        const char *raw = json_raw(d, a, &n);
        tc->arguments = xstrndup(raw, n);
    } else {
        return *why = "has \"arguments\" that are not a string", -1;
    }
    return 0;
}

static int parse_tool_calls(LlmReply *r, const JsonDoc *d, int msg, char *err, size_t errlen) {
    int v = json_obj_get(d, msg, "tool_calls");
    if (v < 0 || json_is_null(d, v)) return 0;
    if (json_type(d, v) != JSMN_ARRAY)
        return fail(err, errlen, "malformed reply: tool_calls is not an array");
    int n = json_size(d, v);
    if (n > LLM_MAX_TOOL_CALLS)
        return fail(err, errlen, "malformed reply: more than %d tool calls", LLM_MAX_TOOL_CALLS);
    r->tool_calls = xcalloc((size_t)n + 1, sizeof *r->tool_calls);
    for (int k = 0, p = v + 1; k < n; k++, p = json_skip(d, p)) {
        const char *why = "";
        LlmToolCall *tc = &r->tool_calls[r->n_tool_calls++];
        if (parse_tool_call(d, p, tc, &why) != 0)
            return fail(err, errlen, "malformed reply: tool call %d %s", k, why);
    }
    return 0;
}

// usage.{prompt,completion,total}_tokens; wrong types count as not reported.
static void parse_usage(LlmReply *r, const JsonDoc *d, int root) {
    int u = json_obj_get(d, root, "usage");
    const char *keys[3] = {"prompt_tokens", "completion_tokens", "total_tokens"};
    long long *dst[3] = {&r->prompt_tokens, &r->completion_tokens, &r->total_tokens};
    for (int k = 0; k < 3; k++) {
        long long v;
        int t = u >= 0 && json_type(d, u) == JSMN_OBJECT ? json_obj_get(d, u, keys[k]) : -1;
        *dst[k] = t >= 0 && json_int(d, t, &v) == 0 && v >= 0 ? v : -1;
    }
}

// The server's {"error": {"message","type","code"}} (or {"error": "text"}, or FastAPI's
// {"detail": "text"}) into r->error_*.  1 when found.
static int parse_error_body(LlmReply *r, const JsonDoc *d) {
    if (json_type(d, 0) != JSMN_OBJECT) return 0;
    int e = json_obj_get(d, 0, "error");
    if (e < 0 || json_is_null(d, e)) e = json_obj_get(d, 0, "detail");
    if (e < 0 || json_is_null(d, e)) return 0;
    if (json_type(d, e) == JSMN_STRING) return str_nonul(d, e, &r->error_message) == 0;
    if (json_type(d, e) != JSMN_OBJECT) return 0;
    opt_string(d, e, "message", &r->error_message);
    opt_string(d, e, "type", &r->error_type);
    int code = json_obj_get(d, e, "code");
    if (code >= 0 && json_type(d, code) == JSMN_STRING) {
        str_nonul(d, code, &r->error_code);
    } else if (code >= 0 && json_type(d, code) == JSMN_PRIMITIVE && !json_is_null(d, code)) {
        size_t n;
        const char *raw = json_raw(d, code, &n);
        r->error_code = xstrndup(raw, n);
    }
    return r->error_message || r->error_type || r->error_code;
}

int llm_reply_parse(LlmReply *r, const char *body, size_t len, char *err, size_t errlen) {
    JsonDoc d;
    char jerr[160];
    if (!body || len == 0) return fail(err, errlen, "malformed reply: empty body");
    int rc = -1;
    const char *why = NULL;
    if (json_parse(&d, body, len, jerr, sizeof jerr) != 0) {
        char *s = snippet(body, len, SNIPPET);
        fail(err, errlen, "malformed reply: not JSON (%s): %s", jerr, s);
        free(s);
        goto done;
    }
    int choices = json_type(&d, 0) == JSMN_OBJECT ? json_obj_get(&d, 0, "choices") : -1;
    int c0 =
        choices >= 0 && json_type(&d, choices) == JSMN_ARRAY ? json_arr_at(&d, choices, 0) : -1;
    int msg = c0 >= 0 && json_type(&d, c0) == JSMN_OBJECT ? json_obj_get(&d, c0, "message") : -1;
    if (json_type(&d, 0) != JSMN_OBJECT) {
        why = "not a JSON object";
    } else if (choices < 0 && parse_error_body(r, &d)) {
        fail(err, errlen, "malformed reply: an error instead of choices: %s",
             r->error_message ? r->error_message
             : r->error_code  ? r->error_code
                              : r->error_type);
        goto done;
    } else if (choices < 0 || json_type(&d, choices) != JSMN_ARRAY) {
        why = "no \"choices\" array";
    } else if (c0 < 0) {
        why = "\"choices\" is empty";
    } else if (json_type(&d, c0) != JSMN_OBJECT) {
        why = "choices[0] is not an object";
    } else if (msg < 0 || json_type(&d, msg) != JSMN_OBJECT) {
        why = "choices[0] has no \"message\" object";
    } else if (opt_string(&d, c0, "finish_reason", &r->finish_reason) < 0) {
        why = "finish_reason is not a string";
    } else if (opt_string(&d, 0, "model", &r->model) < 0) {
        why = "model is not a string";
    } else if (parse_content(&d, msg, &r->content, &why) == 0) {
        if (parse_tool_calls(r, &d, msg, err, errlen) != 0) goto done;
        parse_usage(r, &d, 0);
        rc = 0;
    }
    if (rc != 0 && why) fail(err, errlen, "malformed reply: %s", why);
done:
    json_free(&d);
    if (rc != 0) reply_choice_clear(r);
    return rc;
}

int llm_args_parse(const LlmToolCall *tc, JsonDoc *doc, char *err, size_t errlen) {
    const char *a = tc->arguments ? tc->arguments : "";
    size_t n = strlen(a);
    const char *name = tc->name ? tc->name : "the tool";
    if (a[strspn(a, " \t\r\n")] == '\0') {
        a = "{}";
        n = 2;
    }
    char jerr[160];
    if (json_parse(doc, a, n, jerr, sizeof jerr) != 0) {
        char *s = snippet(a, n, SNIPPET);
        fail(err, errlen, "arguments of %s are not valid JSON (%s): %s", name, jerr, s);
        free(s);
        return -1;
    }
    if (json_type(doc, 0) != JSMN_OBJECT) {
        int t = json_type(doc, 0);
        return fail(err, errlen, "arguments of %s must be a JSON object, not %s", name,
                    t == JSMN_ARRAY    ? "an array"
                    : t == JSMN_STRING ? "a string"
                                       : "a number, boolean or null");
    }
    return 0;
}

// ----------------------------------------------------------------------------- exchange

static void sleep_seconds(double s) {
    if (!(s > 0)) return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// The message for a non-2xx reply: "HTTP 401 (code): server message".  Malloc'd.
static char *status_message(LlmReply *r) {
    JsonDoc d = {0};
    char jerr[8];
    int parsed = r->body && json_parse(&d, r->body, r->body_len, jerr, sizeof jerr) == 0;
    if (parsed) parse_error_body(r, &d);
    json_free(&d);
    const char *tag = r->error_code ? r->error_code : r->error_type;
    char *text = r->error_message ? snippet(r->error_message, strlen(r->error_message), 1000)
                 : r->body_len    ? snippet(r->body, r->body_len, SNIPPET)
                                  : xstrdup("(empty body)");
    char *m = tag ? xasprintf("HTTP %ld (%s): %s", r->status, tag, text)
                  : xasprintf("HTTP %ld: %s", r->status, text);
    free(text);
    return m;
}

// One attempt.  0: a 2xx with a parsed reply.  1: failed, worth retrying; -1: failed for
// good.  *msg (malloc'd) says why; *resp keeps the response for the retry delay.
static int attempt_once(LlmClient *c, const char *url, const char *const *headers, LlmReply *reply,
                        HttpResponse *resp, char **msg) {
    HttpOptions o = {.headers = headers,
                     .connect_timeout_s = c->connect_timeout_s,
                     .stall_timeout_s = -1,
                     .total_timeout_s = c->timeout_s,
                     .max_body = LLM_MAX_BODY};
    free(reply->error_message);
    free(reply->error_type);
    free(reply->error_code);
    reply->error_message = reply->error_type = reply->error_code = NULL;
    char herr[1024];
    int rc = http_post_json(url, reply->request_body, strlen(reply->request_body), &o, resp, herr,
                            sizeof herr);
    reply->status = rc == 0 ? resp->status : 0;
    free(reply->body);
    reply->body = NULL;
    reply->body_len = 0;
    if (resp->body) reply->body = redact(c->api_key, resp->body, resp->body_len, &reply->body_len);
    if (rc != 0) {
        *msg = redact(c->api_key, herr, strlen(herr), NULL);
        return http_transport_retryable(resp) ? 1 : -1;
    }
    if (resp->status < 200 || resp->status > 299) {
        char *u = http_url_for_message(url), *sm = status_message(reply);
        *msg = xasprintf("POST %s: %s", u, sm);
        free(u);
        free(sm);
        return http_status_retryable(resp->status) ? 1 : -1;
    }
    char perr[512];
    if (llm_reply_parse(reply, reply->body, reply->body_len, perr, sizeof perr) != 0) {
        char *u = http_url_for_message(url);
        *msg = xasprintf("POST %s: %s", u, perr);
        free(u);
        return -1;
    }
    return 0;
}

int llm_chat(LlmClient *c, const LlmRequest *req, LlmReply *reply, char *err, size_t errlen) {
    memset(reply, 0, sizeof *reply);
    reply->prompt_tokens = reply->completion_tokens = reply->total_tokens = -1;
    JsonBuf body = {0};
    if (llm_request_json(c, req, &body, err, errlen) != 0) return -1;
    reply->request_body = redact(c->api_key, body.buf, body.len, NULL);
    jb_free(&body);

    char *url = xasprintf("%s/chat/completions", c->base_url);
    char *auth = c->api_key ? xasprintf("Authorization: Bearer %s", c->api_key) : NULL;
    const char *headers[2] = {auth, NULL};
    Rng rng = {c->jitter_state};
    double t0 = now_seconds();
    int rc;
    char *msg = NULL;
    for (int attempt = 0;; attempt++) {
        HttpResponse resp;
        free(msg);
        msg = NULL;
        reply->attempts++;
        rc = attempt_once(c, url, headers, reply, &resp, &msg);
        if (rc <= 0 || attempt >= c->max_retries) {
            http_response_free(&resp);
            break;
        }
        double wait = http_retry_delay(reply->status ? &resp : NULL, attempt, c->backoff_base_s,
                                       c->backoff_max_s, rng_uniform(&rng));
        http_response_free(&resp);
        if (!c->quiet)
            weprintf("llm: %s; retry %d/%d in %.2f s", msg, attempt + 1, c->max_retries, wait);
        sleep_seconds(wait);
    }
    c->jitter_state = rng.state;
    reply->elapsed_s = now_seconds() - t0;
    if (auth) explicit_bzero(auth, strlen(auth));
    free(auth);
    free(url);
    if (rc != 0) {
        char *full = reply->attempts > 1 ? xasprintf("%s (after %d attempts)", msg, reply->attempts)
                                         : xstrdup(msg);
        char *safe = redact(c->api_key, full, strlen(full), NULL);
        fail(err, errlen, "%s", safe);
        free(full);
        free(safe);
    }
    free(msg);
    return rc == 0 ? 0 : -1;
}

// ----------------------------------------------------------------------------- messages

// Make room for one more element of the array in arr ("[" on a fresh buffer, else the
// closing "]" is taken off and a comma added).
static void array_open(JsonBuf *arr) {
    if (arr->len == 0) {
        jb_puts(arr, "[");
        return;
    }
    if (arr->buf[arr->len - 1] == ']') arr->len--;
    jb_sep(arr);
}

static void array_close(JsonBuf *arr) { jb_puts(arr, "]"); }

void llm_array_add_raw(JsonBuf *arr, const char *json, size_t len) {
    array_open(arr);
    append_compact(arr, json, len);
    array_close(arr);
}

void llm_msg_add(JsonBuf *msgs, const char *role, const char *content) {
    array_open(msgs);
    jb_puts(msgs, "{");
    jb_key(msgs, "role");
    jb_cstr(msgs, role);
    jb_key(msgs, "content");
    jb_cstr(msgs, content ? content : "");
    jb_puts(msgs, "}");
    array_close(msgs);
}

void llm_msg_add_assistant(JsonBuf *msgs, const LlmReply *reply) {
    array_open(msgs);
    jb_puts(msgs, "{");
    jb_key(msgs, "role");
    jb_cstr(msgs, "assistant");
    jb_key(msgs, "content");
    if (reply->content) jb_cstr(msgs, reply->content);
    else if (reply->n_tool_calls) jb_puts(msgs, "null");
    else jb_cstr(msgs, "");
    if (reply->n_tool_calls) {
        jb_key(msgs, "tool_calls");
        jb_puts(msgs, "[");
        for (int i = 0; i < reply->n_tool_calls; i++) {
            const LlmToolCall *tc = &reply->tool_calls[i];
            jb_sep(msgs);
            jb_puts(msgs, "{");
            jb_key(msgs, "id");
            jb_cstr(msgs, tc->id ? tc->id : "");
            jb_key(msgs, "type");
            jb_cstr(msgs, "function");
            jb_key(msgs, "function");
            jb_puts(msgs, "{");
            jb_key(msgs, "name");
            jb_cstr(msgs, tc->name ? tc->name : "");
            jb_key(msgs, "arguments");
            jb_cstr(msgs, tc->arguments ? tc->arguments : "");
            jb_puts(msgs, "}}");
        }
        jb_puts(msgs, "]");
    }
    jb_puts(msgs, "}");
    array_close(msgs);
}

void llm_msg_add_tool_result(JsonBuf *msgs, const char *tool_call_id, const char *content) {
    array_open(msgs);
    jb_puts(msgs, "{");
    jb_key(msgs, "role");
    jb_cstr(msgs, "tool");
    jb_key(msgs, "tool_call_id");
    jb_cstr(msgs, tool_call_id ? tool_call_id : "");
    jb_key(msgs, "content");
    jb_cstr(msgs, content ? content : "");
    jb_puts(msgs, "}");
    array_close(msgs);
}

void llm_tool_add(JsonBuf *tools, const char *name, const char *description,
                  const char *parameters_json) {
    array_open(tools);
    jb_puts(tools, "{");
    jb_key(tools, "type");
    jb_cstr(tools, "function");
    jb_key(tools, "function");
    jb_puts(tools, "{");
    jb_key(tools, "name");
    jb_cstr(tools, name);
    if (description) {
        jb_key(tools, "description");
        jb_cstr(tools, description);
    }
    jb_key(tools, "parameters");
    const char *p = parameters_json ? parameters_json : "{\"type\":\"object\",\"properties\":{}}";
    append_compact(tools, p, strlen(p));
    jb_puts(tools, "}}");
    array_close(tools);
}

// ----------------------------------------------------------------------------- journal

// Append text as raw (compacted) JSON when it parses, else as a JSON string; NULL: null.
static void append_json_or_string(JsonBuf *out, const char *text, size_t len) {
    if (!text) {
        jb_puts(out, "null");
        return;
    }
    JsonDoc d;
    char jerr[8];
    int ok = json_parse(&d, text, len, jerr, sizeof jerr) == 0;
    json_free(&d);
    if (ok) append_compact(out, text, len);
    else jb_string(out, text, len);
}

void llm_exchange_json(const LlmReply *reply, const char *error, JsonBuf *out) {
    jb_puts(out, "{");
    jb_key(out, "request");
    append_json_or_string(out, reply->request_body,
                          reply->request_body ? strlen(reply->request_body) : 0);
    jb_key(out, "response");
    append_json_or_string(out, reply->body, reply->body_len);
    jb_key(out, "status");
    jb_int(out, reply->status);
    jb_key(out, "attempts");
    jb_int(out, reply->attempts);
    jb_key(out, "elapsed_s");
    jb_double(out, round(reply->elapsed_s * 1000) / 1000);
    if (error) {
        jb_key(out, "error");
        jb_cstr(out, error);
    }
    jb_puts(out, "}");
}
