/* Planning a triage batch (plan.h): grouping by cluster key in an open-addressing table, the most
 * similar recent case of a key per grievance, owners, and the scores of touched cases. */
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlarray.h"
#include "txn.h"
#include "util.h"

void plan_init(Plan *p)
{
    memset(p, 0, sizeof *p);
    p->tablecap = 64;
    p->table = xcalloc(p->tablecap, sizeof *p->table);
}

void plan_free(Plan *p)
{
    for (size_t i = 0; i < p->nitems; i++) {
        PlanItem *it = &p->items[i];
        sqlarray_strings_free(it->companies, it->ncompanies);
        sqlarray_strings_free(it->services, it->nservices);
        sqlarray_strings_free(it->vuln, it->nvuln);
        free(it->country);
        free(it->category);
        free(it->key);
    }
    for (size_t i = 0; i < p->ncases; i++) {
        for (size_t j = 0; j < p->cases[i].nvuln; j++)
            free(p->cases[i].vuln[j]);
        free(p->cases[i].score);
    }
    for (size_t i = 0; i < p->ngroups; i++) {
        free(p->groups[i].key);
        free(p->groups[i].cases);
    }
    free(p->items);
    free(p->cases);
    free(p->groups);
    free(p->table);
    memset(p, 0, sizeof *p);
}

static uint64_t plan_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The table slot of key: its group's, or the empty slot where it would go. */
static size_t plan_slot(const Plan *p, const char *key)
{
    size_t mask = p->tablecap - 1;
    size_t i = (size_t)plan_hash(key) & mask;
    while (p->table[i] != 0 && strcmp(p->groups[p->table[i] - 1].key, key) != 0)
        i = (i + 1) & mask;
    return i;
}

static void plan_table_grow(Plan *p)
{
    free(p->table);
    p->tablecap *= 2;
    p->table = xcalloc(p->tablecap, sizeof *p->table);
    for (size_t g = 0; g < p->ngroups; g++)
        p->table[plan_slot(p, p->groups[g].key)] = g + 1;
}

/* The group of a key, made when new (takes a copy of key). */
static size_t plan_group(Plan *p, const char *key)
{
    size_t i = plan_slot(p, key);
    if (p->table[i] != 0)
        return p->table[i] - 1;
    if (p->ngroups == p->capgroups) {
        p->capgroups = p->capgroups ? 2 * p->capgroups : 64;
        p->groups = xrealloc(p->groups, p->capgroups * sizeof *p->groups);
    }
    PlanGroup *g = &p->groups[p->ngroups];
    memset(g, 0, sizeof *g);
    g->key = xstrdup(key);
    g->lock = cluster_lock_id(key);
    p->table[i] = ++p->ngroups;
    if (2 * p->ngroups > p->tablecap)
        plan_table_grow(p);
    return p->ngroups - 1;
}

static size_t plan_case_new(Plan *p, size_t group)
{
    if (p->ncases == p->capcases) {
        p->capcases = p->capcases ? 2 * p->capcases : 64;
        p->cases = xrealloc(p->cases, p->capcases * sizeof *p->cases);
    }
    size_t ci = p->ncases++;
    PlanCase *c = &p->cases[ci];
    memset(c, 0, sizeof *c);
    c->group = group;
    c->old_band = -1;
    PlanGroup *g = &p->groups[group];
    if (g->ncases == g->capcases) {
        g->capcases = g->capcases ? 2 * g->capcases : 4;
        g->cases = xrealloc(g->cases, g->capcases * sizeof *g->cases);
    }
    g->cases[g->ncases++] = ci;
    return ci;
}

static int plan_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

void plan_item_add(Plan *p, const Rules *rules, const Members *members, PlanGrievance *g)
{
    if (p->nitems == p->capitems) {
        p->capitems = p->capitems ? 2 * p->capitems : 256;
        p->items = xrealloc(p->items, p->capitems * sizeof *p->items);
    }
    PlanItem *it = &p->items[p->nitems++];
    memset(it, 0, sizeof *it);
    it->id = g->id;
    it->received = g->received;
    it->country = xstrdup(g->country);
    it->category = xstrdup(g->category);
    it->people = g->people < 1 ? 1 : g->people;
    it->ongoing = g->ongoing;
    it->danger = g->danger;
    it->companies = g->companies;
    it->ncompanies = g->ncompanies;
    it->services = g->services;
    it->nservices = g->nservices;
    it->vuln = g->vuln;
    it->nvuln = g->nvuln;
    g->companies = g->services = g->vuln = NULL;
    g->ncompanies = g->nservices = g->nvuln = 0;

    OwnersInput oin = {it->category,
                       it->country,
                       (const char *const *)it->companies,
                       it->ncompanies,
                       (const char *const *)it->services,
                       it->nservices};
    owners_decide(rules, members, &oin, &it->own);
    long long ids[OWNERS_MAX];
    for (size_t i = 0; i < it->own.n; i++)
        ids[i] = it->own.owners[i].member->id;
    /* cppcheck-suppress uninitvar ; qsort reads only the it->own.n entries the loop set */
    qsort(ids, it->own.n, sizeof *ids, plan_cmp_ll);
    it->key = cluster_key_make(it->category, it->country, ids, it->own.n);
    it->group = plan_group(p, it->key);
    cluster_signature(g->description, it->sig);
}

int32_t *plan_lock_ids(const Plan *p, size_t *n)
{
    int32_t *ids = xmalloc((p->ngroups + 1) * sizeof *ids);
    for (size_t i = 0; i < p->ngroups; i++)
        ids[i] = p->groups[i].lock;
    *n = p->ngroups;
    cluster_lock_ids_sort(ids, n);
    return ids;
}

double plan_candidates_since(const Plan *p, const Rules *rules)
{
    double since = INFINITY;
    for (size_t i = 0; i < p->nitems; i++)
        if (p->items[i].received < since)
            since = p->items[i].received;
    return since - rules->window_h * 3600;
}

PlanCase *plan_candidate_add(Plan *p, const char *key)
{
    size_t i = plan_slot(p, key);
    if (p->table[i] == 0)
        return NULL;
    size_t ci = plan_case_new(p, p->table[i] - 1); /* may move p->cases */
    return &p->cases[ci];
}

static bool plan_vuln_ok(const char *s)
{
    if (!*s || strlen(s) > 40)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

void plan_case_vuln_add(PlanCase *c, const char *v)
{
    if (!plan_vuln_ok(v) || c->nvuln == PLAN_MAX_VULN)
        return;
    for (size_t i = 0; i < c->nvuln; i++)
        if (strcmp(c->vuln[i], v) == 0)
            return;
    c->vuln[c->nvuln++] = xstrdup(v);
}

void plan_case_vuln_join(const PlanCase *c, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nvuln && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", c->vuln[i]);
}

static void plan_case_join(PlanCase *c, const PlanItem *it)
{
    c->count++;
    c->added++;
    if (it->people > c->people)
        c->people = it->people;
    if (c->count > c->people)
        c->people = c->count;
    if (it->received > c->last)
        c->last = it->received;
    if (it->received < c->first)
        c->first = it->received;
    c->ongoing = c->ongoing || it->ongoing;
    c->danger = c->danger || it->danger;
    for (size_t i = 0; i < it->nvuln; i++)
        plan_case_vuln_add(c, it->vuln[i]);
    c->last_gid = it->id;
    c->category = it->category;
    c->country = it->country;
}

void plan_assign(Plan *p, const Rules *rules)
{
    double window = rules->window_h * 3600;
    for (size_t i = 0; i < p->nitems; i++) {
        PlanItem *it = &p->items[i];
        PlanGroup *g = &p->groups[it->group];
        double best_sim = -1;
        size_t best = 0;
        size_t singles = 0;
        /* Every collective case of the group, and the most recent single cases. */
        for (size_t k = g->ncases; k-- > 0;) {
            PlanCase *c = &p->cases[g->cases[k]];
            if (c->count <= 1 && singles++ >= (size_t)rules->max_candidates)
                continue;
            if (it->received > c->last + window || it->received < c->first - window)
                continue;
            double sim = cluster_similarity(it->sig, c->sig);
            if (sim > best_sim) {
                best_sim = sim;
                best = g->cases[k];
            }
        }
        if (best_sim >= rules->similarity) {
            it->ci = best;
        } else {
            it->ci = plan_case_new(p, it->group);
            PlanCase *c = &p->cases[it->ci];
            c->is_new = true;
            c->opener = i;
            memcpy(c->sig, it->sig, sizeof c->sig);
            c->first = c->last = it->received;
            txn_case_reference(c->reference);
        }
        plan_case_join(&p->cases[it->ci], it);
    }
}

void plan_score(Plan *p, const Rules *rules)
{
    for (size_t i = 0; i < p->ncases; i++) {
        PlanCase *c = &p->cases[i];
        if (c->added == 0)
            continue;
        ScoreInput in = {c->category, c->people, c->count,
                         c->ongoing,  c->danger, (const char *const *)c->vuln,
                         c->nvuln};
        if (!c->score)
            c->score = xmalloc(sizeof *c->score);
        score_compute(rules, &in, c->score);
    }
}

bool plan_case_rescored(const PlanCase *c)
{
    return c->is_new || fabs(c->score->score - c->old_score) >= 0.005 ||
           c->old_band != (int)c->score->band || c->old_version;
}
