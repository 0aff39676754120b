/* Grouping grievances about one event: a cluster key (category, country and owners must be equal
 * to join a case) and a MinHash signature of the description over word pairs, whose agreement
 * estimates the Jaccard similarity of two descriptions. Unrelated texts agree in almost no
 * position, so they never merge by chance; texts differing in a few words (a place, a date, a
 * name) agree in most. Pure computation: the worker decides with these what joins what. */
#ifndef REDRESS_TRIAGE_CLUSTER_H
#define REDRESS_TRIAGE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_SIG_LEN 64                      /* hash functions (values in a signature) */
#define CLUSTER_SIG_BYTES (CLUSTER_SIG_LEN * 4) /* stored as bytea, little-endian */

/* The MinHash signature of a text: lower-cased words (letters and digits; any non-ASCII byte
 * counts as a letter), hashed in overlapping pairs (a text of one word: that word). */
void cluster_signature(const char *text, uint32_t sig[CLUSTER_SIG_LEN]);
/* Estimated Jaccard similarity 0..1: the share of positions where the signatures agree. */
double cluster_similarity(const uint32_t *a, const uint32_t *b);
/* Signature <-> bytes (CLUSTER_SIG_BYTES), and hex text for the database. */
void cluster_signature_hex(const uint32_t sig[CLUSTER_SIG_LEN],
                           char out[2 * CLUSTER_SIG_BYTES + 1]);
/* Parses hex (optionally with PostgreSQL's "\x" prefix); 0, or -1 when malformed. */
int cluster_signature_parse(const char *hex, uint32_t sig[CLUSTER_SIG_LEN]);

/* "category|country|id,id,..." with member ids ascending (caller sorts), "-" when none.
 * Returns malloc'ed text, caller frees. */
char *cluster_key_make(const char *category, const char *country, const long long *members,
                       size_t n);
/* The 32-bit advisory lock id of a key (FNV-1a): workers that might open the same collective
 * case serialise on it. Collisions only serialise more. */
int32_t cluster_lock_id(const char *key);
/* Sorts lock ids ascending and drops repeats (the one global order of taking them); the new
 * count in *n. */
void cluster_lock_ids_sort(int32_t *ids, size_t *n);

#endif
