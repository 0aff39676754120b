/* Form bodies: evhttp's query parser over the body, and the Origin / Fetch Metadata check. */
#include "formdata.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "form.h"
#include "util.h"

int formdata_parse(struct evhttp_request *req, FormData *d)
{
    size_t len;
    char *body = api_body_copy(req, &len);
    TAILQ_INIT(&d->fields);
    int rc = (strlen(body) == len && !strcasestr(body, "%00"))
                 ? evhttp_parse_query_str(body, &d->fields)
                 : -1;
    free(body);
    return rc;
}

int formdata_from_parts(FormData *d, const MultipartPart *parts, int nparts)
{
    TAILQ_INIT(&d->fields);
    for (int i = 0; i < nparts; i++) {
        const MultipartPart *p = &parts[i];
        if (p->has_filename)
            continue;
        if (memchr(p->data, '\0', p->len))
            return -1;
        /* Built by hand: evhttp_add_header refuses the line breaks a description holds. */
        struct evkeyval *kv = xcalloc(1, sizeof *kv);
        kv->key = xstrdup(p->name);
        kv->value = xmalloc(p->len + 1);
        memcpy(kv->value, p->data, p->len);
        kv->value[p->len] = '\0';
        TAILQ_INSERT_TAIL(&d->fields, kv, next);
    }
    return 0;
}

bool formdata_read_post(struct evhttp_request *req, FormData *d)
{
    TAILQ_INIT(&d->fields);
    if (!formdata_same_origin(req)) {
        form_error_page(req, 403, N_("This form can only be sent from this site's own page."));
        return false;
    }
    if (!api_content_type_is(req, "application/x-www-form-urlencoded")) {
        form_error_page(req, 415,
                        N_("The form could not be read. Please go back and send it again."));
        return false;
    }
    if (formdata_parse(req, d) < 0) {
        formdata_clear(d);
        form_error_page(req, 400,
                        N_("The form data could not be read. Please go back and try again."));
        return false;
    }
    return true;
}

void formdata_clear(FormData *d)
{
    evhttp_clear_headers(&d->fields);
}

const char *formdata_get(const FormData *d, const char *name)
{
    struct evkeyval *kv;
    if (!d)
        return NULL;
    TAILQ_FOREACH(kv, &d->fields, next)
    {
        if (strcmp(kv->key, name) == 0)
            return kv->value;
    }
    return NULL;
}

bool formdata_has(const FormData *d, const char *name, const char *value)
{
    struct evkeyval *kv;
    if (!d)
        return false;
    TAILQ_FOREACH(kv, &d->fields, next)
    {
        if (strcmp(kv->key, name) == 0 && strcmp(kv->value, value) == 0)
            return true;
    }
    return false;
}

bool formdata_same_origin(struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
    if (site && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0)
        return false; /* cross-site, or a sibling subdomain (same-site) */
    const char *origin = evhttp_find_header(in, "Origin");
    if (!origin)
        return true;
    /* Our pages carry Referrer-Policy: no-referrer, under which browsers send "Origin: null" for
     * the page's own form post (Fetch, "append a request Origin header"). Fetch Metadata still
     * says same-origin then; without it (or from a sandboxed frame) null is refused. */
    if (strcmp(origin, "null") == 0)
        return site != NULL;
    const char *host = evhttp_find_header(in, "Host");
    if (!host || strncmp(origin, "https://", 8) != 0)
        return false;
    return strcasecmp(origin + 8, host) == 0;
}

const Lang *formdata_lang(const FormData *d, const Lang *fallback)
{
    const Lang *l = i18n_find(formdata_get(d, "lang"));
    if (!l)
        l = i18n_find(formdata_get(d, "language"));
    return l ? l : fallback;
}
