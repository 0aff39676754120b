/* The OpenAPI document, embedded at build time (the Makefile makes this object depend on it). */
#include "openapi.h"

#include <string.h>

#include "reply.h"

__asm__(".pushsection .rodata\n"
        ".global redress_openapi_json\n"
        "redress_openapi_json:\n"
        ".incbin \"docs/openapi.json\"\n"
        ".byte 0\n"
        ".popsection\n");
extern const char redress_openapi_json[];

void openapi_reply(struct evhttp_request *req)
{
    struct evbuffer *body = evbuffer_new();
    evbuffer_add_reference(body, redress_openapi_json, strlen(redress_openapi_json), NULL, NULL);
    reply_send(req, 200, "application/json; charset=utf-8", body);
}
