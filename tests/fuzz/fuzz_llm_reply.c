// fuzz_llm_reply: the chat-completions reply parser (common/io/llm) on any body a server
// might send.  Properties:
//   - llm_reply_parse succeeds or fails with "malformed reply: ..." (and then keeps no
//     half-read choice: content, tool calls and finish_reason are cleared);
//   - on success every tool call has a name and arguments, and llm_args_parse gives a
//     JSON object or a message that can go back to the model as text;
//   - the assistant turn built from the reply (llm_msg_add_assistant), the tool results
//     (llm_msg_add_tool_result) and the journal record of the exchange
//     (llm_exchange_json) are valid JSON, whatever the server sent.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = '\0';
    LlmReply r;
    memset(&r, 0, sizeof r);
    char err[512];
    err[0] = '\0';
    int rc = llm_reply_parse(&r, body, size, err, sizeof err);
    if (rc != 0) {
        FUZZ_REQUIRE(strncmp(err, "malformed reply: ", 17) == 0, "message: %s", err);
        FUZZ_REQUIRE(r.content == NULL && r.n_tool_calls == 0 && r.tool_calls == NULL &&
                         r.finish_reason == NULL,
                     "a refused reply keeps half-read fields");
    } else {
        FUZZ_REQUIRE(r.n_tool_calls >= 0, "n_tool_calls");
        JsonBuf msgs = {0};
        llm_msg_add(&msgs, "user", "hi");
        llm_msg_add_assistant(&msgs, &r);
        for (int i = 0; i < r.n_tool_calls; i++) {
            const LlmToolCall *tc = &r.tool_calls[i];
            FUZZ_REQUIRE(tc->name && tc->arguments && tc->id, "tool call %d incomplete", i);
            JsonDoc d;
            char aerr[512];
            aerr[0] = '\0';
            int arc = llm_args_parse(tc, &d, aerr, sizeof aerr);
            if (arc == 0) FUZZ_REQUIRE(json_type(&d, 0) == JSMN_OBJECT, "arguments not an object");
            else FUZZ_REQUIRE(aerr[0], "argument refusal without a message");
            json_free(&d);
            llm_msg_add_tool_result(&msgs, tc->id, arc == 0 ? "ok" : aerr);
        }
        FUZZ_REQUIRE(fuzz_json_valid(msgs.buf, msgs.len) && msgs.buf[0] == '[', "messages: %s",
                     msgs.buf);
        jb_free(&msgs);
    }
    // The journal record, with the body as the server's reply (JSON or not).
    r.body = body;
    r.body_len = size;
    r.request_body = strdup("{\"model\":\"m\",\"messages\":[]}");
    JsonBuf ex = {0};
    llm_exchange_json(&r, rc ? err : NULL, &ex);
    FUZZ_REQUIRE(fuzz_json_valid(ex.buf, ex.len) && ex.buf[0] == '{', "exchange record: %.300s",
                 ex.buf);
    jb_free(&ex);
    llm_reply_free(&r);   // frees body and request_body too
    return 0;
}
