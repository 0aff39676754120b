/* MinHash over word pairs, cluster keys and their lock ids (cluster.h). Each of the
 * CLUSTER_SIG_LEN hash functions is a 64-bit mix of the pair's FNV-1a hash with its own seed. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint64_t cluster_mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t cluster_word_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return h;
}

static int cluster_is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static void cluster_shingle(uint32_t sig[CLUSTER_SIG_LEN], uint64_t h)
{
    for (int i = 0; i < CLUSTER_SIG_LEN; i++) {
        uint32_t v = (uint32_t)(cluster_mix(h ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1))) >> 32);
        if (v < sig[i])
            sig[i] = v;
    }
}

void cluster_signature(const char *text, uint32_t sig[CLUSTER_SIG_LEN])
{
    uint64_t prev = 0;
    size_t words = 0;
    for (int i = 0; i < CLUSTER_SIG_LEN; i++)
        sig[i] = UINT32_MAX;
    const char *p = text;
    while (*p) {
        while (*p && !cluster_is_word((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && cluster_is_word((unsigned char)*p))
            p++;
        if (p == start)
            break;
        uint64_t h = cluster_word_hash(start, (size_t)(p - start));
        if (words > 0)
            cluster_shingle(sig, cluster_mix(prev) * 31 + h);
        prev = h;
        words++;
    }
    if (words == 1)
        cluster_shingle(sig, prev);
}

double cluster_similarity(const uint32_t *a, const uint32_t *b)
{
    int same = 0;
    for (int i = 0; i < CLUSTER_SIG_LEN; i++)
        same += a[i] == b[i];
    return (double)same / CLUSTER_SIG_LEN;
}

void cluster_signature_hex(const uint32_t sig[CLUSTER_SIG_LEN], char out[2 * CLUSTER_SIG_BYTES + 1])
{
    unsigned char bytes[CLUSTER_SIG_BYTES];
    for (int i = 0; i < CLUSTER_SIG_LEN; i++)
        for (int j = 0; j < 4; j++)
            bytes[4 * i + j] = (unsigned char)(sig[i] >> (8 * j));
    hex_encode(bytes, sizeof bytes, out);
}

/* Each hex digit's value plus one, 0 for anything else. A batch reads tens of thousands of
 * candidate signatures (512 digits each): a table lookup per digit, not hex_decode's branches
 * (which took a ninth of the worker's CPU time). */
static const unsigned char cluster_hex[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int cluster_signature_parse(const char *hex, uint32_t sig[CLUSTER_SIG_LEN])
{
    if (hex[0] == '\\' && hex[1] == 'x')
        hex += 2;
    const unsigned char *h = (const unsigned char *)hex;
    for (int i = 0; i < CLUSTER_SIG_LEN; i++) {
        uint32_t v = 0;
        for (int j = 0; j < 4; j++, h += 2) {
            unsigned hi = cluster_hex[h[0]];
            if (!hi)
                return -1; /* not a digit, or the end of a text too short */
            unsigned lo = cluster_hex[h[1]];
            if (!lo)
                return -1;
            v |= (uint32_t)((hi - 1) << 4 | (lo - 1)) << (8 * j);
        }
        sig[i] = v;
    }
    return *h == '\0' ? 0 : -1;
}

char *cluster_key_make(const char *category, const char *country, const long long *members,
                       size_t n)
{
    size_t cap = strlen(category) + strlen(country) + 4 + n * 21;
    char *key = xmalloc(cap);
    size_t off = (size_t)snprintf(key, cap, "%s|%s|", category, country);
    if (n == 0)
        snprintf(key + off, cap - off, "-");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(key + off, cap - off, "%s%lld", i ? "," : "", members[i]);
    return key;
}

int32_t cluster_lock_id(const char *key)
{
    uint64_t h = cluster_word_hash(key, strlen(key));
    return (int32_t)(uint32_t)(h ^ (h >> 32));
}

static int cluster_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

void cluster_lock_ids_sort(int32_t *ids, size_t *n)
{
    qsort(ids, *n, sizeof *ids, cluster_cmp_i32);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (k == 0 || ids[i] != ids[k - 1])
            ids[k++] = ids[i];
    *n = k;
}
