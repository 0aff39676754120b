/* Page frame and escaping. */
#include "html.h"

#include <string.h>

void html_escape(struct evbuffer *out, const char *s)
{
    if (!s)
        return;
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
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
            continue;
        }
        evbuffer_add(out, run, (size_t)(s - run));
        evbuffer_add(out, rep, strlen(rep));
        run = s + 1;
    }
    evbuffer_add(out, run, (size_t)(s - run));
}

static const char page_style[] =
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:1rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1a1a1a}"
    "label{display:block;font-weight:600;margin-top:1rem}"
    "fieldset{margin-top:1rem;border:1px solid #999}"
    "fieldset label{font-weight:normal;display:inline-block;margin:0.2rem 1rem 0.2rem 0}"
    "input[type=text],input[type=email],input[type=tel],input[type=number],input[type=date],"
    "select,textarea{width:100%;padding:0.4rem;font-size:1rem;box-sizing:border-box}"
    "textarea{min-height:10rem}"
    ".hint{color:#444;font-size:0.95rem;margin:0.2rem 0}"
    ".error{color:#a00000;font-weight:600}"
    ".secret{font-family:monospace;font-size:1.4rem;background:#f3f3f3;padding:0.5rem;"
    "display:inline-block;letter-spacing:0.1rem}"
    "button{margin-top:1.5rem;font-size:1.1rem;padding:0.5rem 1.5rem}";

void html_page_open(struct evbuffer *out, const char *title)
{
    evbuffer_add_printf(out,
                        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>");
    html_escape(out, title);
    evbuffer_add_printf(out, " — redress</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n",
                        page_style);
}

void html_page_close(struct evbuffer *out)
{
    evbuffer_add_printf(
        out, "<hr>\n<p class=\"hint\"><a href=\"/\">File a grievance</a> · "
             "<a href=\"/status\">Follow a grievance</a></p>\n</main>\n</body>\n</html>\n");
}
