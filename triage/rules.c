/* Loading the triage rules file: inih through common/inifile.c (which knows line numbers), one
 * handler per section, each value checked where it is read so an error names file and line.
 * Cross-checks that need the whole file (required keys, band order) run after parsing. */
#include "rules.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inifile.h"
#include "util.h"

static const char *const band_names[BAND_COUNT] = {"P1", "P2", "P3", "P4"};

const char *band_name(Band b)
{
    return (b >= 0 && b < BAND_COUNT) ? band_names[b] : "?";
}

int band_parse(const char *s)
{
    for (int i = 0; i < BAND_COUNT; i++)
        if (strcmp(s, band_names[i]) == 0)
            return i;
    return -1;
}

/* Weights: each a key of [weights] and where it goes. */
typedef struct {
    const char *name;
    size_t offset;
    double max;
} RulesWeight;

static const RulesWeight rules_weights[] = {
    {"scale_per_gravity", offsetof(Rules, scale_per_gravity), 10},
    {"scope_per_decade", offsetof(Rules, scope_per_decade), 100},
    {"scope_max", offsetof(Rules, scope_max), 100},
    {"irremediable", offsetof(Rules, irremediable), 100},
    {"worsens", offsetof(Rules, worsens), 100},
    {"ongoing", offsetof(Rules, ongoing), 100},
    {"vulnerability_max", offsetof(Rules, vulnerability_max), 100},
};
#define RULES_NWEIGHTS (sizeof rules_weights / sizeof rules_weights[0])

typedef struct {
    Rules *r;
    const Taxonomy *tax;
    char *err;
    size_t errlen;
    unsigned weights_set; /* bit i: rules_weights[i] seen */
    unsigned bands_set;   /* bit b: [bands] Pb seen */
    unsigned deadlines_set;
    unsigned cluster_set; /* bits: window_hours, similarity, max_candidates */
} RulesLoad;

static int rules_fail(RulesLoad *ld, int line, const char *section, const char *name,
                      const char *value, const char *why)
{
    snprintf(ld->err, ld->errlen, "%s:%d: [%s] %s = '%s': %s", ld->r->path, line, section, name,
             value, why);
    return 0;
}

static bool rules_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static RulesCategory *rules_category_get(Rules *r, const char *id)
{
    for (size_t i = 0; i < r->ncats; i++)
        if (strcmp(r->cats[i].id, id) == 0)
            return &r->cats[i];
    r->cats = xrealloc(r->cats, (r->ncats + 1) * sizeof *r->cats);
    RulesCategory *c = &r->cats[r->ncats++];
    memset(c, 0, sizeof *c);
    c->id = xstrdup(id);
    c->gravity = -1;
    c->floor = -1;
    return c;
}

/* A category key: a taxonomy id, or "default" where allow_default. */
static bool rules_category_ok(RulesLoad *ld, const char *name, bool allow_default)
{
    if (allow_default && strcmp(name, "default") == 0)
        return true;
    if (ld->tax)
        return taxonomy_has(ld->tax, TAXONOMY_CATEGORIES, name);
    return name[0] != '\0';
}

static int rules_sectors_parse(RulesLoad *ld, RulesCategory *c, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    c->nlead = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (ld->tax ? !taxonomy_has(ld->tax, TAXONOMY_SECTORS, tok) : tok[0] == '\0')
            return -1;
        if (c->nlead == RULES_MAX_SECTORS)
            return -1;
        for (int i = 0; i < c->nlead; i++)
            if (strcmp(c->lead[i], tok) == 0)
                return -1;
        c->lead[c->nlead++] = xstrdup(tok);
    }
    return c->nlead > 0 ? 0 : -1;
}

/* A comma-separated list of ids, each in the taxonomy list kind when there is a taxonomy (else
 * any id of [a-z0-9_]), no repeats. 0 with a malloc'ed vector in *out, or -1. */
static int rules_list_parse(RulesLoad *ld, const char *value, TaxonomyList kind, char ***out,
                            size_t *n)
{
    char buf[256];
    if (strlen(value) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", value);
    char **v = NULL;
    size_t k = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        bool ok = ld->tax ? taxonomy_has(ld->tax, kind, tok)
                          : strspn(tok, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(tok);
        for (size_t i = 0; ok && i < k; i++)
            ok = strcmp(v[i], tok) != 0;
        if (!ok) {
            for (size_t i = 0; i < k; i++)
                free(v[i]);
            free(v);
            return -1;
        }
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k++] = xstrdup(tok);
    }
    *out = v;
    *n = k;
    return k > 0 ? 0 : -1;
}

static void rules_strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static RulesCombination *rules_combination_get(Rules *r, const char *name, int line)
{
    for (size_t i = 0; i < r->ncombos; i++)
        if (strcmp(r->combos[i].name, name) == 0)
            return &r->combos[i];
    r->combos = xrealloc(r->combos, (r->ncombos + 1) * sizeof *r->combos);
    RulesCombination *c = &r->combos[r->ncombos++];
    memset(c, 0, sizeof *c);
    c->name = xstrdup(name);
    c->line = line;
    c->band = -1;
    return c;
}

/* One key of a [combination.NAME] section. */
static int rules_combination_key(RulesLoad *ld, int line, const char *section, const char *name,
                                 const char *value)
{
    const char *cname = section + strlen("combination.");
    if (cname[0] == '\0' || strlen(cname) > 40 ||
        strspn(cname, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(cname))
        return rules_fail(ld, line, section, name, value,
                          "a combination is named [combination.NAME], NAME of a-z, 0-9, _");
    RulesCombination *c = rules_combination_get(ld->r, cname, line);
    double v;
    if (strcmp(name, "categories") == 0) {
        if (c->ncategories)
            return rules_fail(ld, line, section, name, value, "given twice");
        if (rules_list_parse(ld, value, TAXONOMY_CATEGORIES, &c->categories, &c->ncategories) < 0)
            return rules_fail(ld, line, section, name, value,
                              "must list distinct harm categories of the taxonomy");
    } else if (strcmp(name, "vulnerability") == 0) {
        if (c->nvuln)
            return rules_fail(ld, line, section, name, value, "given twice");
        if (rules_list_parse(ld, value, TAXONOMY_VULNERABILITY, &c->vuln, &c->nvuln) < 0)
            return rules_fail(ld, line, section, name, value,
                              "must list distinct vulnerability flags of the taxonomy");
    } else if (strcmp(name, "ongoing") == 0) {
        if (strcmp(value, "required") == 0)
            c->ongoing = 1;
        else if (strcmp(value, "any") == 0)
            c->ongoing = 0;
        else
            return rules_fail(ld, line, section, name, value, "must be required or any");
    } else if (strcmp(name, "points") == 0) {
        if (!rules_number(value, 0, 100, &v))
            return rules_fail(ld, line, section, name, value, "points must be a number 0..100");
        c->points = v;
    } else if (strcmp(name, "band") == 0) {
        if ((c->band = band_parse(value)) < 0)
            return rules_fail(ld, line, section, name, value, "must be P1, P2, P3 or P4");
    } else if (strcmp(name, "why") == 0) {
        if (value[0] == '\0' || c->why)
            return rules_fail(ld, line, section, name, value,
                              "give the reason shown in the explanation, once");
        c->why = xstrdup(value);
    } else {
        return rules_fail(ld, line, section, name, value,
                          "unknown key (categories, vulnerability, ongoing, points, band, why)");
    }
    return 1;
}

static int rules_handler(void *user, const char *section, const char *name, const char *value,
                         int line)
{
    RulesLoad *ld = user;
    Rules *r = ld->r;
    double v;

    if (ld->err[0])
        return 0; /* inih goes on after an error: keep the first one */

    if (section[0] == '\0' || strcmp(section, "rules") == 0) {
        if (strcmp(name, "version") != 0)
            return rules_fail(ld, line, section, name, value, "unknown key (only version)");
        if (value[0] == '\0' || strlen(value) > 64)
            return rules_fail(ld, line, section, name, value, "must be 1 to 64 characters");
        if (r->version)
            return rules_fail(ld, line, section, name, value, "version given twice");
        r->version = xstrdup(value);
        return 1;
    }
    if (strcmp(section, "weights") == 0) {
        for (size_t i = 0; i < RULES_NWEIGHTS; i++) {
            if (strcmp(name, rules_weights[i].name) != 0)
                continue;
            if (!rules_number(value, 0, rules_weights[i].max, &v))
                return rules_fail(ld, line, section, name, value, "must be a number in range");
            /* cppcheck-suppress invalidPointerCast ; offset is offsetof a double member of Rules */
            *(double *)((char *)r + rules_weights[i].offset) = v;
            ld->weights_set |= 1u << i;
            return 1;
        }
        return rules_fail(ld, line, section, name, value, "unknown weight");
    }
    if (strcmp(section, "gravity") == 0) {
        if (!rules_category_ok(ld, name, true))
            return rules_fail(ld, line, section, name, value, "unknown harm category");
        if (!rules_number(value, 0, 10, &v))
            return rules_fail(ld, line, section, name, value, "gravity must be a number 0..10");
        rules_category_get(r, name)->gravity = v;
        return 1;
    }
    if (strcmp(section, "irremediable") == 0 || strcmp(section, "worsens") == 0) {
        if (!rules_category_ok(ld, name, false))
            return rules_fail(ld, line, section, name, value, "unknown harm category");
        if (value[0] == '\0')
            return rules_fail(ld, line, section, name, value, "give the reason shown to people");
        RulesCategory *c = rules_category_get(r, name);
        char **slot = section[0] == 'i' ? &c->irremediable : &c->worsens;
        free(*slot);
        *slot = xstrdup(value);
        return 1;
    }
    if (strcmp(section, "floor") == 0) {
        if (!rules_category_ok(ld, name, false))
            return rules_fail(ld, line, section, name, value, "unknown harm category");
        int b = band_parse(value);
        if (b < 0)
            return rules_fail(ld, line, section, name, value, "must be P1, P2, P3 or P4");
        rules_category_get(r, name)->floor = b;
        return 1;
    }
    if (strcmp(section, "lead_sector") == 0) {
        if (!rules_category_ok(ld, name, true))
            return rules_fail(ld, line, section, name, value, "unknown harm category");
        RulesCategory *c = rules_category_get(r, name);
        for (int i = 0; i < c->nlead; i++)
            free(c->lead[i]);
        if (rules_sectors_parse(ld, c, value) < 0)
            return rules_fail(ld, line, section, name, value,
                              "must list distinct sectors (isp, telco, platform, other)");
        return 1;
    }
    if (strcmp(section, "vulnerability") == 0) {
        if (ld->tax && !taxonomy_has(ld->tax, TAXONOMY_VULNERABILITY, name))
            return rules_fail(ld, line, section, name, value, "unknown vulnerability flag");
        if (!rules_number(value, 0, 100, &v))
            return rules_fail(ld, line, section, name, value, "points must be a number 0..100");
        for (size_t i = 0; i < r->nvuln; i++)
            if (strcmp(r->vuln[i].id, name) == 0)
                return rules_fail(ld, line, section, name, value, "given twice");
        r->vuln = xrealloc(r->vuln, (r->nvuln + 1) * sizeof *r->vuln);
        r->vuln[r->nvuln].id = xstrdup(name);
        r->vuln[r->nvuln++].points = v;
        return 1;
    }
    if (strcmp(section, "bands") == 0) {
        int b = band_parse(name);
        if (b < 0 || b == BAND_P4)
            return rules_fail(ld, line, section, name, value,
                              "bands are P1, P2, P3 (the lowest score of each; P4 is the rest)");
        if (!rules_number(value, 0, 100, &v))
            return rules_fail(ld, line, section, name, value, "must be a score 0..100");
        r->band_min[b] = v;
        ld->bands_set |= 1u << b;
        return 1;
    }
    if (strncmp(section, "combination.", strlen("combination.")) == 0)
        return rules_combination_key(ld, line, section, name, value);
    if (strcmp(section, "deadlines") == 0) {
        int b = strcmp(name, "immediate_danger") == 0 ? RULES_DEADLINE_DANGER : band_parse(name);
        int h[STAGE_COUNT], n = -1;
        if (b < 0)
            return rules_fail(ld, line, section, name, value,
                              "rows are P1, P2, P3, P4 and immediate_danger");
        if (sscanf(value, "%d , %d , %d %n", &h[0], &h[1], &h[2], &n) != 3 || n < 0 ||
            value[n] != '\0' || h[0] < 1 || h[0] > h[1] || h[1] > h[2] || h[2] > 24 * 365)
            return rules_fail(ld, line, section, name, value,
                              "must be three hours 'acknowledge, first response, remedy "
                              "proposal', ascending, at most a year");
        memcpy(r->deadline_h[b], h, sizeof h);
        ld->deadlines_set |= 1u << b;
        return 1;
    }
    if (strcmp(section, "cluster") == 0) {
        if (strcmp(name, "window_hours") == 0) {
            if (!rules_number(value, 0, 24 * 365, &v))
                return rules_fail(ld, line, section, name, value, "must be hours 0..8760");
            r->window_h = v;
            ld->cluster_set |= 1;
        } else if (strcmp(name, "similarity") == 0) {
            if (!rules_number(value, 0.05, 1, &v))
                return rules_fail(ld, line, section, name, value, "must be a number 0.05..1");
            r->similarity = v;
            ld->cluster_set |= 2;
        } else if (strcmp(name, "max_candidates") == 0) {
            if (!rules_number(value, 1, 10000, &v) || v != floor(v))
                return rules_fail(ld, line, section, name, value,
                                  "must be a whole number 1..10000");
            r->max_candidates = (int)v;
            ld->cluster_set |= 4;
        } else {
            return rules_fail(ld, line, section, name, value, "unknown key");
        }
        return 1;
    }
    return rules_fail(ld, line, section, name, value, "unknown section");
}

Rules *rules_load(const char *path, const Taxonomy *tax, char *err, size_t errlen)
{
    Rules *r = xcalloc(1, sizeof *r);
    RulesLoad ld = {r, tax, err, errlen, 0, 0, 0, 0};
    r->path = xstrdup(path);
    err[0] = '\0';
    int rc = inifile_parse(path, rules_handler, &ld);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (rc > 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "%s:%d: not valid INI (or a line longer than 199 characters)",
                     path, rc);
        goto fail;
    }
    if (!r->version) {
        snprintf(err, errlen, "%s: version missing (a `version = ...` line at the top)", path);
        goto fail;
    }
    for (size_t i = 0; i < RULES_NWEIGHTS; i++)
        if (!(ld.weights_set & (1u << i))) {
            snprintf(err, errlen, "%s: [weights] %s missing", path, rules_weights[i].name);
            goto fail;
        }
    if (ld.bands_set != 7) {
        snprintf(err, errlen, "%s: [bands] needs P1, P2 and P3", path);
        goto fail;
    }
    if (!(r->band_min[BAND_P1] > r->band_min[BAND_P2] &&
          r->band_min[BAND_P2] > r->band_min[BAND_P3])) {
        snprintf(err, errlen, "%s: [bands] P1 > P2 > P3 does not hold", path);
        goto fail;
    }
    if (ld.deadlines_set != 31) {
        snprintf(err, errlen, "%s: [deadlines] needs P1, P2, P3, P4 and immediate_danger", path);
        goto fail;
    }
    for (int s = 0; s < STAGE_COUNT; s++)
        if (r->deadline_h[RULES_DEADLINE_DANGER][s] > r->deadline_h[BAND_P1][s]) {
            snprintf(err, errlen, "%s: [deadlines] immediate_danger is longer than P1", path);
            goto fail;
        }
    for (size_t i = 0; i < r->ncombos; i++) {
        const RulesCombination *c = &r->combos[i];
        const char *missing = !c->ncategories                    ? "categories"
                              : !c->why                          ? "why"
                              : !(c->points > 0 || c->band >= 0) ? "points or band"
                                                                 : NULL;
        if (missing) {
            snprintf(err, errlen, "%s:%d: [combination.%s] needs %s", path, c->line, c->name,
                     missing);
            goto fail;
        }
    }
    for (int b = BAND_P2; b < BAND_COUNT; b++)
        for (int s = 0; s < STAGE_COUNT; s++)
            if (r->deadline_h[b][s] < r->deadline_h[b - 1][s]) {
                snprintf(err, errlen, "%s: [deadlines] %s is shorter than %s", path, band_names[b],
                         band_names[b - 1]);
                goto fail;
            }
    if (ld.cluster_set != 7) {
        snprintf(err, errlen, "%s: [cluster] needs window_hours, similarity, max_candidates", path);
        goto fail;
    }
    for (size_t i = 0; i < r->ncats; i++)
        if (strcmp(r->cats[i].id, "default") == 0)
            r->def = &r->cats[i];
    if (!r->def || r->def->gravity < 0 || r->def->nlead == 0) {
        snprintf(err, errlen, "%s: [gravity] default and [lead_sector] default are required", path);
        goto fail;
    }
    return r;
fail:
    rules_free(r);
    return NULL;
}

void rules_free(Rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncats; i++) {
        free(r->cats[i].id);
        free(r->cats[i].irremediable);
        free(r->cats[i].worsens);
        for (int j = 0; j < r->cats[i].nlead; j++)
            free(r->cats[i].lead[j]);
    }
    for (size_t i = 0; i < r->nvuln; i++)
        free(r->vuln[i].id);
    for (size_t i = 0; i < r->ncombos; i++) {
        free(r->combos[i].name);
        free(r->combos[i].why);
        rules_strings_free(r->combos[i].categories, r->combos[i].ncategories);
        rules_strings_free(r->combos[i].vuln, r->combos[i].nvuln);
    }
    free(r->combos);
    free(r->cats);
    free(r->vuln);
    free(r->version);
    free(r->path);
    free(r);
}

const RulesCategory *rules_category(const Rules *r, const char *id)
{
    for (size_t i = 0; i < r->ncats; i++)
        if (strcmp(r->cats[i].id, id) == 0)
            return &r->cats[i];
    return r->def;
}

double rules_gravity(const Rules *r, const char *id)
{
    const RulesCategory *c = rules_category(r, id);
    return c->gravity >= 0 ? c->gravity : r->def->gravity;
}

double rules_vulnerability(const Rules *r, const char *id)
{
    for (size_t i = 0; i < r->nvuln; i++)
        if (strcmp(r->vuln[i].id, id) == 0)
            return r->vuln[i].points;
    return 0;
}

int rules_lead_rank(const Rules *r, const char *category, const char *sector)
{
    const RulesCategory *c = rules_category(r, category);
    if (c->nlead == 0)
        c = r->def;
    for (int i = 0; i < c->nlead; i++)
        if (strcasecmp(c->lead[i], sector) == 0)
            return i;
    return c->nlead;
}

void rules_deadlines_literal(const Rules *r, char *buf, size_t len)
{
    const int(*h)[STAGE_COUNT] = r->deadline_h;
    snprintf(buf, len, "{{%d,%d,%d},{%d,%d,%d},{%d,%d,%d},{%d,%d,%d},{%d,%d,%d}}", h[0][0], h[0][1],
             h[0][2], h[1][0], h[1][1], h[1][2], h[2][0], h[2][1], h[2][2], h[3][0], h[3][1],
             h[3][2], h[4][0], h[4][1], h[4][2]);
}
