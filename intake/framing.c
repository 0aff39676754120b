/* Header names are tokens; one Content-Length of digits only, or one Transfer-Encoding: chunked,
 * never both; no body on a method that has none. See framing.h. */
#include "framing.h"

#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: token = 1*tchar. Whitespace before the colon is not allowed (RFC 9112 5.1). */
static bool header_name_ok(const char *name)
{
    static const char tchar_punct[] = "!#$%&'*+-.^_`|~";
    if (!*name)
        return false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && !strchr(tchar_punct, c))
            return false;
    }
    return true;
}

/* 1*DIGIT, and small enough to be a length (evhttp reads it as a 64-bit integer). */
static bool content_length_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 18)
        return false;
    return strspn(v, "0123456789") == n;
}

static bool method_has_body(enum evhttp_cmd_type m)
{
    return m == EVHTTP_REQ_POST || m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_PATCH;
}

bool framing_ok(struct evhttp_request *req, const char **why)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *length = NULL, *coding = NULL;
    int nlength = 0, ncoding = 0;
    struct evkeyval *h;
    TAILQ_FOREACH(h, in, next)
    {
        if (!header_name_ok(h->key)) {
            *why = "a header name is not a valid token (no spaces before the colon)";
            return false;
        }
        if (strcasecmp(h->key, "Content-Length") == 0) {
            length = h->value;
            nlength++;
        } else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
            coding = h->value;
            ncoding++;
        }
    }
    if (nlength > 1 || ncoding > 1) {
        *why = "the request repeats Content-Length or Transfer-Encoding";
        return false;
    }
    if (length && !content_length_ok(length)) {
        *why = "Content-Length must be digits only";
        return false;
    }
    if (coding && strcasecmp(coding, "chunked") != 0) {
        *why = "the only Transfer-Encoding accepted is chunked";
        return false;
    }
    if (length && coding) {
        *why = "the request has both Content-Length and Transfer-Encoding";
        return false;
    }
    /* evhttp reads no body for these: the bytes would be taken for the next request. */
    if (!method_has_body(evhttp_request_get_command(req)) &&
        (coding || (length && strspn(length, "0") != strlen(length)))) {
        *why = "this method takes no request body";
        return false;
    }
    return true;
}
