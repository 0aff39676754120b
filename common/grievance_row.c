/* Grievance -> row (see grievance_row.h). Cells are elements of PostgreSQL's binary array format
 * (array_recv): a 4-byte big-endian length, -1 for NULL, then the value's binary form (text: its
 * bytes; int4 and date: 4 big-endian bytes; bool: one byte). The database copies them instead of
 * parsing array literals, which took about a third of its work per row (issue 10). A list is a
 * text element holding an array literal, which intake_submit_rows casts back to text[]. */
#include "grievance_row.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#define GRIEVANCE_ROWS_CALL                                                                        \
    "SELECT n, reference, to_char(received_at AT TIME ZONE 'UTC', "                                \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), stored, encode(request_hash, 'hex') "                      \
    "FROM intake_submit_rows($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "         \
    "$6::text[], $7::text[], $8::text[], $9::text[], $10::integer[], $11::boolean[], "             \
    "$12::date[], "                                                                                \
    "$13::text[], $14::text[], $15::boolean[], $16::boolean[], $17::text[], $18::text[], "         \
    "$19::text[], $20::text[], $21::boolean[]"

const char GRIEVANCE_ROWS_SQL[] = GRIEVANCE_ROWS_CALL ")";
const char GRIEVANCE_ROWS_ANNOUNCE_SQL[] = GRIEVANCE_ROWS_CALL ", $22::boolean)";

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static void buf_reserve(Buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_add(Buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_addc(Buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->len++] = c;
}

static void put_be32(char *at, uint32_t v)
{
    unsigned char *u = (unsigned char *)at;
    u[0] = (unsigned char)(v >> 24);
    u[1] = (unsigned char)(v >> 16);
    u[2] = (unsigned char)(v >> 8);
    u[3] = (unsigned char)v;
}

static void buf_be32(Buf *b, uint32_t v)
{
    buf_reserve(b, 4);
    put_be32(b->p + b->len, v);
    b->len += 4;
}

/* One array element: its length, then its bytes; a NULL is the length -1 alone. */
static void cell_bytes(Buf *b, const char *s, size_t n)
{
    buf_be32(b, (uint32_t)n);
    buf_add(b, s, n);
}

static void cell_null(Buf *b)
{
    buf_be32(b, UINT32_MAX);
}

static void cell_text_or_null(Buf *b, const char *s)
{
    if (s)
        cell_bytes(b, s, strlen(s));
    else
        cell_null(b);
}

static void cell_bool(Buf *b, bool v)
{
    char c = v ? 1 : 0;
    cell_bytes(b, &c, 1);
}

static void cell_int4(Buf *b, int32_t v)
{
    buf_be32(b, 4);
    buf_be32(b, (uint32_t)v);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* PostgreSQL's day 0, 2000-01-01, in days from 1970-01-01 (days_from_civil(2000, 1, 1)). */
enum { PG_EPOCH_DAYS = 10957 };

/* A date's binary form: days since 2000-01-01. s is YYYY-MM-DD, validated by the parser. */
static void cell_date(Buf *b, const char *s)
{
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    cell_int4(b, days_from_civil(y, m, d) - PG_EPOCH_DAYS);
}

/* s quoted as an element of an array literal: '\' before '"' and '\'. */
static void buf_quoted(Buf *b, const char *s)
{
    buf_addc(b, '"');
    for (;;) {
        size_t run = strcspn(s, "\"\\");
        buf_add(b, s, run);
        s += run;
        if (!*s)
            break;
        buf_addc(b, '\\');
        buf_addc(b, *s++);
    }
    buf_addc(b, '"');
}

/* A list: a text element holding an array literal, which intake_submit_rows casts to text[]. */
static void cell_list(Buf *b, const StrList *l)
{
    size_t at = b->len;
    buf_be32(b, 0);
    buf_addc(b, '{');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_addc(b, ',');
        buf_quoted(b, l->items[i]);
    }
    buf_addc(b, '}');
    put_be32(b->p + at, (uint32_t)(b->len - at - 4));
}

void grievance_row_rekey(GrievanceRow *row, const unsigned char receipt_key[32])
{
    unsigned char hash[32];
    reference_generate(row->reference);
    receipt_derive(receipt_key, row->reference, row->receipt);
    receipt_hash(row->receipt, hash);
    hex_encode(hash, 32, row->receipt_hash_hex);
}

int grievance_row_build(GrievanceRow *row, const Grievance *g, const GrievanceRowInput *in,
                        char *err, size_t errlen)
{
    char *contact = NULL, hash_hex[65];
    memset(row, 0, sizeof *row);
    if (g->contact_json) {
        contact = contact_seal_b64(in->contact_key, g->contact_json, strlen(g->contact_json));
        if (!contact) {
            snprintf(err, errlen, "sealing the contact details failed");
            return -1;
        }
    }
    if (in->idempotency_key) {
        row->has_key = true;
        memcpy(row->request_hash, in->request_hash, 32);
        hex_encode(in->request_hash, 32, hash_hex);
    }
    grievance_row_rekey(row, in->receipt_key);

    Buf b = {NULL, 0, 0};
    buf_reserve(&b, strlen(g->description) + 512);
    for (int c = 0; c < ROW_NCOLS; c++) {
        size_t start = b.len;
        switch ((RowColumn)c) {
        case ROW_REFERENCE:
        case ROW_RECEIPT_HASH:
            break; /* from row->reference and row->receipt_hash_hex, which a rekey changes */
        case ROW_CHANNEL:
            cell_text_or_null(&b, in->channel);
            break;
        case ROW_LANGUAGE:
            cell_text_or_null(&b, g->language);
            break;
        case ROW_COUNTRY:
            cell_text_or_null(&b, g->country);
            break;
        case ROW_CATEGORY:
            cell_text_or_null(&b, g->category);
            break;
        case ROW_RIGHTS:
            cell_list(&b, &g->rights);
            break;
        case ROW_DESCRIPTION:
            cell_text_or_null(&b, g->description);
            break;
        case ROW_COMPANIES:
            cell_list(&b, &g->companies);
            break;
        case ROW_SERVICES:
            cell_list(&b, &g->services);
            break;
        case ROW_PEOPLE_AFFECTED:
            if (g->people_affected > 0) /* the parser keeps it within int4 */
                cell_int4(&b, (int32_t)g->people_affected);
            else
                cell_null(&b);
            break;
        case ROW_ONGOING:
            cell_bool(&b, g->ongoing > 0);
            break;
        case ROW_STARTED_ON:
            if (g->started_on[0])
                cell_date(&b, g->started_on);
            else
                cell_null(&b);
            break;
        case ROW_VULNERABILITY:
            cell_list(&b, &g->vulnerability);
            break;
        case ROW_COMPLAINANT_TYPE:
            cell_text_or_null(&b, g->complainant_type);
            break;
        case ROW_SHARE_WITH_MEMBERS:
            cell_bool(&b, g->share_with_members);
            break;
        case ROW_SHARE_WITH_REGULATOR:
            cell_bool(&b, g->share_with_regulator);
            break;
        case ROW_CONTACT_ENC:
            cell_text_or_null(&b, contact);
            break;
        case ROW_IDEMPOTENCY_KEY:
            cell_text_or_null(&b, in->idempotency_key);
            break;
        case ROW_REQUEST_HASH:
            cell_text_or_null(&b, in->idempotency_key ? hash_hex : NULL);
            break;
        case ROW_IMMEDIATE_DANGER:
            if (g->immediate_danger < 0)
                cell_null(&b);
            else
                cell_bool(&b, g->immediate_danger);
            break;
        case ROW_NCOLS:
            break;
        }
        row->cell_off[c] = (uint32_t)start;
        row->cell_len[c] = (uint32_t)(b.len - start);
    }
    row->cells = b.p;
    free(contact);
    return 0;
}

void grievance_row_clear(GrievanceRow *row)
{
    free(row->cells);
    row->cells = NULL;
    OPENSSL_cleanse(row->receipt, sizeof row->receipt);
}

/* Each column: the 20-byte header of a one-dimensional array, then its elements. */
enum { ARRAY_HEADER = 20 };

/* The element type of each column's array (pg_type OIDs: text, int4, bool, date). */
static const uint32_t column_type[ROW_NCOLS] = {
    [ROW_REFERENCE] = 25,
    [ROW_CHANNEL] = 25,
    [ROW_LANGUAGE] = 25,
    [ROW_COUNTRY] = 25,
    [ROW_CATEGORY] = 25,
    [ROW_RIGHTS] = 25,
    [ROW_DESCRIPTION] = 25,
    [ROW_COMPANIES] = 25,
    [ROW_SERVICES] = 25,
    [ROW_PEOPLE_AFFECTED] = 23,
    [ROW_ONGOING] = 16,
    [ROW_STARTED_ON] = 1082,
    [ROW_VULNERABILITY] = 25,
    [ROW_COMPLAINANT_TYPE] = 25,
    [ROW_SHARE_WITH_MEMBERS] = 16,
    [ROW_SHARE_WITH_REGULATOR] = 16,
    [ROW_CONTACT_ENC] = 25,
    [ROW_RECEIPT_HASH] = 25,
    [ROW_IDEMPOTENCY_KEY] = 25,
    [ROW_REQUEST_HASH] = 25,
    [ROW_IMMEDIATE_DANGER] = 16,
};

struct RowBatch {
    Buf cols[ROW_NCOLS];
    bool has_null[ROW_NCOLS];
    RowBatchParams params;
    int n;
};

RowBatch *row_batch_new(void)
{
    RowBatch *b = xcalloc(1, sizeof(RowBatch));
    for (int c = 0; c < ROW_NCOLS; c++) {
        buf_reserve(&b->cols[c], ARRAY_HEADER);
        b->cols[c].len = ARRAY_HEADER;
    }
    return b;
}

void row_batch_free(RowBatch *b)
{
    if (!b)
        return;
    for (int c = 0; c < ROW_NCOLS; c++)
        free(b->cols[c].p);
    free(b);
}

void row_batch_add(RowBatch *b, const GrievanceRow *row)
{
    for (int c = 0; c < ROW_NCOLS; c++) {
        Buf *col = &b->cols[c];
        if (c == ROW_REFERENCE) {
            cell_text_or_null(col, row->reference);
        } else if (c == ROW_RECEIPT_HASH) {
            cell_text_or_null(col, row->receipt_hash_hex);
        } else {
            const char *cell = row->cells + row->cell_off[c];
            if (memcmp(cell, "\xff\xff\xff\xff", 4) == 0)
                b->has_null[c] = true;
            buf_add(col, cell, row->cell_len[c]);
        }
    }
    b->n++;
}

int row_batch_count(const RowBatch *b)
{
    return b->n;
}

/* PostgreSQL's binary array (array_recv): dimensions, whether any element is NULL, the element
 * type, then per dimension its length and lower bound. An empty array has no dimension: its 12-byte
 * header is written at the end of the room kept for the 20-byte one. */
const RowBatchParams *row_batch_params(RowBatch *b)
{
    for (int c = 0; c < ROW_NCOLS; c++) {
        char *h = b->cols[c].p;
        size_t skip = b->n > 0 ? 0 : 8;
        put_be32(h + skip, b->n > 0 ? 1 : 0);
        put_be32(h + skip + 4, b->has_null[c]);
        put_be32(h + skip + 8, column_type[c]);
        if (b->n > 0) {
            put_be32(h + 12, (uint32_t)b->n);
            put_be32(h + 16, 1);
        }
        b->params.values[c] = h + skip;
        b->params.lengths[c] = (int)(b->cols[c].len - skip);
        b->params.formats[c] = 1;
    }
    return &b->params;
}
