/* Members of the joint mechanism (see member.h). Adding a member also creates its remedy team's
 * role team_<slug>: member_add() (sql/006_integrity.sql) does both in one statement, so a member
 * never exists without its role. Lists are passed to SQL as one
 * comma-joined parameter and split there: no SQL is built from input. */
#include "member.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "csvread.h"
#include "output.h"
#include "util.h"

#define MEMBER_LIST_MAX 64

static const char *const sectors[] = {"isp", "telco", "platform", "other", NULL};

int member_team_role(const char *slug, char *out, size_t outlen)
{
    size_t n = strlen(slug);
    if (n == 0 || n > 47 || !(islower((unsigned char)slug[0]) || isdigit((unsigned char)slug[0])))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)slug[i]) || isdigit((unsigned char)slug[i]) || slug[i] == '-'))
            return -1;
    if ((size_t)snprintf(out, outlen, "team_%s", slug) >= outlen)
        return -1;
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
    return 0;
}

/* Normalises a list cell ("KE, ug" or "KE;UG") into "KE,UG" in out; countries upper-cased and
 * checked as two letters, services lower-cased and checked as [a-z0-9_-]. 0, or -1 with why. */
static int member_list_norm(const char *in, char sep, bool countries, char *out, size_t outlen,
                            char *why, size_t whylen)
{
    char *copy = xstrdup(in ? in : "");
    char *items[MEMBER_LIST_MAX];
    size_t off = 0;
    int rc = -1;
    int n = csvread_split(copy, sep, items, MEMBER_LIST_MAX);
    out[0] = '\0';
    if (n < 0) {
        snprintf(why, whylen, "more than %d entries", MEMBER_LIST_MAX);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        char *s = items[i];
        size_t len = strlen(s);
        for (size_t k = 0; k < len; k++) {
            s[k] = (char)(countries ? toupper((unsigned char)s[k]) : tolower((unsigned char)s[k]));
            bool ok = countries ? isupper((unsigned char)s[k])
                                : (islower((unsigned char)s[k]) || isdigit((unsigned char)s[k]) ||
                                   s[k] == '_' || s[k] == '-');
            if (!ok)
                goto bad;
        }
        if ((countries && len != 2) || len > 64)
            goto bad;
        int w = snprintf(out + off, outlen - off, "%s%s", i ? "," : "", s);
        if (w < 0 || (size_t)w >= outlen - off) {
            snprintf(why, whylen, "list too long");
            goto fail;
        }
        off += (size_t)w;
        continue;
    bad:
        snprintf(why, whylen, "'%s' is not a %s", s,
                 countries ? "two-letter country code" : "service name ([a-z0-9_-])");
        goto fail;
    }
    rc = 0;
fail:
    free(copy);
    return rc;
}

/* Inserts one member and ensures its team role, in the caller's transaction. where prefixes the
 * error ("line 3: " for imports). 0, or -1 (printed, rolled back). */
static int member_insert(Ctx *ctx, const char *where, const char *slug, const char *name,
                         const char *sector, const char *countries, const char *services, char sep)
{
    char role[64], c_norm[1024], s_norm[4096], why[160];
    if (member_team_role(slug, role, sizeof role) < 0) {
        ctx_error("%sslug '%s' must be 1-47 characters of a-z, 0-9 and '-', starting with a letter "
                  "or digit",
                  where, slug);
        return -1;
    }
    if (!name || !*name || strlen(name) > 200) {
        ctx_error("%smember %s: the name must have 1 to 200 characters", where, slug);
        return -1;
    }
    if (!sector || !args_one_of(sector, sectors)) {
        ctx_error("%smember %s: the sector must be isp, telco, platform or other", where, slug);
        return -1;
    }
    if (member_list_norm(countries, sep, true, c_norm, sizeof c_norm, why, sizeof why) < 0) {
        ctx_error("%smember %s: countries: %s", where, slug, why);
        return -1;
    }
    if (member_list_norm(services, sep, false, s_norm, sizeof s_norm, why, sizeof why) < 0) {
        ctx_error("%smember %s: services: %s", where, slug, why);
        return -1;
    }
    const char *p[] = {slug, name, sector, c_norm, s_norm};
    char what[128];
    snprintf(what, sizeof what, "%sadding member %s", where, slug);
    /* member_add() inserts the member and creates its team role in one statement. */
    return ctx_run(ctx, what,
                   "SELECT member_add($1, $2, $3, string_to_array(nullif($4, ''), ','), "
                   "string_to_array(nullif($5, ''), ','))",
                   5, p);
}

#define MEMBER_JSON                                                                                \
    "json_build_object('slug', m.slug, 'name', m.name, 'sector', m.sector, "                       \
    "'countries', m.countries, 'services', m.services, 'team_role', m.team_role, "                 \
    "'created_at', m.created_at)"

static int member_print_one(Ctx *ctx, const char *slug, bool with_cases)
{
    const char *p[] = {slug};
    PGresult *res = ctx_exec(
        ctx, "reading the member",
        with_cases
            ? "SELECT (" MEMBER_JSON "::jsonb || jsonb_build_object('cases', coalesce(("
              "  SELECT jsonb_object_agg(s.status, s.n) FROM (SELECT c.status, count(*) AS n "
              "  FROM case_owner o JOIN remedy_case c ON c.id = o.case_id WHERE o.member_id = m.id "
              "  GROUP BY c.status) s), '{}'::jsonb)))::text FROM member m WHERE m.slug = $1"
            : "SELECT " MEMBER_JSON "::text FROM member m WHERE m.slug = $1",
        1, p);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        ctx_error("no member '%s'", slug);
        PQclear(res);
        return -1;
    }
    json_t *m = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!m)
        return -1;
    if (ctx->json) {
        out_json_print(stdout, m);
    } else {
        char b[64];
        const char *key;
        json_t *v;
        printf("member %s\n", json_string_value(json_object_get(m, "slug")));
        out_kv(stdout, "name", json_string_value(json_object_get(m, "name")));
        out_kv(stdout, "sector", json_string_value(json_object_get(m, "sector")));
        char *c = json_dumps(json_object_get(m, "countries"), JSON_COMPACT);
        char *s = json_dumps(json_object_get(m, "services"), JSON_COMPACT);
        out_kv(stdout, "countries", c);
        out_kv(stdout, "services", s);
        free(c);
        free(s);
        out_kv(stdout, "team role", json_string_value(json_object_get(m, "team_role")));
        json_object_foreach(json_object_get(m, "cases"), key, v)
        {
            char k[64];
            snprintf(k, sizeof k, "cases %s", key);
            out_kv(stdout, k, out_json_cell(v, b, sizeof b));
        }
    }
    json_decref(m);
    return 0;
}

int member_cmd_add(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"name", NULL, true},
                     {"sector", NULL, true},
                     {"countries", NULL, true},
                     {"services", NULL, true}};
    ArgPos pos;
    if (ctx_args(argc, argv, opts, 4, 1, 1, &pos) < 0)
        return CTL_USAGE;
    if (!args_value(opts, 4, "name") || !args_value(opts, 4, "sector")) {
        ctx_error("--name and --sector are required");
        return CTL_USAGE;
    }
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, false) < 0)
        return CTL_FAIL;
    if (member_insert(ctx, "", pos.pos[0], args_value(opts, 4, "name"),
                      args_value(opts, 4, "sector"), args_value(opts, 4, "countries"),
                      args_value(opts, 4, "services"), ',') < 0 ||
        ctx_commit(ctx) < 0)
        return CTL_FAIL;
    return member_print_one(ctx, pos.pos[0], false) < 0 ? CTL_FAIL : CTL_OK;
}

int member_cmd_list(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    if (ctx_args(argc, argv, NULL, 0, 0, 0, &pos) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0)
        return CTL_FAIL;
    PGresult *res =
        ctx_exec(ctx, "listing members",
                 "SELECT coalesce(json_agg(" MEMBER_JSON " ORDER BY m.slug), '[]')::text "
                 "FROM member m",
                 0, NULL);
    if (!res)
        return CTL_FAIL;
    json_t *list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!list)
        return CTL_FAIL;
    if (ctx->json) {
        out_json_print(stdout, list);
    } else {
        static const char *const hdr[] = {"slug",      "name",     "sector",
                                          "countries", "services", "team role"};
        OutTable *t = out_table_new(hdr, 6);
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            char *c = json_dumps(json_object_get(m, "countries"), JSON_COMPACT);
            char *s = json_dumps(json_object_get(m, "services"), JSON_COMPACT);
            const char *cells[6] = {json_string_value(json_object_get(m, "slug")),
                                    json_string_value(json_object_get(m, "name")),
                                    json_string_value(json_object_get(m, "sector")),
                                    c,
                                    s,
                                    json_string_value(json_object_get(m, "team_role"))};
            out_table_add(t, cells);
            free(c);
            free(s);
        }
        out_table_print(t, stdout);
        out_table_free(t);
    }
    json_decref(list);
    return CTL_OK;
}

int member_cmd_show(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    if (ctx_args(argc, argv, NULL, 0, 1, 1, &pos) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0)
        return CTL_FAIL;
    return member_print_one(ctx, pos.pos[0], true) < 0 ? CTL_FAIL : CTL_OK;
}

/* member import: the header names the columns (any order, all five required). */
typedef struct {
    Ctx *ctx;
    int col[5]; /* slug, name, sector, countries, services: index in the record */
    bool header_done;
    long rows;
    json_t *slugs;
} MemberImport;

static const char *const member_columns[] = {"slug",      "name",     "sector",
                                             "countries", "services", NULL};

static int member_import_row_cb(void *user, char **f, size_t n, long line)
{
    MemberImport *mi = user;
    char where[32];
    if (!mi->header_done) {
        for (int k = 0; k < 5; k++)
            mi->col[k] = -1;
        for (size_t i = 0; i < n; i++) {
            int k = 0;
            while (member_columns[k] && strcmp(member_columns[k], f[i]) != 0)
                k++;
            if (!member_columns[k]) {
                ctx_error(
                    "line %ld: unknown column '%s' (expected slug,name,sector,countries,services)",
                    line, f[i]);
                return -1;
            }
            mi->col[k] = (int)i;
        }
        for (int k = 0; k < 3; k++)
            if (mi->col[k] < 0) {
                ctx_error("line %ld: the header has no '%s' column", line, member_columns[k]);
                return -1;
            }
        mi->header_done = true;
        return 0;
    }
    const char *v[5];
    for (int k = 0; k < 5; k++)
        v[k] = (mi->col[k] >= 0 && (size_t)mi->col[k] < n) ? f[mi->col[k]] : "";
    snprintf(where, sizeof where, "line %ld: ", line);
    if (member_insert(mi->ctx, where, v[0], v[1], v[2], v[3], v[4], ';') < 0)
        return -1;
    json_array_append_new(mi->slugs, json_string(v[0]));
    mi->rows++;
    return 0;
}

int member_cmd_import(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    char err[512];
    MemberImport mi = {.ctx = ctx};
    if (ctx_args(argc, argv, NULL, 0, 1, 1, &pos) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, false) < 0)
        return CTL_FAIL;
    mi.slugs = json_array();
    int rc = CTL_FAIL;
    if (csvread_file(pos.pos[0], member_import_row_cb, &mi, err, sizeof err) < 0) {
        if (err[0])
            ctx_error("%s", err);
        ctx_error("%s: nothing was imported", pos.pos[0]);
        ctx_rollback(ctx);
        goto done;
    }
    if (!mi.header_done) {
        ctx_error("%s: empty file (a header slug,name,sector,countries,services is needed)",
                  pos.pos[0]);
        ctx_rollback(ctx);
        goto done;
    }
    if (ctx_commit(ctx) < 0)
        goto done;
    if (ctx->json) {
        json_t *o = json_pack("{s:I, s:O}", "imported", (json_int_t)mi.rows, "members", mi.slugs);
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("imported %ld member%s\n", mi.rows, mi.rows == 1 ? "" : "s");
    }
    rc = CTL_OK;
done:
    json_decref(mi.slugs);
    return rc;
}
