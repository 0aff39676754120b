/* References (Crockford base32 with mod-37 check symbol) and receipts (HMAC-derived). */
#include "reference.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* 32 data symbols, then the 5 extra check symbols of Crockford's scheme. */
static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* The value of a typed symbol (after case folding and aliases), or -1. */
static int crockford_value(char c, bool allow_check)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    if (c == 'O')
        c = '0';
    if (c == 'I' || c == 'L')
        c = '1';
    const char *p = c ? strchr(crockford, c) : NULL;
    if (!p)
        return -1;
    int v = (int)(p - crockford);
    return (v < 32 || allow_check) ? v : -1;
}

static int reference_check_value(const char *data, size_t n)
{
    /* The data symbols read as one base-32 number, modulo 37 (Crockford's check). */
    int mod = 0;
    for (size_t i = 0; i < n; i++)
        mod = (mod * 32 + crockford_value(data[i], false)) % 37;
    return mod;
}

void reference_generate(char out[REFERENCE_LEN + 1])
{
    unsigned char rnd[REFERENCE_LEN - 1];
    random_bytes(rnd, sizeof rnd);
    for (int i = 0; i < REFERENCE_LEN - 1; i++)
        out[i] = crockford[rnd[i] & 31];
    out[REFERENCE_LEN - 1] = crockford[reference_check_value(out, REFERENCE_LEN - 1)];
    out[REFERENCE_LEN] = '\0';
}

bool reference_normalize(const char *in, char out[REFERENCE_LEN + 1])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (n == REFERENCE_LEN)
            return false;
        bool last = p[1] == '\0' || strspn(p + 1, "- ") == strlen(p + 1);
        int v = crockford_value(*p, last);
        if (v < 0)
            return false;
        out[n++] = crockford[v];
    }
    out[n] = '\0';
    if (n != REFERENCE_LEN)
        return false;
    return crockford[reference_check_value(out, REFERENCE_LEN - 1)] == out[REFERENCE_LEN - 1];
}

bool receipt_normalize(const char *in, char out[RECEIPT_LEN + 1])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        int v = crockford_value(*p, false);
        if (v < 0 || n == RECEIPT_LEN)
            return false;
        out[n++] = crockford[v];
    }
    out[n] = '\0';
    return n == RECEIPT_LEN;
}

void receipt_derive(const unsigned char key[32], const char *reference, char out[RECEIPT_LEN + 1])
{
    unsigned char mac[32];
    hmac_sha256(key, reference, strlen(reference), mac);
    /* 26 symbols of 5 bits = 130 bits: the first 128 bits of the MAC, zero-padded. */
    unsigned int acc = 0, bits = 0;
    size_t n = 0, i = 0;
    while (n < RECEIPT_LEN) {
        if (bits < 5) {
            acc = (acc << 8) | (i < 16 ? mac[i] : 0);
            i++;
            bits += 8;
        }
        out[n++] = crockford[(acc >> (bits - 5)) & 31];
        bits -= 5;
    }
    out[RECEIPT_LEN] = '\0';
}

void receipt_hash(const char *receipt, unsigned char out[32])
{
    sha256_bytes(receipt, strlen(receipt), out);
}
