/* Strict HTTP/1.1 framing, checked before any route. libevent 2.1.12 is lenient where a proxy in
 * front of us may not be (it takes "Content-Length: +5", keeps "Content-Length : 5" as a header
 * named "Content-Length " and so reads no body, ignores the body of a GET), and two parties that
 * disagree on where a request ends are request smuggling. Every request that is not framed
 * exactly one way is refused with 400 and its connection closed. */
#ifndef REDRESS_INTAKE_FRAMING_H
#define REDRESS_INTAKE_FRAMING_H

#include <event2/http.h>
#include <stdbool.h>

/* True when req's framing is unambiguous; else false with *why set to a sentence for the 400. */
bool framing_ok(struct evhttp_request *req, const char **why);

#endif
