/* PO catalogs (libgettextpo), language negotiation and placeholder expansion. */
#include "i18n.h"

#include <ctype.h>
#include <dirent.h>
#include <gettext-po.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define LANG_MAX 64

typedef struct {
    char *key; /* msgid, or msgctxt "\004" msgid as gettext keys them */
    char *text;
} Message;

struct Lang {
    char tag[36];
    char *name;
    bool rtl;
    Message *msgs; /* sorted by key */
    size_t nmsgs;
};

/* Read-only after i18n_load(); see the header. */
static Lang *langs[LANG_MAX];
static size_t nlangs;
static Lang english = {"en", "English", false, NULL, 0};

/* libgettextpo reports problems through a handler that must not return on fatal errors. */
static struct {
    jmp_buf fatal;
    char *err;
    size_t errlen;
    int errors;
} load_ctx;

static void po_error_note(int severity, const char *filename, size_t lineno, const char *text)
{
    if (severity == PO_SEVERITY_WARNING)
        return;
    if (load_ctx.errors++ == 0)
        snprintf(load_ctx.err, load_ctx.errlen, "%s:%zu: %s", filename ? filename : "?", lineno,
                 text);
    if (severity == PO_SEVERITY_FATAL_ERROR)
        longjmp(load_ctx.fatal, 1);
}

static void po_xerror_cb(int severity, po_message_t message, const char *filename, size_t lineno,
                         size_t column, int multiline_p, const char *message_text)
{
    (void)message;
    (void)column;
    (void)multiline_p;
    po_error_note(severity, filename, lineno, message_text);
}

static void po_xerror2_cb(int severity, po_message_t message1, const char *filename1,
                          size_t lineno1, size_t column1, int multiline_p1,
                          const char *message_text1, po_message_t message2, const char *filename2,
                          size_t lineno2, size_t column2, int multiline_p2,
                          const char *message_text2)
{
    (void)message1;
    (void)column1;
    (void)multiline_p1;
    (void)message2;
    (void)filename2;
    (void)lineno2;
    (void)column2;
    (void)multiline_p2;
    (void)message_text2;
    po_error_note(severity, filename1, lineno1, message_text1);
}

static const struct po_xerror_handler po_handler = {po_xerror_cb, po_xerror2_cb};

static int message_cmp(const void *a, const void *b)
{
    return strcmp(((const Message *)a)->key, ((const Message *)b)->key);
}

static char *message_key(const char *ctx, const char *msgid)
{
    if (!ctx)
        return xstrdup(msgid);
    size_t c = strlen(ctx), m = strlen(msgid);
    char *key = xmalloc(c + 1 + m + 1);
    memcpy(key, ctx, c);
    key[c] = '\004';
    memcpy(key + c + 1, msgid, m + 1);
    return key;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The sorted {name}s of s, joined by spaces, into out. */
static void placeholders(const char *s, char *out, size_t outlen)
{
    char names[32][48];
    size_t n = 0;
    for (const char *p = strchr(s, '{'); p && n < 32; p = strchr(p + 1, '{')) {
        size_t len = strcspn(p + 1, "{} ");
        if (p[1 + len] == '}' && len > 0 && len < 48)
            snprintf(names[n++], 48, "%.*s", (int)len, p + 1);
    }
    qsort(names, n, sizeof names[0], name_cmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? " " : "", names[i]);
}

static void lang_free(Lang *l)
{
    if (!l || l == &english)
        return;
    for (size_t i = 0; i < l->nmsgs; i++) {
        free(l->msgs[i].key);
        free(l->msgs[i].text);
    }
    free(l->msgs);
    free(l->name);
    free(l);
}

/* "zh_Hans.po" -> "zh-Hans"; false for a name that is not a plausible tag. */
static bool tag_from_filename(const char *file, char *tag, size_t taglen)
{
    size_t n = strlen(file);
    if (n < 4 || n - 3 >= taglen || strcmp(file + n - 3, ".po") != 0)
        return false;
    for (size_t i = 0; i < n - 3; i++) {
        char c = file[i];
        if (!isalnum((unsigned char)c) && c != '_' && c != '-')
            return false;
        tag[i] = c == '_' ? '-' : c;
    }
    tag[n - 3] = '\0';
    return isalpha((unsigned char)tag[0]);
}

static Lang *lang_load(const char *path, const char *tag, char *err, size_t errlen)
{
    Lang *volatile l = xcalloc(1, sizeof(Lang));
    po_file_t volatile file = NULL;
    po_message_iterator_t volatile it = NULL;
    load_ctx.err = err;
    load_ctx.errlen = errlen;
    load_ctx.errors = 0;
    if (setjmp(load_ctx.fatal))
        goto fail;
    snprintf(l->tag, sizeof l->tag, "%s", tag);
    file = po_file_read(path, &po_handler);
    if (!file) {
        if (load_ctx.errors == 0)
            snprintf(err, errlen, "%s: cannot be read", path);
        goto fail;
    }
    po_file_check_all(file, &po_handler); /* what msgfmt --check would find */
    if (load_ctx.errors)
        goto fail;
    size_t cap = 64;
    l->msgs = xcalloc(cap, sizeof(Message));
    it = po_message_iterator(file, NULL);
    po_message_t m;
    while ((m = po_next_message(it)) != NULL) {
        const char *id = po_message_msgid(m), *text = po_message_msgstr(m);
        const char *ctx = po_message_msgctxt(m);
        if (po_message_is_obsolete(m) || !*id)
            continue; /* the header */
        if (po_message_is_fuzzy(m) || !*text)
            continue; /* not translated yet: the English text is shown */
        char want[512], got[512];
        placeholders(id, want, sizeof want);
        placeholders(text, got, sizeof got);
        if (strcmp(want, got) != 0) {
            snprintf(err, errlen,
                     "%s: the translation of \"%.40s\" has placeholders {%s}, not {%s}", path, id,
                     got, want);
            goto fail;
        }
        if (l->nmsgs == cap) {
            cap *= 2;
            l->msgs = xrealloc(l->msgs, cap * sizeof(Message));
        }
        l->msgs[l->nmsgs].key = message_key(ctx, id);
        l->msgs[l->nmsgs].text = xstrdup(text);
        l->nmsgs++;
    }
    qsort(l->msgs, l->nmsgs, sizeof(Message), message_cmp);
    po_message_iterator_free(it);
    po_file_free(file);
    const char *name = trc(l, "language name", "English");
    l->name = xstrdup(name);
    l->rtl = strcmp(trc(l, "text direction", "ltr"), "rtl") == 0;
    return l;
fail:
    if (it)
        po_message_iterator_free(it);
    if (file)
        po_file_free(file);
    lang_free(l);
    return NULL;
}

static int lang_cmp(const void *a, const void *b)
{
    return strcmp((*(Lang *const *)a)->tag, (*(Lang *const *)b)->tag);
}

int i18n_load(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    i18n_free();
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the translations folder", dir);
        return -1;
    }
    langs[nlangs++] = &english;
    /* cppcheck-suppress readdirCalled ; d is this call's own (readdir_r is deprecated) */
    while ((e = readdir(d)) != NULL) {
        char tag[36], path[4096];
        if (!tag_from_filename(e->d_name, tag, sizeof tag))
            continue;
        if (nlangs == LANG_MAX || i18n_find(tag)) {
            snprintf(err, errlen, "%s/%s: %s", dir, e->d_name,
                     nlangs == LANG_MAX ? "too many languages" : "a second file for one language");
            goto fail;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        Lang *l = lang_load(path, tag, err, errlen);
        if (!l)
            goto fail;
        langs[nlangs++] = l;
    }
    closedir(d);
    qsort(langs, nlangs, sizeof langs[0], lang_cmp);
    return 0;
fail:
    closedir(d);
    i18n_free();
    return -1;
}

void i18n_free(void)
{
    for (size_t i = 0; i < nlangs; i++)
        lang_free(langs[i]);
    nlangs = 0;
}

size_t i18n_count(void)
{
    return nlangs ? nlangs : 1;
}

const Lang *i18n_at(size_t i)
{
    return nlangs ? langs[i] : &english;
}

static bool tag_equal(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
        if (tolower((unsigned char)x) != tolower((unsigned char)y))
            return false;
    }
    return true;
}

const Lang *i18n_find(const char *tag)
{
    if (!tag)
        return NULL;
    for (size_t i = 0; i < i18n_count(); i++) {
        const Lang *l = i18n_at(i);
        if (strlen(l->tag) == strlen(tag) && tag_equal(l->tag, tag, strlen(tag)))
            return l;
    }
    return NULL;
}

const Lang *i18n_default(void)
{
    return &english;
}

/* The language whose primary subtag is the range's (n bytes), or NULL. */
static const Lang *lang_by_primary(const char *range, size_t n)
{
    size_t primary = 0;
    while (primary < n && range[primary] != '-' && range[primary] != '_')
        primary++;
    for (size_t i = 0; i < i18n_count(); i++) {
        const Lang *l = i18n_at(i);
        size_t lp = strcspn(l->tag, "-");
        if (lp == primary && tag_equal(l->tag, range, primary))
            return l;
    }
    return NULL;
}

/* q-value "1", "0.8", "0.125" as thousandths; -1 when malformed. */
static int qvalue_parse(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

const Lang *i18n_negotiate(const char *header)
{
    const Lang *best = NULL;
    int best_q = 0;
    while (header && *header) {
        size_t item = strcspn(header, ",");
        const char *p = header, *end = header + item;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        size_t rlen = 0;
        while (p + rlen < end && p[rlen] != ';' && p[rlen] != ' ' && p[rlen] != '\t')
            rlen++;
        int q = 1000;
        const char *param = memchr(p, ';', (size_t)(end - p));
        if (param) {
            param++;
            while (param < end && (*param == ' ' || *param == '\t'))
                param++;
            /* cppcheck-suppress knownConditionTrueFalse ; false: "en;q=0.2, ar" picks ar (unit) */
            if (end - param >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                size_t qlen = 0;
                while (param + 2 + qlen < end && param[2 + qlen] != ' ' && param[2 + qlen] != ';')
                    qlen++;
                q = qvalue_parse(param + 2, qlen);
            }
        }
        const Lang *l = NULL;
        if (rlen == 1 && p[0] == '*')
            l = &english;
        else if (rlen > 0)
            l = lang_by_primary(p, rlen);
        if (l && q > best_q) { /* ties: the earlier range wins */
            best = l;
            best_q = q;
        }
        header = *end ? end + 1 : end;
    }
    return best ? best : &english;
}

const char *lang_tag(const Lang *l)
{
    return l->tag;
}

const char *lang_name(const Lang *l)
{
    return l->name;
}

bool lang_rtl(const Lang *l)
{
    return l->rtl;
}

static const char *lookup(const Lang *l, const char *key)
{
    if (!l || l->nmsgs == 0)
        return NULL;
    Message k = {(char *)key, NULL};
    const Message *m = bsearch(&k, l->msgs, l->nmsgs, sizeof(Message), message_cmp);
    return m ? m->text : NULL;
}

const char *tr(const Lang *l, const char *msgid)
{
    const char *t = lookup(l, msgid);
    return t ? t : msgid;
}

const char *trc(const Lang *l, const char *ctx, const char *msgid)
{
    if (!l || l->nmsgs == 0)
        return msgid;
    char buf[512];
    size_t c = strlen(ctx), m = strlen(msgid);
    char *key = c + m + 2 <= sizeof buf ? buf : xmalloc(c + m + 2);
    memcpy(key, ctx, c);
    key[c] = '\004';
    memcpy(key + c + 1, msgid, m + 1);
    const char *t = lookup(l, key);
    if (key != buf)
        free(key);
    return t ? t : msgid;
}

char *i18n_expand(const char *text, const char *const *pairs)
{
    size_t cap = strlen(text) + 64, len = 0;
    char *out = xmalloc(cap);
    for (const char *p = text; *p;) {
        const char *value = NULL;
        size_t skip = 1;
        if (*p == '{') {
            size_t n = strcspn(p + 1, "{} ");
            for (size_t i = 0; p[1 + n] == '}' && pairs[i]; i += 2) {
                if (strlen(pairs[i]) == n && strncmp(pairs[i], p + 1, n) == 0) {
                    value = pairs[i + 1] ? pairs[i + 1] : "";
                    skip = n + 2;
                    break;
                }
            }
        }
        const char *piece = value ? value : p;
        size_t plen = value ? strlen(value) : 1;
        if (len + plen + 1 > cap) {
            cap = (len + plen + 1) * 2;
            out = xrealloc(out, cap);
        }
        memcpy(out + len, piece, plen);
        len += plen;
        p += skip;
    }
    out[len] = '\0';
    return out;
}

int i18n_datetime(const Lang *l, const char *rfc3339, char *out, size_t outlen)
{
    static const char *const months[12] = {
        NC_("month", "January"), NC_("month", "February"), NC_("month", "March"),
        NC_("month", "April"),   NC_("month", "May"),      NC_("month", "June"),
        NC_("month", "July"),    NC_("month", "August"),   NC_("month", "September"),
        NC_("month", "October"), NC_("month", "November"), NC_("month", "December")};
    int y, mo, d, h, mi, s;
    char z;
    if (!rfc3339 ||
        sscanf(rfc3339, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 ||
        z != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) {
        snprintf(out, outlen, "%s", rfc3339 ? rfc3339 : "");
        return -1;
    }
    char year[8], day[4], time[8];
    snprintf(year, sizeof year, "%d", y);
    snprintf(day, sizeof day, "%d", d);
    snprintf(time, sizeof time, "%02d:%02d", h, mi);
    const char *pairs[] = {"day",  day,  "month", trc(l, "month", months[mo - 1]), "year", year,
                           "time", time, NULL};
    /* TRANSLATORS: a date and time; keep "UTC" or name the same time zone in your language. */
    char *text = i18n_expand(trc(l, "date and time", "{day} {month} {year}, {time} UTC"), pairs);
    snprintf(out, outlen, "%s", text);
    free(text);
    return 0;
}
