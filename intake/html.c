/* Page frame, escaping and translated text. */
#include "html.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* The length of the valid UTF-8 sequence at p (before end), or 0. */
static size_t utf8_seq_len(const unsigned char *p, const unsigned char *end)
{
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || p[0] > 0xf4 || (size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    }
    /* overlong 3/4-byte forms, surrogates, beyond U+10FFFF */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

void html_escape(struct evbuffer *out, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s), *run = p;
    while (p < end) {
        const char *rep = NULL;
        size_t skip = 1;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if (*p < 0x80 || (skip = utf8_seq_len(p, end)) > 0) {
                p += skip ? skip : 1;
                continue;
            }
            rep = "\xef\xbf\xbd"; /* a byte that is not UTF-8: U+FFFD, never echoed */
            skip = 1;
        }
        evbuffer_add(out, run, (size_t)(p - run));
        evbuffer_add(out, rep, strlen(rep));
        p += skip;
        run = p;
    }
    evbuffer_add(out, run, (size_t)(p - run));
}

void html_tr(struct evbuffer *out, const Lang *l, const char *msgid)
{
    html_escape(out, tr(l, msgid));
}

void html_trf(struct evbuffer *out, const Lang *l, const char *msgid, ...)
{
    /* Each value is a bidi isolate (FSI .. PDI): a reference ending in '=' stays as it is inside
     * an Arabic sentence instead of having its symbol moved to the other end. */
    char *isolated[8] = {NULL};
    const char *pairs[17];
    size_t n = 0;
    va_list ap;
    va_start(ap, msgid);
    for (const char *s; n < 16 && (s = va_arg(ap, const char *)) != NULL; n++) {
        if (n % 2 == 0) {
            pairs[n] = s;
            continue;
        }
        isolated[n / 2] = xmalloc(strlen(s) + 7);
        sprintf(isolated[n / 2], "\xe2\x81\xa8%s\xe2\x81\xa9", s);
        pairs[n] = isolated[n / 2];
    }
    va_end(ap);
    pairs[n & ~(size_t)1] = NULL;
    char *text = i18n_expand(tr(l, msgid), pairs);
    html_escape(out, text);
    free(text);
    for (size_t i = 0; i < 8; i++)
        free(isolated[i]);
}

void html_datetime(struct evbuffer *out, const Lang *l, const char *rfc3339)
{
    char text[128];
    i18n_datetime(l, rfc3339, text, sizeof text);
    evbuffer_add_printf(out, "<time datetime=\"");
    html_escape(out, rfc3339);
    evbuffer_add_printf(out, "\">");
    html_escape(out, text);
    evbuffer_add_printf(out, "</time>");
}

static const char page_style[] =
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:1rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1a1a1a;background:#fff}"
    "label{display:block;font-weight:600;margin-top:1rem}"
    "fieldset{margin-top:1rem;border:1px solid #767676}"
    "fieldset label{font-weight:normal;display:inline-block;margin-block:0.2rem;"
    "margin-inline:0 1rem}"
    "input[type=text],input[type=email],input[type=tel],input[type=number],input[type=date],"
    "input[type=password],select,textarea{width:100%;padding:0.4rem;font-size:1rem;"
    "box-sizing:border-box}"
    "textarea{min-height:10rem}"
    ".hint{color:#444;font-size:0.95rem;margin:0.2rem 0}"
    ".error{color:#a00000;font-weight:600}"
    ".secret{font-family:monospace;font-size:1.4rem;background:#f3f3f3;padding:0.5rem;"
    "display:inline-block;letter-spacing:0.1rem;direction:ltr}"
    "button{margin-top:1.5rem;font-size:1.1rem;padding:0.5rem 1.5rem}"
    "nav.languages{text-align:end;font-size:0.95rem}"
    "nav.languages ul{list-style:none;margin:0;padding:0}"
    "nav.languages li{display:inline-block;margin-inline-start:0.8rem}"
    "nav.languages button{margin:0;font-size:0.95rem;padding:0.1rem 0.4rem;background:none;"
    "border:none;color:#0645ad;text-decoration:underline;cursor:pointer}"
    "a{color:#0645ad}";

static void language_switch(struct evbuffer *out, const Lang *cur, const LangSwitch *sw)
{
    evbuffer_add_printf(out, "<nav class=\"languages\" aria-label=\"");
    html_tr(out, cur, N_("Language"));
    evbuffer_add_printf(out, "\">\n");
    if (sw->kind == SWITCH_POST) {
        evbuffer_add_printf(out, "<form method=\"post\" action=\"");
        html_escape(out, sw->target);
        evbuffer_add_printf(out, "\" accept-charset=\"utf-8\">\n");
        for (size_t i = 0; sw->hidden && sw->hidden[i]; i += 2) {
            evbuffer_add_printf(out, "<input type=\"hidden\" name=\"");
            html_escape(out, sw->hidden[i]);
            evbuffer_add_printf(out, "\" value=\"");
            html_escape(out, sw->hidden[i + 1]);
            evbuffer_add_printf(out, "\">\n");
        }
    }
    evbuffer_add_printf(out, "<ul>\n");
    for (size_t i = 0; i < i18n_count(); i++) {
        const Lang *l = i18n_at(i);
        const char *tag = lang_tag(l);
        evbuffer_add_printf(out, "<li>");
        if (l == cur) {
            evbuffer_add_printf(out, "<strong lang=\"%s\" aria-current=\"true\">", tag);
            html_escape(out, lang_name(l));
            evbuffer_add_printf(out, "</strong>");
        } else if (sw->kind == SWITCH_LINKS) {
            evbuffer_add_printf(out, "<a href=\"");
            html_escape(out, sw->target);
            evbuffer_add_printf(out, "?lang=%s\" lang=\"%s\" hreflang=\"%s\">", tag, tag, tag);
            html_escape(out, lang_name(l));
            evbuffer_add_printf(out, "</a>");
        } else {
            evbuffer_add_printf(
                out, "<button type=\"submit\" name=\"lang\" value=\"%s\" lang=\"%s\"", tag, tag);
            if (sw->kind == SWITCH_BUTTONS) {
                evbuffer_add_printf(out, " form=\"");
                html_escape(out, sw->target);
                evbuffer_add_printf(out, "\" formnovalidate");
            }
            evbuffer_add_printf(out, ">");
            html_escape(out, lang_name(l));
            evbuffer_add_printf(out, "</button>");
        }
        evbuffer_add_printf(out, "</li>\n");
    }
    evbuffer_add_printf(out, "</ul>\n%s</nav>\n", sw->kind == SWITCH_POST ? "</form>\n" : "");
}

void html_page_open(struct evbuffer *out, const Lang *l, const char *title, const LangSwitch *sw)
{
    evbuffer_add_printf(out,
                        "<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\">\n<head>\n"
                        "<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>",
                        lang_tag(l), lang_rtl(l) ? "rtl" : "ltr");
    html_escape(out, title);
    evbuffer_add_printf(out, " — redress</title>\n<style>%s</style>\n</head>\n<body>\n",
                        page_style);
    language_switch(out, l, sw);
    evbuffer_add_printf(out, "<main>\n");
}

void html_page_close(struct evbuffer *out, const Lang *l)
{
    /* The links keep the language the person reads. */
    const char *tag = lang_tag(l);
    evbuffer_add_printf(out, "</main>\n<footer>\n<hr>\n<p class=\"hint\"><a href=\"/?lang=%s\">",
                        tag);
    html_tr(out, l, N_("File a grievance"));
    evbuffer_add_printf(out, "</a> · <a href=\"/status?lang=%s\">", tag);
    html_tr(out, l, N_("Follow a grievance"));
    evbuffer_add_printf(out, "</a></p>\n</footer>\n</body>\n</html>\n");
}
