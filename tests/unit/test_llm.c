// test_llm: reply parsing (content, tool calls, invalid arguments, malformed and error
// bodies), request building, message builders, client configuration, exchange records.
// Mode driven by tests/tool/llm_client.sh against tests/ref/mockllm.py:
//   test_llm --chat REQUEST.json [--exchange FILE] [--followup]
// REQUEST.json: {"model"?, "messages", "tools"?, "tool_choice"?, "response_format"?,
// "temperature"?, "max_tokens"?, "max_completion_tokens"?, "seed"?}.  Sends it with
// llm_chat and prints one JSON line {"ok", "status", "attempts", "elapsed_s", "content",
// "finish_reason", "model", "usage", "tool_calls": [{"id","name","arguments","args_ok",
// "args_error"?}], "error"?}; exit 0 on success, 1 on an llm_chat error, 2 on bad use.
// --exchange FILE writes llm_exchange_json there.  --followup: after a reply with tool
// calls, sends a second request with the assistant turn and one tool result per call
// ("ok: NAME" or the argument error) and prints its line too.
#include "base/util.h"
#include "check.h"
#include "io/llm.h"

#include <stdlib.h>

// ----------------------------------------------------------------------------- parsing

static int parse(LlmReply *r, const char *body, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    err[0] = '\0';
    return llm_reply_parse(r, body, strlen(body), err, errlen);
}

static void test_reply_content(void) {
    LlmReply r;
    char err[512];
    const char *body =
        "{\"id\":\"x\",\"model\":\"gpt-4o-mini-2024\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"Hello \\u00e9\\n\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}";
    CHECK_INT("content parses", parse(&r, body, err, sizeof err), 0);
    CHECK_STR("content unescaped", r.content, "Hello \xc3\xa9\n");
    CHECK_STR("finish_reason", r.finish_reason, "stop");
    CHECK_STR("model", r.model, "gpt-4o-mini-2024");
    CHECK_INT("no tool calls", r.n_tool_calls, 0);
    CHECK_INT("prompt tokens", r.prompt_tokens, 12);
    CHECK_INT("completion tokens", r.completion_tokens, 3);
    CHECK_INT("total tokens", r.total_tokens, 15);
    llm_reply_free(&r);
    CHECK("freed zeroes", r.content == NULL && r.n_tool_calls == 0);

    CHECK_INT("null content, no usage",
              parse(&r, "{\"choices\":[{\"message\":{\"content\":null}}]}", err, sizeof err), 0);
    CHECK("null content is NULL", r.content == NULL);
    CHECK("absent finish_reason", r.finish_reason == NULL);
    CHECK_INT("usage absent", r.prompt_tokens, -1);
    llm_reply_free(&r);

    CHECK_INT("content parts",
              parse(&r,
                    "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                    "{\"type\":\"text\",\"text\":\"b\"}]}}]}",
                    err, sizeof err),
              0);
    CHECK_STR("parts joined", r.content, "ab");
    llm_reply_free(&r);
    CHECK_INT("empty parts",
              parse(&r, "{\"choices\":[{\"message\":{\"content\":[]}}]}", err, sizeof err), 0);
    CHECK_STR("empty parts give empty content", r.content, "");
    llm_reply_free(&r);

    CHECK_INT("bad usage ignored",
              parse(&r,
                    "{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
                    "\"usage\":{\"prompt_tokens\":\"many\",\"completion_tokens\":-4}}",
                    err, sizeof err),
              0);
    CHECK("bad usage is -1",
          r.prompt_tokens == -1 && r.completion_tokens == -1 && r.total_tokens == -1);
    llm_reply_free(&r);
}

static void test_reply_tool_calls(void) {
    LlmReply r;
    char err[512];
    const char *body =
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"run\",\"arguments\":\"{\\\"layers\\\": [0, 1]}\"}},"
        "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"note\",\"arguments\":\"{\\\"text\\\": \\\"unterminated\"}},"
        "{\"id\":\"call_c\",\"function\":{\"name\":\"noargs\",\"arguments\":\"\"}},"
        "{\"id\":\"call_d\",\"function\":{\"name\":\"objargs\",\"arguments\":{\"k\":1}}},"
        "{\"id\":\"call_e\",\"function\":{\"name\":\"list\",\"arguments\":\"[1,2]\"}}"
        "]},\"finish_reason\":\"tool_calls\"}]}";
    CHECK_INT("tool calls parse", parse(&r, body, err, sizeof err), 0);
    CHECK_INT("five tool calls", r.n_tool_calls, 5);
    CHECK("content null", r.content == NULL);
    CHECK_STR("finish tool_calls", r.finish_reason, "tool_calls");
    if (r.n_tool_calls == 5) {
        CHECK_STR("call 0 id", r.tool_calls[0].id, "call_a");
        CHECK_STR("call 0 name", r.tool_calls[0].name, "run");
        CHECK_STR("call 0 arguments raw", r.tool_calls[0].arguments, "{\"layers\": [0, 1]}");
        CHECK_STR("call 1 arguments kept raw", r.tool_calls[1].arguments,
                  "{\"text\": \"unterminated");
        CHECK_STR("call 3 object arguments as text", r.tool_calls[3].arguments, "{\"k\":1}");

        JsonDoc d;
        char aerr[512];
        CHECK_INT("valid arguments", llm_args_parse(&r.tool_calls[0], &d, aerr, sizeof aerr), 0);
        int layers = json_obj_get(&d, 0, "layers");
        CHECK_INT("arguments layers", json_size(&d, layers), 2);
        json_free(&d);
        CHECK_INT("invalid arguments", llm_args_parse(&r.tool_calls[1], &d, aerr, sizeof aerr), -1);
        CHECK("invalid arguments message names tool",
              strstr(aerr, "arguments of note are not valid JSON") != NULL);
        CHECK("invalid arguments message quotes text", strstr(aerr, "unterminated") != NULL);
        json_free(&d);
        CHECK_INT("empty arguments are {}", llm_args_parse(&r.tool_calls[2], &d, aerr, sizeof aerr),
                  0);
        CHECK_INT("empty arguments object", json_size(&d, 0), 0);
        json_free(&d);
        CHECK_INT("object arguments", llm_args_parse(&r.tool_calls[3], &d, aerr, sizeof aerr), 0);
        json_free(&d);
        CHECK_INT("array arguments refused",
                  llm_args_parse(&r.tool_calls[4], &d, aerr, sizeof aerr), -1);
        CHECK_STR("array arguments message", aerr,
                  "arguments of list must be a JSON object, not an array");
        json_free(&d);
    }
    llm_reply_free(&r);

    // long invalid arguments: the message quotes at most 200 bytes
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 1] = '\0';
    LlmToolCall tc = {"id", "f", big};
    JsonDoc d;
    char aerr[1024];
    CHECK_INT("long invalid arguments", llm_args_parse(&tc, &d, aerr, sizeof aerr), -1);
    CHECK("message bounded", strlen(aerr) < 400 && strstr(aerr, "...") != NULL);
    json_free(&d);
}

static void check_malformed(const char *name, const char *body, const char *want) {
    LlmReply r;
    char err[512];
    int rc = parse(&r, body, err, sizeof err);
    char label[160];
    snprintf(label, sizeof label, "%s: refused", name);
    CHECK_INT(label, rc, -1);
    snprintf(label, sizeof label, "%s: message", name);
    if (strstr(err, want)) printf("PASS %s\n", label);
    else {
        printf("FAIL %s: [%s] lacks [%s]\n", label, err, want);
        check_failures++;
    }
    snprintf(label, sizeof label, "%s: nothing half-read kept", name);
    CHECK(label, r.content == NULL && r.n_tool_calls == 0 && r.tool_calls == NULL &&
                     r.finish_reason == NULL);
    llm_reply_free(&r);
}

static void test_reply_malformed(void) {
    check_malformed("empty body", "", "malformed reply: empty body");
    check_malformed("not JSON", "<html>Bad gateway</html>", "malformed reply: not JSON");
    check_malformed("not JSON quoted", "<html>Bad gateway</html>", "<html>Bad gateway</html>");
    check_malformed("truncated", "{\"choices\":[{\"message\":{\"content\":\"he",
                    "malformed reply: not JSON");
    check_malformed("array root", "[1,2]", "malformed reply: not a JSON object");
    check_malformed("no choices", "{\"id\":\"x\"}", "no \"choices\" array");
    check_malformed("choices object", "{\"choices\":{}}", "no \"choices\" array");
    check_malformed("empty choices", "{\"choices\":[]}", "\"choices\" is empty");
    check_malformed("choice not object", "{\"choices\":[3]}", "choices[0] is not an object");
    check_malformed("no message", "{\"choices\":[{\"text\":\"hi\"}]}", "no \"message\" object");
    check_malformed("content number", "{\"choices\":[{\"message\":{\"content\":5}}]}",
                    "neither a string nor null");
    check_malformed("content NUL", "{\"choices\":[{\"message\":{\"content\":\"a\\u0000b\"}}]}",
                    "NUL");
    check_malformed("bad part",
                    "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"image\"}]}}]}",
                    "content part");
    check_malformed("finish number",
                    "{\"choices\":[{\"message\":{\"content\":\"\"},\"finish_reason\":1}]}",
                    "finish_reason is not a string");
    check_malformed("tool_calls object", "{\"choices\":[{\"message\":{\"tool_calls\":{}}}]}",
                    "tool_calls is not an array");
    check_malformed("tool call no function",
                    "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"a\"}]}}]}",
                    "tool call 0 has no \"function\" object");
    check_malformed(
        "tool call no name",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":\"{}\"}}]}}]}",
        "no function name");
    check_malformed(
        "tool call empty name",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"\"}}]}}]}",
        "no function name");
    check_malformed(
        "tool call numeric args",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\"}},{\"function\":{\"name\":\"f\",\"arguments\":3}}]}}]}",
        "tool call 1 has \"arguments\" that are not a string");
    check_malformed(
        "tool call id number",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":7,\"function\":{\"name\":\"f\"}}]}}]}",
        "\"id\" that is not a string");
    check_malformed(
        "tool call other type",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"type\":\"code\",\"function\":{\"name\":\"f\"}}]}}]}",
        "other than \"function\"");
    check_malformed("error in a 200",
                    "{\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\"}}",
                    "an error instead of choices: model overloaded");
    check_malformed("ollama-style error in a 200", "{\"error\":\"model 'x' not found\"}",
                    "model 'x' not found");

    JsonBuf many = {0};
    jb_puts(&many, "{\"choices\":[{\"message\":{\"tool_calls\":[");
    for (int i = 0; i < 300; i++) {
        jb_sep(&many);
        jb_puts(&many, "{\"function\":{\"name\":\"f\"}}");
    }
    jb_puts(&many, "]}}]}");
    check_malformed("too many tool calls", many.buf, "more than 256 tool calls");
    jb_free(&many);
}

// ----------------------------------------------------------------------------- requests

static void test_request_json(void) {
    LlmClient c = {.model = "m0"};
    char err[256];
    JsonBuf b = {0};
    LlmRequest req = {.messages = "[{\"role\":\"user\",\"content\":\"hi\"}]"};
    CHECK_INT("minimal request", llm_request_json(&c, &req, &b, err, sizeof err), 0);
    CHECK_STR("minimal body", b.buf,
              "{\"model\":\"m0\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    jb_free(&b);

    LlmRequest full = {
        .model = "m1",
        .messages = "[\n  {\"role\": \"system\", \"content\": \"a b\\n\"}\n]",
        .tools = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}]",
        .tool_choice = "\"required\"",
        .response_format = "{\"type\": \"json_object\"}",
        .has_temperature = 1,
        .temperature = 0,
        .max_tokens = 100,
        .has_seed = 1,
        .seed = 42};
    CHECK_INT("full request", llm_request_json(&c, &full, &b, err, sizeof err), 0);
    CHECK_STR("full body", b.buf,
              "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":\"a b\\n\"}],"
              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
              "\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"},"
              "\"temperature\":0,\"max_tokens\":100,\"seed\":42}");
    jb_free(&b);
    full.use_max_completion_tokens = 1;
    full.has_temperature = 0;
    full.has_seed = 0;
    llm_request_json(&c, &full, &b, err, sizeof err);
    CHECK("max_completion_tokens",
          strstr(b.buf, "\"max_completion_tokens\":100") && !strstr(b.buf, "\"max_tokens\""));
    CHECK("temperature and seed left out", !strstr(b.buf, "temperature") && !strstr(b.buf, "seed"));
    jb_free(&b);

    LlmRequest bad = {.messages = "[{\"role\":"};
    CHECK_INT("invalid messages", llm_request_json(&c, &bad, &b, err, sizeof err), -1);
    CHECK("invalid messages message", strstr(err, "messages is not valid JSON") != NULL);
    bad.messages = "{\"role\":\"user\"}";
    CHECK_INT("messages not array", llm_request_json(&c, &bad, &b, err, sizeof err), -1);
    CHECK_STR("messages not array message", err, "request: messages must be an array");
    bad.messages = "[]";
    CHECK_INT("messages empty", llm_request_json(&c, &bad, &b, err, sizeof err), -1);
    bad.messages = NULL;
    CHECK_INT("no messages", llm_request_json(&c, &bad, &b, err, sizeof err), -1);
    bad.messages = "[{}]";
    bad.response_format = "\"json\"";
    CHECK_INT("response_format not object", llm_request_json(&c, &bad, &b, err, sizeof err), -1);
    bad.response_format = NULL;
    bad.tools = "{}";
    CHECK_INT("tools not array", llm_request_json(&c, &bad, &b, err, sizeof err), -1);
    CHECK_INT("nothing appended on error", (long long)b.len, 0);
    jb_free(&b);
}

static void test_messages(void) {
    JsonBuf m = {0};
    llm_msg_add(&m, "system", "be brief");
    CHECK_STR("one message", m.buf, "[{\"role\":\"system\",\"content\":\"be brief\"}]");
    llm_msg_add(&m, "user", "say \"hi\"");
    CHECK_STR(
        "two messages", m.buf,
        "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\"}]");
    LlmToolCall calls[2] = {{"c1", "run", "{\"a\":1}"}, {"c2", "note", "{bad"}};
    LlmReply r = {.tool_calls = calls, .n_tool_calls = 2};
    llm_msg_add_assistant(&m, &r);
    llm_msg_add_tool_result(&m, "c1", "done");
    llm_msg_add_tool_result(&m, "c2", "error: bad arguments");
    JsonDoc d;
    char err[128];
    CHECK_INT("messages are JSON", json_parse(&d, m.buf, m.len, err, sizeof err), 0);
    CHECK_INT("five messages", json_size(&d, 0), 5);
    int a = json_arr_at(&d, 0, 2);
    CHECK("assistant content null", json_is_null(&d, json_obj_get(&d, a, "content")));
    int tcs = json_obj_get(&d, a, "tool_calls");
    CHECK_INT("assistant tool calls", json_size(&d, tcs), 2);
    int f = json_obj_get(&d, json_arr_at(&d, tcs, 1), "function");
    CHECK("arguments sent back as a string",
          json_str_eq(&d, json_obj_get(&d, f, "arguments"), "{bad"));
    int t = json_arr_at(&d, 0, 3);
    CHECK("tool result role", json_str_eq(&d, json_obj_get(&d, t, "role"), "tool"));
    CHECK("tool result id", json_str_eq(&d, json_obj_get(&d, t, "tool_call_id"), "c1"));
    json_free(&d);
    jb_free(&m);

    LlmReply plain = {.content = "text"};
    llm_msg_add_assistant(&m, &plain);
    CHECK_STR("assistant text", m.buf, "[{\"role\":\"assistant\",\"content\":\"text\"}]");
    jb_free(&m);

    JsonBuf tools = {0};
    llm_tool_add(&tools, "run", "run layers",
                 "{\"type\": \"object\",\n \"properties\": {\"n\": {\"type\": \"integer\"}}}");
    llm_tool_add(&tools, "stop", NULL, NULL);
    CHECK_STR(
        "tools", tools.buf,
        "[{\"type\":\"function\",\"function\":{\"name\":\"run\",\"description\":\"run layers\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"stop\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]");
    jb_free(&tools);

    JsonBuf raw = {0};
    llm_array_add_raw(&raw, "{ \"a\" : \"x y\" }", 15);
    llm_array_add_raw(&raw, "2", 1);
    CHECK_STR("raw elements compacted", raw.buf, "[{\"a\":\"x y\"},2]");
    jb_free(&raw);
}

// ----------------------------------------------------------------------------- client

static void test_client_init(void) {
    LlmClient c;
    char err[256], padded[300];
    // tests/run.sh's sentinel key when there is one (its secret scan searches this
    // program's output and files for it), else a stand-in.
    const char *env_key = getenv("OPENAI_API_KEY");
    char *saved = env_key ? xstrdup(env_key) : NULL;   // restored at the end
    const char *key = saved && strlen(saved) >= 8 && strlen(saved) < 200 ? saved : "sk-test-123";
    snprintf(padded, sizeof padded, "  %s\n", key);
    unsetenv("OPENAI_API_KEY");
    unsetenv("OPENAI_BASE_URL");
    unsetenv("AUTOINTERP_LLM_MODEL");
    unsetenv("AUTOINTERP_LLM_TIMEOUT");
    unsetenv("AUTOINTERP_LLM_RETRIES");
    unsetenv("AUTOINTERP_LLM_BACKOFF_BASE");
    CHECK_INT("defaults", llm_client_init(&c, NULL, err, sizeof err), 0);
    CHECK_STR("default base", c.base_url, "https://api.openai.com/v1");
    CHECK_STR("default model", c.model, "gpt-4o-mini");
    CHECK("no key", c.api_key == NULL);
    CHECK_INT("default timeout", c.timeout_s, 120);
    CHECK_INT("default connect timeout", c.connect_timeout_s, 10);
    CHECK_INT("default retries", c.max_retries, 5);
    CHECK_NEAR("default backoff", c.backoff_base_s, 1, 0);
    llm_client_free(&c);

    setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1//", 1);
    setenv("OPENAI_API_KEY", padded, 1);
    setenv("AUTOINTERP_LLM_MODEL", "llama3", 1);
    setenv("AUTOINTERP_LLM_TIMEOUT", "2.5", 1);
    setenv("AUTOINTERP_LLM_RETRIES", "0", 1);
    setenv("AUTOINTERP_LLM_BACKOFF_BASE", "0.01", 1);
    CHECK_INT("from env", llm_client_init(&c, NULL, err, sizeof err), 0);
    CHECK_STR("trailing slashes dropped", c.base_url, "http://127.0.0.1:8080/v1");
    CHECK("key trimmed", c.api_key && !strcmp(c.api_key, key));
    CHECK_STR("model from env", c.model, "llama3");
    CHECK_INT("timeout rounded up", c.timeout_s, 3);
    CHECK_INT("connect timeout within total", c.connect_timeout_s, 3);
    CHECK_INT("retries from env", c.max_retries, 0);
    CHECK_NEAR("backoff from env", c.backoff_base_s, 0.01, 1e-12);
    llm_client_free(&c);
    CHECK_INT("model argument wins", llm_client_init(&c, "qwen2", err, sizeof err), 0);
    CHECK_STR("model argument", c.model, "qwen2");
    llm_client_free(&c);

    setenv("OPENAI_API_KEY", "sk-SECRET\x01zz", 1);
    CHECK_INT("key with control char", llm_client_init(&c, NULL, err, sizeof err), -1);
    CHECK("key not in message",
          strstr(err, "SECRET") == NULL && strstr(err, "OPENAI_API_KEY") != NULL);
    setenv("OPENAI_API_KEY", "", 1);
    setenv("OPENAI_BASE_URL", "ftp://x/v1", 1);
    CHECK_INT("bad scheme", llm_client_init(&c, NULL, err, sizeof err), -1);
    setenv("OPENAI_BASE_URL", "http://x/v1", 1);
    setenv("AUTOINTERP_LLM_TIMEOUT", "soon", 1);
    CHECK_INT("bad timeout", llm_client_init(&c, NULL, err, sizeof err), -1);
    CHECK("bad timeout message", strstr(err, "AUTOINTERP_LLM_TIMEOUT") != NULL);
    setenv("AUTOINTERP_LLM_TIMEOUT", "5", 1);
    setenv("AUTOINTERP_LLM_RETRIES", "1.5", 1);
    CHECK_INT("fractional retries", llm_client_init(&c, NULL, err, sizeof err), -1);
    setenv("AUTOINTERP_LLM_RETRIES", "99", 1);
    CHECK_INT("too many retries", llm_client_init(&c, NULL, err, sizeof err), -1);
    setenv("AUTOINTERP_LLM_RETRIES", "1", 1);
    CHECK_INT("bad model name", llm_client_init(&c, "a model", err, sizeof err), -1);
    CHECK_INT("empty key is no key", llm_client_init(&c, NULL, err, sizeof err), 0);
    CHECK("empty key NULL", c.api_key == NULL);
    llm_client_free(&c);
    if (saved) setenv("OPENAI_API_KEY", saved, 1);
    free(saved);
}

static void test_exchange(void) {
    LlmReply r = {.request_body = "{\"model\": \"m\",\n\"messages\":[]}",
                  .body = "{\n  \"choices\": [ ]\n}",
                  .status = 200,
                  .attempts = 2,
                  .elapsed_s = 1.23456};
    r.body_len = strlen(r.body);
    JsonBuf b = {0};
    llm_exchange_json(&r, NULL, &b);
    CHECK_STR("exchange", b.buf,
              "{\"request\":{\"model\":\"m\",\"messages\":[]},\"response\":{\"choices\":[]},"
              "\"status\":200,\"attempts\":2,\"elapsed_s\":1.235}");
    jb_free(&b);
    LlmReply bad = {
        .request_body = "{}", .body = "<html>\n502</html>", .status = 502, .attempts = 1};
    bad.body_len = strlen(bad.body);
    llm_exchange_json(&bad, "POST x: HTTP 502", &b);
    CHECK_STR("exchange with a non-JSON body", b.buf,
              "{\"request\":{},\"response\":\"<html>\\n502</html>\",\"status\":502,\"attempts\":1,"
              "\"elapsed_s\":0,\"error\":\"POST x: HTTP 502\"}");
    jb_free(&b);
    LlmReply none = {0};
    llm_exchange_json(&none, "no request", &b);
    CHECK_STR(
        "exchange without bodies", b.buf,
        "{\"request\":null,\"response\":null,\"status\":0,\"attempts\":0,\"elapsed_s\":0,\"error\":\"no request\"}");
    jb_free(&b);
}

// ----------------------------------------------------------------------------- --chat

// Member `key` of the request file as raw JSON text (malloc'd), or NULL.
static char *member_raw(const JsonDoc *d, const char *key) {
    int v = json_obj_get(d, 0, key);
    if (v < 0) return NULL;
    size_t n;
    const char *s = json_raw(d, v, &n);
    return xstrndup(s, n);
}

static void write_reply(const LlmReply *r, int ok, const char *err) {
    JsonBuf b = {0};
    jb_puts(&b, "{");
    jb_key(&b, "ok");
    jb_puts(&b, ok ? "true" : "false");
    jb_key(&b, "status");
    jb_int(&b, r->status);
    jb_key(&b, "attempts");
    jb_int(&b, r->attempts);
    jb_key(&b, "elapsed_s");
    jb_double(&b, r->elapsed_s);
    if (!ok) {
        jb_key(&b, "error");
        jb_cstr(&b, err);
    }
    if (r->error_type) {
        jb_key(&b, "error_type");
        jb_cstr(&b, r->error_type);
    }
    jb_key(&b, "content");
    if (r->content) jb_cstr(&b, r->content);
    else jb_puts(&b, "null");
    jb_key(&b, "finish_reason");
    if (r->finish_reason) jb_cstr(&b, r->finish_reason);
    else jb_puts(&b, "null");
    jb_key(&b, "model");
    if (r->model) jb_cstr(&b, r->model);
    else jb_puts(&b, "null");
    jb_key(&b, "usage");
    jb_puts(&b, "[");
    jb_int(&b, r->prompt_tokens);
    jb_sep(&b);
    jb_int(&b, r->completion_tokens);
    jb_puts(&b, "]");
    jb_key(&b, "tool_calls");
    jb_puts(&b, "[");
    for (int i = 0; i < r->n_tool_calls; i++) {
        const LlmToolCall *tc = &r->tool_calls[i];
        JsonDoc d;
        char aerr[512];
        int args_ok = llm_args_parse(tc, &d, aerr, sizeof aerr) == 0;
        json_free(&d);
        jb_sep(&b);
        jb_puts(&b, "{");
        jb_key(&b, "id");
        jb_cstr(&b, tc->id);
        jb_key(&b, "name");
        jb_cstr(&b, tc->name);
        jb_key(&b, "arguments");
        jb_cstr(&b, tc->arguments);
        jb_key(&b, "args_ok");
        jb_puts(&b, args_ok ? "true" : "false");
        if (!args_ok) {
            jb_key(&b, "args_error");
            jb_cstr(&b, aerr);
        }
        jb_puts(&b, "}");
    }
    jb_puts(&b, "]}\n");
    fputs(b.buf, stdout);
    fflush(stdout);
    jb_free(&b);
}

// The tool results of the --followup turn: "ok: NAME" or the argument error.
static void add_tool_results(JsonBuf *msgs, const LlmReply *r) {
    for (int i = 0; i < r->n_tool_calls; i++) {
        JsonDoc d;
        char aerr[512], ok[300];
        int rc = llm_args_parse(&r->tool_calls[i], &d, aerr, sizeof aerr);
        json_free(&d);
        snprintf(ok, sizeof ok, "ok: %s", r->tool_calls[i].name);
        llm_msg_add_tool_result(msgs, r->tool_calls[i].id, rc == 0 ? ok : aerr);
    }
}

static int chat_main(int argc, char **argv) {
    const char *path = argv[2], *exchange = NULL;
    int followup = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--exchange") == 0 && i + 1 < argc) exchange = argv[++i];
        else if (strcmp(argv[i], "--followup") == 0) followup = 1;
        else eprintf(2, "unknown argument '%s'", argv[i]);
    }
    size_t len;
    char *text = read_file(path, &len);
    if (!text) eprintf(2, "%s: cannot read", path);
    JsonDoc d;
    char err[1024];
    if (json_parse(&d, text, len, err, sizeof err) != 0 || json_type(&d, 0) != JSMN_OBJECT)
        eprintf(2, "%s: not a JSON object", path);
    char *model = NULL, *messages = member_raw(&d, "messages"), *tools = member_raw(&d, "tools");
    char *choice = member_raw(&d, "tool_choice"), *format = member_raw(&d, "response_format");
    LlmRequest req = {
        .messages = messages, .tools = tools, .tool_choice = choice, .response_format = format};
    int v;
    long long n;
    if ((v = json_obj_get(&d, 0, "model")) >= 0) json_str(&d, v, &model, NULL);
    req.model = model;
    if ((v = json_obj_get(&d, 0, "temperature")) >= 0 && json_double(&d, v, &req.temperature) == 0)
        req.has_temperature = 1;
    if ((v = json_obj_get(&d, 0, "max_tokens")) >= 0 && json_int(&d, v, &n) == 0)
        req.max_tokens = (int)n;
    if ((v = json_obj_get(&d, 0, "max_completion_tokens")) >= 0 && json_int(&d, v, &n) == 0) {
        req.max_tokens = (int)n;
        req.use_max_completion_tokens = 1;
    }
    if ((v = json_obj_get(&d, 0, "seed")) >= 0 && json_int(&d, v, &req.seed) == 0) req.has_seed = 1;

    LlmClient c;
    if (llm_client_init(&c, NULL, err, sizeof err) != 0) eprintf(2, "%s", err);
    LlmReply r;
    int rc = llm_chat(&c, &req, &r, err, sizeof err);
    write_reply(&r, rc == 0, err);
    if (exchange) {
        JsonBuf b = {0};
        llm_exchange_json(&r, rc == 0 ? NULL : err, &b);
        jb_puts(&b, "\n");
        FILE *f = fopen(exchange, "w");
        if (!f || fputs(b.buf, f) == EOF || fclose(f) != 0)
            eprintf(2, "%s: cannot write", exchange);
        jb_free(&b);
    }
    if (rc == 0 && followup && r.n_tool_calls > 0) {
        JsonBuf msgs = {0};
        jb_puts(&msgs, messages);
        llm_msg_add_assistant(&msgs, &r);
        add_tool_results(&msgs, &r);
        LlmRequest next = req;
        next.messages = msgs.buf;
        LlmReply r2;
        rc = llm_chat(&c, &next, &r2, err, sizeof err);
        write_reply(&r2, rc == 0, err);
        llm_reply_free(&r2);
        jb_free(&msgs);
    }
    llm_reply_free(&r);
    llm_client_free(&c);
    free(model);
    free(messages);
    free(tools);
    free(choice);
    free(format);
    json_free(&d);
    free(text);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    if (argc >= 3 && strcmp(argv[1], "--chat") == 0) return chat_main(argc, argv);
    test_reply_content();
    test_reply_tool_calls();
    test_reply_malformed();
    test_request_json();
    test_messages();
    test_client_init();
    test_exchange();
    CHECK_DONE();
}
