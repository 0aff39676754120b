/* HTML output: escaping and the page frame shared by every page (no script, no external assets,
 * inline style allowed by our CSP). */
#ifndef REDRESS_INTAKE_HTML_H
#define REDRESS_INTAKE_HTML_H

#include <event2/buffer.h>

/* Appends s with & < > " ' escaped. NULL appends nothing. */
void html_escape(struct evbuffer *out, const char *s);
/* Opens <html lang="en">, head with title, body and main. */
void html_page_open(struct evbuffer *out, const char *title);
void html_page_close(struct evbuffer *out);

#endif
