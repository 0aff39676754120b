/* Ownership decisions (owners.h) and the member table they are made from. */
#include "owners.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgconn.h"
#include "sqlarray.h"
#include "util.h"

int owners_members_load(PGconn *conn, Members *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    PGresult *res = PQexecParams(conn,
                                 "SELECT id, slug, name, sector, array_to_json(countries)::text, "
                                 "array_to_json(services)::text FROM member ORDER BY id",
                                 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading members failed (SQLSTATE %s)", pgconn_sqlstate(res));
        PQclear(res);
        return -1;
    }
    int rows = PQntuples(res);
    out->v = xcalloc(rows ? (size_t)rows : 1, sizeof *out->v);
    for (int i = 0; i < rows; i++) {
        Member *m = &out->v[out->n++];
        m->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        m->slug = xstrdup(PQgetvalue(res, i, 1));
        m->name = xstrdup(PQgetvalue(res, i, 2));
        m->sector = xstrdup(PQgetvalue(res, i, 3));
        if (sqlarray_strings_parse(PQgetvalue(res, i, 4), &m->countries, &m->ncountries) < 0 ||
            sqlarray_strings_parse(PQgetvalue(res, i, 5), &m->services, &m->nservices) < 0) {
            snprintf(err, errlen, "member %lld: unreadable countries or services", m->id);
            PQclear(res);
            owners_members_free(out);
            return -1;
        }
    }
    PQclear(res);
    return 0;
}

void owners_members_free(Members *m)
{
    for (size_t i = 0; m && i < m->n; i++) {
        free(m->v[i].slug);
        free(m->v[i].name);
        free(m->v[i].sector);
        sqlarray_strings_free(m->v[i].countries, m->v[i].ncountries);
        sqlarray_strings_free(m->v[i].services, m->v[i].nservices);
    }
    if (m) {
        free(m->v);
        m->v = NULL;
        m->n = 0;
    }
}

/* Case-insensitive equality ignoring leading and trailing blanks of a (what a person typed). */
/* The next character of a name in its folded form: ASCII letters in lower case, and every run of
 * spaces, dashes, underscores and dots as one '-', ignored at either end. So "Example Telco" is
 * the member "example-telco" and the service "mobile data" is "mobile-data" or "Mobile_Data". */
static char owners_fold_next(const char **p)
{
    const char *s = *p;
    bool gap = false;
    while (*s == ' ' || *s == '\t' || *s == '-' || *s == '_' || *s == '.') {
        gap = true;
        s++;
    }
    if (!*s) {
        *p = s;
        return '\0';
    }
    if (gap) {
        *p = s;
        return '-';
    }
    *p = s + 1;
    return (char)tolower((unsigned char)*s);
}

static bool owners_name_eq(const char *typed, const char *name)
{
    while (*typed == ' ' || *typed == '\t' || *typed == '-' || *typed == '_' || *typed == '.')
        typed++;
    while (*name == ' ' || *name == '\t' || *name == '-' || *name == '_' || *name == '.')
        name++;
    if (!*typed)
        return false;
    for (;;) {
        char a = owners_fold_next(&typed), b = owners_fold_next(&name);
        if (a != b)
            return false;
        if (!a)
            return true;
    }
}

static bool owners_in_list(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], s) == 0)
            return true;
    return false;
}

static bool owners_listed_sector(const Rules *r, const char *category, const char *sector)
{
    const RulesCategory *c = rules_category(r, category);
    if (c->nlead == 0)
        c = r->def;
    return rules_lead_rank(r, category, sector) < c->nlead;
}

/* Adds or strengthens an owner. */
static void owners_put(Ownership *own, const Member *m, Involvement inv, const char *why)
{
    for (size_t i = 0; i < own->n; i++)
        if (own->owners[i].member == m) {
            if (inv < own->owners[i].involvement) {
                own->owners[i].involvement = inv;
                own->owners[i].why = why;
            }
            return;
        }
    if (own->n == OWNERS_MAX)
        return;
    own->owners[own->n++] = (Owner){m, inv, why};
}

static int owners_cmp_id(const void *pa, const void *pb)
{
    const Owner *a = pa, *b = pb;
    return a->member->id < b->member->id ? -1 : a->member->id > b->member->id;
}

/* Whether m operates in country; a member listing no country operates everywhere. */
static bool owners_operates_in(const Member *m, const char *country)
{
    return m->ncountries == 0 || owners_in_list(m->countries, m->ncountries, country);
}

void owners_decide(const Rules *r, const Members *members, const OwnersInput *in, Ownership *out)
{
    out->n = 0;
    for (size_t i = 0; i < members->n; i++) {
        const Member *m = &members->v[i];
        if (!owners_operates_in(m, in->country))
            continue; /* named or not, a member not active there does not own it */
        for (size_t k = 0; k < in->ncompanies; k++)
            if (owners_name_eq(in->companies[k], m->slug) ||
                owners_name_eq(in->companies[k], m->name)) {
                if (owners_listed_sector(r, in->category, m->sector))
                    owners_put(out, m, INVOLVEMENT_CAUSED,
                               "named by the complainant; its sector leads this harm");
                else
                    owners_put(out, m, INVOLVEMENT_CONTRIBUTED, "named by the complainant");
                break;
            }
        bool offers = false;
        for (size_t k = 0; k < in->nservices && !offers; k++)
            for (size_t j = 0; j < m->nservices && !offers; j++)
                offers = owners_name_eq(in->services[k], m->services[j]);
        if (offers)
            owners_put(out, m, INVOLVEMENT_LINKED,
                       "operates a service named by the complainant in the country");
    }
    const RulesCategory *cat = rules_category(r, in->category);
    if (out->n == 0 && cat != r->def && cat->nlead > 0) {
        /* Only members that list the country: a member active everywhere is not presumed to be
         * involved in every unnamed harm of its sector. */
        for (size_t i = 0; i < members->n; i++) {
            const Member *m = &members->v[i];
            if (owners_in_list(m->countries, m->ncountries, in->country) &&
                owners_listed_sector(r, in->category, m->sector))
                owners_put(out, m, INVOLVEMENT_LINKED,
                           "operates in the country in a sector that leads this harm; "
                           "nobody was named");
        }
    }
    if (out->n == 0)
        return;
    /* The lead first, then the others by member id. */
    Owner tmp[OWNERS_MAX];
    memcpy(tmp, out->owners, out->n * sizeof *tmp);
    size_t best = 0;
    for (size_t i = 1; i < out->n; i++) {
        int cmp;
        if (tmp[i].involvement != tmp[best].involvement)
            cmp = (int)tmp[i].involvement - (int)tmp[best].involvement;
        else {
            int ri = rules_lead_rank(r, in->category, tmp[i].member->sector);
            int rb = rules_lead_rank(r, in->category, tmp[best].member->sector);
            cmp = ri != rb ? ri - rb : (tmp[i].member->id < tmp[best].member->id ? -1 : 1);
        }
        if (cmp < 0)
            best = i;
    }
    out->owners[0] = tmp[best];
    size_t k = 1;
    for (size_t i = 0; i < out->n; i++)
        if (i != best)
            out->owners[k++] = tmp[i];
    qsort(out->owners + 1, out->n - 1, sizeof *out->owners, owners_cmp_id);
}

const char *owners_role(const Ownership *own, size_t i)
{
    if (i == 0)
        return "lead";
    return own->owners[i].involvement == INVOLVEMENT_LINKED ? "informed" : "co-owner";
}

const char *owners_involvement_name(Involvement inv)
{
    switch (inv) {
    case INVOLVEMENT_CAUSED:
        return "caused";
    case INVOLVEMENT_CONTRIBUTED:
        return "contributed";
    case INVOLVEMENT_LINKED:
        return "linked";
    }
    return "?";
}

void owners_note(const Rules *r, const Ownership *own, const char *category, const char *country,
                 char *buf, size_t len)
{
    if (own->n == 0) {
        snprintf(buf, len,
                 "owners: no member matched the companies and services named, the country (%s) "
                 "or the category (%s): mechanism queue, flagged for referral",
                 country, category);
        return;
    }
    size_t off = 0;
    for (size_t i = 0; i < own->n && off < len; i++) {
        const Owner *o = &own->owners[i];
        int n;
        if (i == 0)
            n = snprintf(buf + off, len - off,
                         "owners: lead %s (%s, %s: %s; lead by involvement, then sector rank %d "
                         "for %s)",
                         o->member->slug, o->member->sector,
                         owners_involvement_name(o->involvement), o->why,
                         rules_lead_rank(r, category, o->member->sector) + 1, category);
        else
            n = snprintf(buf + off, len - off, "; %s %s (%s, %s: %s)", owners_role(own, i),
                         o->member->slug, o->member->sector,
                         owners_involvement_name(o->involvement), o->why);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
