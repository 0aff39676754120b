/* Joint-mechanism ownership: which members own a case, with what involvement, and who leads.
 * From the companies the complainant named (a member's slug or name, any case), the services
 * named, the country and the harm category. Only members operating in the grievance's country
 * count (a member listing no country operates everywhere):
 *   named, and its sector leads the category (rules [lead_sector])  -> caused
 *   named, other sector                                             -> contributed
 *   not named, operates a named service in the country              -> directly linked
 *   nothing named matched: members of a sector listed for the category that list the
 *   country                                                         -> directly linked
 * The lead is the owner of strongest involvement (caused > contributed > linked), then the best
 * sector for the category, then the lowest member id; caused/contributed owners are co-owners,
 * linked ones are informed. No owner: the mechanism's own queue, flagged for referral. */
#ifndef REDRESS_TRIAGE_OWNERS_H
#define REDRESS_TRIAGE_OWNERS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

#define OWNERS_MAX 16

typedef enum {
    INVOLVEMENT_CAUSED = 0,  /* its own product or act caused the harm: provides remedy */
    INVOLVEMENT_CONTRIBUTED, /* contributed to it: takes part in remedy */
    INVOLVEMENT_LINKED,      /* directly linked through its services: uses leverage */
} Involvement;

typedef struct {
    long long id;
    char *slug;
    char *name;
    char *sector;
    char **countries; /* ISO codes, upper case */
    size_t ncountries;
    char **services; /* lower-case service names */
    size_t nservices;
} Member;

typedef struct {
    Member *v;
    size_t n;
} Members;

typedef struct {
    const Member *member; /* borrowed from Members */
    Involvement involvement;
    const char *why; /* static text: how it matched */
} Owner;

typedef struct {
    Owner owners[OWNERS_MAX]; /* the lead first, then by member id */
    size_t n;                 /* 0: no member matched */
} Ownership;

/* What ownership is decided from; strings borrowed. */
typedef struct {
    const char *category;
    const char *country;
    const char *const *companies;
    size_t ncompanies;
    const char *const *services;
    size_t nservices;
} OwnersInput;

/* Reads every member. Returns 0, or -1 with the SQLSTATE in err. */
int owners_members_load(PGconn *conn, Members *out, char *err, size_t errlen);
void owners_members_free(Members *m);

void owners_decide(const Rules *r, const Members *members, const OwnersInput *in, Ownership *out);
/* "lead", "co-owner" or "informed" for owners[i]. */
const char *owners_role(const Ownership *own, size_t i);
const char *owners_involvement_name(Involvement inv);
/* The ownership decision and its reason, for the case's audit trail (no grievance text, no
 * contact data: member slugs, sectors and rule names only). */
void owners_note(const Rules *r, const Ownership *own, const char *category, const char *country,
                 char *buf, size_t len);

#endif
