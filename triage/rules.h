/* The triage rules: weights, the category gravity table, irremediable categories, vulnerability
 * points, band thresholds and per-band deadlines, the category-to-sector lead preference and the
 * clustering settings. Data in a versioned INI file (config/triage-rules.ini), not in code, so a
 * change of ranking needs no rebuild; every decision stores the version it was made with.
 * The struct is plain data, read by score.c, owners.c and the worker after loading. */
#ifndef REDRESS_TRIAGE_RULES_H
#define REDRESS_TRIAGE_RULES_H

#include <stddef.h>

#include "taxonomy.h"

typedef enum {
    BAND_P1 = 0, /* most severe: first in the queue */
    BAND_P2,
    BAND_P3,
    BAND_P4, /* least severe */
    BAND_COUNT
} Band;

typedef enum {
    STAGE_ACK = 0,  /* acknowledge */
    STAGE_RESPONSE, /* first substantive response */
    STAGE_REMEDY,   /* remedy proposal */
    STAGE_COUNT
} Stage;

#define RULES_MAX_SECTORS 8

typedef struct {
    char *id;                      /* category id, or "default" for the fallback row */
    double gravity;                /* 0..10; < 0: not set, the default row's gravity applies */
    char *irremediable;            /* why harm of this category cannot be undone, or NULL */
    char *worsens;                 /* why it worsens while ongoing, or NULL */
    int floor;                     /* lowest band a case of this category may get (Band), or -1 */
    char *lead[RULES_MAX_SECTORS]; /* sectors that lead, in order of preference */
    int nlead;                     /* 0: the default row's list applies, and no country fallback */
} RulesCategory;

typedef struct {
    char *id;
    double points;
} RulesVulnerability;

/* [combination.NAME]: harm whose category alone is a lesser one but which, for these
 * rights-holders and (optionally) while it goes on, puts life, liberty or physical integrity at
 * risk. It fires when the case's category is listed, one of its flags is listed (when any are)
 * and the harm is ongoing (when required); it adds points and/or keeps the case at least in band.
 */
typedef struct {
    char *name;        /* after "combination." */
    int line;          /* of its first key, for errors found after parsing */
    char **categories; /* harm category ids */
    size_t ncategories;
    char **vuln; /* vulnerability flags, any of which fires it; none: no condition */
    size_t nvuln;
    int ongoing; /* 1: only while the harm is ongoing; 0: either way */
    double points;
    int band;  /* lowest band a matching case may get (Band), or -1 */
    char *why; /* shown in the explanation */
} RulesCombination;

/* [deadlines] rows: one per band, then immediate danger. */
#define RULES_DEADLINE_DANGER BAND_COUNT
#define RULES_DEADLINE_ROWS (BAND_COUNT + 1)

typedef struct Rules {
    char *path;    /* the file this came from */
    char *version; /* [ ] version: stored with every decision */
    /* [weights] */
    double scale_per_gravity; /* points per gravity step (gravity 0..10) */
    double scope_per_decade;  /* points per factor of 10 people affected */
    double scope_max;
    double irremediable;      /* points for a category whose harm cannot be undone */
    double worsens;           /* points when ongoing harm worsens with time */
    double ongoing;           /* urgency: harm ongoing or imminent */
    double vulnerability_max; /* cap on the sum of vulnerability points */
    /* [gravity], [irremediable], [worsens], [floor], [lead_sector] by category */
    RulesCategory *cats;
    size_t ncats;
    RulesCategory *def; /* the "default" row (always present after loading) */
    /* [vulnerability] */
    RulesVulnerability *vuln;
    size_t nvuln;
    /* [bands]: lowest score of P1, P2, P3; below P3 is P4 */
    double band_min[BAND_P4];
    /* [combination.NAME] sections, in file order */
    RulesCombination *combos;
    size_t ncombos;
    /* [deadlines]: hours from opening, per band and stage; row RULES_DEADLINE_DANGER for cases
     * where someone is in immediate danger */
    int deadline_h[RULES_DEADLINE_ROWS][STAGE_COUNT];
    /* [cluster] */
    double window_h;    /* a case accepts grievances received this long after its last one */
    double similarity;  /* least estimated Jaccard similarity of descriptions to join a case */
    int max_candidates; /* single cases per cluster key compared, most recent first */
} Rules;

/* Loads and validates a rules file. tax (may be NULL) checks category, vulnerability and sector
 * ids. Returns the rules (caller frees with rules_free) or NULL with "file:line: reason" in err. */
Rules *rules_load(const char *path, const Taxonomy *tax, char *err, size_t errlen);
void rules_free(Rules *r);

/* The row of a category, or the default row when the file does not name it. Borrowed. */
const RulesCategory *rules_category(const Rules *r, const char *id);
/* Gravity of a category (its own or the default). */
double rules_gravity(const Rules *r, const char *id);
/* Points of a vulnerability flag; 0 for one the file does not name. */
double rules_vulnerability(const Rules *r, const char *id);
/* Sector preference for leading a case of this category: 0 best, nlead when unlisted. */
int rules_lead_rank(const Rules *r, const char *category, const char *sector);

/* The deadlines as a PostgreSQL int[5][3] literal (P1..P4, then immediate danger; stage), for
 * case_due() in SQL. */
void rules_deadlines_literal(const Rules *r, char *buf, size_t len);

const char *band_name(Band b);
/* Parses "P1".."P4"; -1 for anything else. */
int band_parse(const char *s);

#endif
