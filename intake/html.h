/* HTML output: escaping, translated text, and the page frame shared by every page (no script, no
 * external assets, inline style allowed by our CSP): <html lang dir>, the language switch, the
 * links at the foot. */
#ifndef REDRESS_INTAKE_HTML_H
#define REDRESS_INTAKE_HTML_H

#include <event2/buffer.h>

#include "i18n.h"

/* Appends s with & < > " ' escaped and any byte that is not UTF-8 as U+FFFD. NULL appends
 * nothing. */
void html_escape(struct evbuffer *out, const char *s);
/* Appends msgid's translation in l, escaped. */
void html_tr(struct evbuffer *out, const Lang *l, const char *msgid);
/* The same with {name} placeholders filled: the arguments after msgid are name, value pairs
 * (at most 8) ending with NULL; the values are escaped too, each a bidi isolate. */
void html_trf(struct evbuffer *out, const Lang *l, const char *msgid, ...)
    __attribute__((sentinel));
/* A <time> element: the RFC 3339 UTC time in l's conventions, the time zone named. */
void html_datetime(struct evbuffer *out, const Lang *l, const char *rfc3339);

/* How the language switch on a page keeps what the page holds. */
typedef enum {
    SWITCH_LINKS,   /* links to target?lang=..: the page has nothing to keep */
    SWITCH_BUTTONS, /* buttons name=lang submitting the form whose id is target: keeps its entries
                     */
    SWITCH_POST,    /* a small form posting hidden (name, value pairs, NULL-ended) to target */
} SwitchKind;

typedef struct {
    SwitchKind kind;
    const char *target;
    const char *const *hidden;
} LangSwitch;

/* Opens the page: <html lang dir>, head with title, body, the language switch, main. */
void html_page_open(struct evbuffer *out, const Lang *l, const char *title, const LangSwitch *sw);
void html_page_close(struct evbuffer *out, const Lang *l);

#endif
