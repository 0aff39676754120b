/* The urlencoded body of a form post, and the same-origin check every form post passes. */
#ifndef REDRESS_INTAKE_FORMDATA_H
#define REDRESS_INTAKE_FORMDATA_H

#include <event2/http.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>

#include "i18n.h"
#include "multipart.h"

typedef struct {
    struct evkeyvalq fields;
} FormData;

/* Parses req's urlencoded body into d (always initialised: clear it with formdata_clear). 0, or
 * -1 for a body that is not urlencoded text (a NUL, raw or encoded, would cut a value short). */
int formdata_parse(struct evhttp_request *req, FormData *d);
void formdata_clear(FormData *d);
/* The text parts (those without a file name) of a multipart form into d, as formdata_parse does
 * for an urlencoded body, so both go through the same checks (always initialised). 0, or -1 for a
 * value holding a NUL. */
int formdata_from_parts(FormData *d, const MultipartPart *parts, int nparts);
/* The first value of name, or NULL. d may be NULL. */
const char *formdata_get(const FormData *d, const char *name);
/* Whether name has this value (checkboxes hold several). d may be NULL. */
bool formdata_has(const FormData *d, const char *name, const char *value);
/* Reads a form post into d: same origin, urlencoded, parsed. true, or false after answering req
 * with the error page (403, 415 or 400; d is then cleared). */
bool formdata_read_post(struct evhttp_request *req, FormData *d);
/* False for a post made by another site's page (CSRF). */
bool formdata_same_origin(struct evhttp_request *req);
/* The language of a form's answer: the switch (field lang) if pressed, else the language the form
 * was shown in (field language), else fallback. */
const Lang *formdata_lang(const FormData *d, const Lang *fallback);

#endif
