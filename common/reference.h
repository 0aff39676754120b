/* Public references and receipts.
 * A reference is 10 random Crockford base32 symbols (50 bits) and a Crockford check symbol
 * (mod 37), e.g. "7K3QMZ9X2FA": short enough to read over a phone, unguessable, and a mistyped
 * symbol is caught before any look-up. A receipt is the complainant's secret: 128 bits derived as
 * HMAC-SHA-256(receipt key, reference), shown once, stored only as its SHA-256; deriving it lets an
 * idempotent retry return the same receipt without storing it. */
#ifndef REDRESS_REFERENCE_H
#define REDRESS_REFERENCE_H

#include <stdbool.h>

#define REFERENCE_LEN 11 /* 10 data symbols + check symbol */
#define RECEIPT_LEN 26   /* 128 bits in Crockford base32 */

/* Writes a new random reference and NUL to out. */
void reference_generate(char out[REFERENCE_LEN + 1]);
/* Canonical form of a typed reference: upper case, hyphens and spaces dropped, O->0, I/L->1.
 * Returns false when the length or a symbol is wrong or the check symbol does not match. */
bool reference_normalize(const char *in, char out[REFERENCE_LEN + 1]);
/* Case-folded, separator-free receipt; false when it is not RECEIPT_LEN base32 symbols. */
bool receipt_normalize(const char *in, char out[RECEIPT_LEN + 1]);
void receipt_derive(const unsigned char key[32], const char *reference, char out[RECEIPT_LEN + 1]);
/* SHA-256 of the canonical receipt. */
void receipt_hash(const char *receipt, unsigned char out[32]);

#endif
