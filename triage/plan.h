/* The pure half of a triage batch: what joins what, who owns it, how severe it is. No database:
 * the caller (batch.c) feeds claimed grievances and the open candidate cases of their cluster
 * keys, and reads back the cases to write. Unit-tested in tests/unit/test_triage_plan.c.
 *   plan_item_add (per claimed grievance) -> plan_lock_ids (the keys to lock) ->
 *   plan_candidate_add (per open case of a key) -> plan_assign -> plan_score.
 * Everything a plan points to is owned by the plan, except the rules and members (borrowed). */
#ifndef REDRESS_TRIAGE_PLAN_H
#define REDRESS_TRIAGE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "owners.h"
#include "rules.h"
#include "score.h"

#define PLAN_MAX_VULN 16

/* One claimed grievance. */
typedef struct {
    long long id;
    double received; /* epoch seconds */
    char *country, *category;
    long long people; /* >= 1 */
    bool ongoing;
    bool danger; /* the complainant said someone is in immediate danger */
    char **companies, **services, **vuln;
    size_t ncompanies, nservices, nvuln;
    Ownership own;
    char *key;    /* cluster key: category|country|owners */
    size_t group; /* index into groups */
    size_t ci;    /* its case, after plan_assign */
    uint32_t sig[CLUSTER_SIG_LEN];
} PlanItem;

/* A case the batch touches: an open candidate read from the database, or a new one. */
typedef struct {
    long long id; /* 0 for a new case until the caller draws its id */
    bool is_new;
    size_t group;
    uint32_t sig[CLUSTER_SIG_LEN];
    long long count, added, people; /* grievances in all, added by this batch, people affected */
    double first, last;             /* epoch seconds of its first and last grievance */
    bool ongoing, danger;
    char *vuln[PLAN_MAX_VULN];
    size_t nvuln;
    const char *category, *country; /* borrowed from an item */
    int old_band;                   /* -1: none */
    double old_score;
    bool old_version; /* last scored under other rules: the next decision records this version */
    long long last_gid;
    size_t opener; /* new cases: the item that opened it */
    Score *score;  /* computed for touched cases only (it is ~6 KB) */
    char reference[12];
} PlanCase;

typedef struct {
    char *key;
    int32_t lock;
    size_t *cases; /* indexes into cases, oldest first */
    size_t ncases, capcases;
} PlanGroup;

typedef struct {
    PlanItem *items;
    size_t nitems, capitems;
    PlanCase *cases;
    size_t ncases, capcases;
    PlanGroup *groups;
    size_t ngroups, capgroups;
    size_t *table; /* open addressing: group index + 1, 0 empty */
    size_t tablecap;
} Plan;

/* What a claimed grievance brings; arrays are taken over by the plan (malloc'ed vectors of
 * malloc'ed strings, as sqlarray_strings_parse makes them), strings are copied. */
typedef struct {
    long long id;
    double received;
    const char *country, *category, *description;
    long long people;
    bool ongoing, danger;
    char **companies, **services, **vuln;
    size_t ncompanies, nservices, nvuln;
} PlanGrievance;

void plan_init(Plan *p);
void plan_free(Plan *p);
/* Adds a grievance: decides its owners, cluster key and signature. */
void plan_item_add(Plan *p, const Rules *rules, const Members *members, PlanGrievance *g);
/* The advisory lock ids of the plan's cluster keys, ascending and distinct (the one global
 * order that keeps workers from deadlocking). Malloc'ed, caller frees; *n may be 0. */
int32_t *plan_lock_ids(const Plan *p, size_t *n);
/* The earliest time a candidate case may have had its last grievance to be joined. */
double plan_candidates_since(const Plan *p, const Rules *rules);
/* An open case of one of the plan's keys, read after the keys were locked: the caller fills it.
 * Candidates must come oldest first. NULL when the key is none of the plan's; the pointer is
 * valid until the next plan_candidate_add or plan_assign. */
PlanCase *plan_candidate_add(Plan *p, const char *key);
/* Adds a vulnerability flag to a case (well-formed, not yet listed, room left). */
void plan_case_vuln_add(PlanCase *c, const char *flag);
/* Each grievance joins the most similar recent case of its group, or opens a new one. */
void plan_assign(Plan *p, const Rules *rules);
/* Scores every case that gained grievances. */
void plan_score(Plan *p, const Rules *rules);
/* True when a touched case needs a new triage_decision (new, or its score, band or rules
 * version moved). */
bool plan_case_rescored(const PlanCase *c);
/* The case's flags as "a,b,c" (for string_to_array on the server). */
void plan_case_vuln_join(const PlanCase *c, char *buf, size_t len);

#endif
