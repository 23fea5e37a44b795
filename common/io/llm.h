// llm: an OpenAI-compatible Chat Completions client (OpenAI, llama.cpp server, Ollama,
// vLLM, ...): POST {base}/chat/completions over common/io/http, bounded retries with
// backoff, tool calls, structured output, and a journal-safe record of each exchange.
//
// Configuration (read by llm_client_init; the struct fields may be changed afterwards):
//   OPENAI_API_KEY            sent as "Authorization: Bearer KEY"; absent or empty: no
//                             Authorization header (local servers)
//   OPENAI_BASE_URL           default https://api.openai.com/v1; trailing '/' ignored
//   AUTOINTERP_LLM_MODEL      model when none is passed; else "gpt-4o-mini"
//   AUTOINTERP_LLM_TIMEOUT    total seconds per attempt (default 120); connect: min(10, it)
//   AUTOINTERP_LLM_RETRIES    retries after the first attempt (default 5, at most 20)
//   AUTOINTERP_LLM_BACKOFF_BASE  backoff base in seconds (default 1; tests use 0.01)
//
// Retry policy: an HTTP 408, 409, 429 or 5xx, or a transient transport failure
// (connection cut, empty reply, timeout), is retried up to max_retries times.  The wait
// is the server's retry-after-ms / Retry-After when present and at most backoff_max_s,
// else min(base * 2^attempt, backoff_max_s) with ±25 % jitter (http_retry_delay).  Any
// other 4xx, a refused connection, DNS or TLS failure, and a 2xx whose body is not a
// valid chat completion are not retried.
//
// Secrets: the API key is never printed, logged, put into an error message or a reply
// field.  Every text this module hands out that came from the server or the caller
// (error messages, reply bodies, recorded exchanges) has occurrences of the key
// replaced by "[redacted]", so that a server echoing the key cannot leak it either
// (keys of at least 8 bytes; shorter ones are placeholders for local servers, and
// replacing every "x" of a reply would corrupt it).
// The request body itself is sent redacted too: the key never reaches the model.
//
// Messages and tools are JSON text that the caller builds (llm_msg_* / llm_tool_add
// below, or any JsonBuf); the client does not interpret them beyond sending them.
// Called outside this module only by the tests (tests/fuzz/fuzz_llm_reply.c,
// tests/unit/test_llm.c): llm_array_add_raw, llm_reply_parse, llm_request_json.
#ifndef AUTOINTERP_LLM_H
#define AUTOINTERP_LLM_H
#include <stddef.h>
#include <stdint.h>

#include "base/json.h"

#define LLM_DEFAULT_BASE_URL "https://api.openai.com/v1"
#define LLM_DEFAULT_MODEL    "gpt-4o-mini"
#define LLM_MAX_RETRIES      20

typedef struct {
    char *base_url;           // owned, without trailing '/'
    char *api_key;            // owned, NULL when none; never printed
    char *model;              // owned; used when a request names none
    long connect_timeout_s;   // per attempt (default min(10, timeout_s))
    long timeout_s;           // whole exchange, per attempt (default 120)
    int max_retries;          // retries after the first attempt (default 5)
    double backoff_base_s;    // default 1
    double backoff_max_s;     // cap on a wait, also on an honoured Retry-After (default 60)
    uint64_t jitter_state;    // seeded from time and pid; set it for reproducible waits
    int quiet;                // 0: one stderr line per retry ("llm: HTTP 429, retry 1/5 in 0.5 s")
} LlmClient;

// Fill *c from the environment (see the top of this file).  model: NULL → environment /
// default.  -1 with a message in err for a bad value (a base URL that is not http(s),
// a key holding control characters, a non-numeric timeout); nothing is allocated then.
int llm_client_init(LlmClient *c, const char *model, char *err, size_t errlen);
// Frees the owned strings (the key's bytes are wiped first) and zeroes *c.
void llm_client_free(LlmClient *c);

// One request.  A zeroed struct plus messages is a valid request; fields left 0 / NULL
// are not sent.
typedef struct {
    const char *model;         // NULL: the client's model
    const char *messages;      // JSON array text (required), e.g. from llm_msg_*
    const char *tools;         // JSON array text of {"type":"function","function":{...}}, or NULL
    const char *tool_choice;   // JSON value text: "\"auto\"", "\"required\"", "\"none\"",
                               //   {"type":"function","function":{"name":"f"}}; or NULL
    const char *response_format;   // JSON object text, e.g. "{\"type\":\"json_object\"}" or a
                                   //   {"type":"json_schema","json_schema":{...}}; or NULL
    int has_temperature;           // send temperature when set
    double temperature;
    int max_tokens;                  // > 0: sent as "max_tokens" ...
    int use_max_completion_tokens;   //   ... or as "max_completion_tokens" when set (newer OpenAI models)
    int has_seed;                    // send seed when set
    long long seed;
} LlmRequest;

typedef struct {
    char *id;          // owned; "" when the server sent none
    char *name;        // owned function name
    char *arguments;   // owned, unescaped text of the "arguments" string: meant to be a
                       //   JSON object, but may be anything (see llm_args_parse)
} LlmToolCall;

typedef struct {
    // choices[0]
    char *content;             // owned; NULL when null or absent
    LlmToolCall *tool_calls;   // (n_tool_calls) owned, in the order sent
    int n_tool_calls;
    char *finish_reason;   // owned; NULL when absent or null ("stop", "tool_calls", "length", ...)
    char *model;           // owned; the model that answered, NULL when not reported
    // usage; -1 when not reported
    long long prompt_tokens, completion_tokens, total_tokens;
    // the exchange
    long status;          // HTTP status of the last attempt; 0 when no response arrived
    int attempts;         // exchanges made (1 + retries)
    double elapsed_s;     // from the first attempt to the end, waits included
    char *request_body;   // owned: the JSON sent (key redacted)
    char *body;           // owned: the last response body as received (key redacted); may be NULL
    size_t body_len;
    // on an API error reply {"error":{...}}: the server's fields (owned, NULL when absent)
    char *error_message, *error_type, *error_code;
} LlmReply;

// Send req, retrying as described above, and parse choices[0] of the reply into *reply
// (overwritten: free a previous reply first; always free it with llm_reply_free, also
// after -1: it then holds the status, attempts, bodies and the server's error fields).
// Returns 0 for an HTTP 2xx carrying a valid chat completion.  -1 with a message in err:
//   "POST URL: HTTP 401 (invalid_api_key): <server message>" for an error status
//   (the server's own text, else the start of the body);
//   "POST URL: <transport error>" when no response arrived after the retries;
//   "POST URL: malformed reply: <what is wrong>" for a 2xx that is not a chat completion
//   (not JSON, no choices, content neither string nor null, a tool call without a
//   function name or with non-string arguments, ...).
// With retries, err names the last attempt and the attempt count.
int llm_chat(LlmClient *c, const LlmRequest *req, LlmReply *reply, char *err, size_t errlen);
void llm_reply_free(LlmReply *r);

// The request body llm_chat sends for req (model resolved from c), appended to out.
// -1 with a message in err when messages is missing or a JSON field is not valid JSON
// (messages/tools must be arrays, response_format an object).
int llm_request_json(const LlmClient *c, const LlmRequest *req, JsonBuf *out, char *err,
                     size_t errlen);

// Parse a chat-completion body (len bytes) into *reply's choices[0] and usage fields.
// 0, or -1 with "malformed reply: ..." in err.  Exposed for tests; llm_chat calls it.
int llm_reply_parse(LlmReply *reply, const char *body, size_t len, char *err, size_t errlen);

// Parse a tool call's arguments as a JSON object into *doc (doc->text points into
// tc->arguments, which must outlive doc; an empty string counts as {}).  0, or -1 with a
// message fit to send back to the model as the tool's result, e.g.
//   "arguments of read_file are not valid JSON (...): {\"path\": "  (first 200 bytes)
//   "arguments of read_file must be a JSON object, not an array".
// Free doc with json_free in both cases.
int llm_args_parse(const LlmToolCall *tc, JsonDoc *doc, char *err, size_t errlen);

// ----------------------------------------------------------------------------- messages
// Build a messages (or tools) array in a JsonBuf: each call appends one element and keeps
// the text a complete JSON array ("[...]"), so msgs->buf can be sent at any time.  Start
// from a zeroed JsonBuf.
void llm_msg_add(JsonBuf *msgs, const char *role, const char *content);   // system/user/assistant
// The assistant turn of reply (content, or null, and its tool_calls), to send back.
void llm_msg_add_assistant(JsonBuf *msgs, const LlmReply *reply);
// {"role":"tool","tool_call_id":id,"content":content}
void llm_msg_add_tool_result(JsonBuf *msgs, const char *tool_call_id, const char *content);
// Append an already-serialised element (any JSON value text) to the array.
void llm_array_add_raw(JsonBuf *arr, const char *json, size_t len);
// {"type":"function","function":{"name","description","parameters": <parameters_json>}}
// parameters_json: a JSON Schema object as text (NULL: {"type":"object","properties":{}}).
void llm_tool_add(JsonBuf *tools, const char *name, const char *description,
                  const char *parameters_json);

// ----------------------------------------------------------------------------- journal
// The exchange as one JSON object for a journal, appended to out (no newline):
//   {"request": <request body>, "response": <reply body, or a string when it is not JSON,
//    or null>, "status": N, "attempts": N, "elapsed_s": X[, "error": "..."]}
// error: the message llm_chat gave, or NULL.  No headers are included, and the key is
// redacted from every part.
void llm_exchange_json(const LlmReply *reply, const char *error, JsonBuf *out);

#endif
