/* Grievance -> row (see grievance_row.h). Cells are written in PostgreSQL's array-literal syntax:
 * a text cell is quoted with '\' before '"' and '\'; a list is an array literal itself, quoted
 * again as a cell of the outer array (intake_submit_rows casts it back to text[]). */
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

/* s quoted as an array element; nested: as an element of an array literal that is itself quoted
 * as an element (each '"' and '\' escaped twice). */
static void buf_quoted(Buf *b, const char *s, bool nested)
{
    const char *q = nested ? "\\\"" : "\"";
    buf_add(b, q, strlen(q));
    for (;;) {
        size_t run = strcspn(s, "\"\\");
        buf_add(b, s, run);
        s += run;
        if (!*s)
            break;
        buf_add(b, nested ? "\\\\\\" : "\\", nested ? 3 : 1);
        buf_addc(b, *s++);
    }
    buf_add(b, q, strlen(q));
}

static void buf_list(Buf *b, const StrList *l)
{
    buf_add(b, "\"{", 2);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_addc(b, ',');
        buf_quoted(b, l->items[i], true);
    }
    buf_add(b, "}\"", 2);
}

static void buf_text_or_null(Buf *b, const char *s)
{
    if (s)
        buf_quoted(b, s, false);
    else
        buf_add(b, "NULL", 4);
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
    char *contact = NULL, num[24], hash_hex[65];
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
            buf_quoted(&b, in->channel, false);
            break;
        case ROW_LANGUAGE:
            buf_text_or_null(&b, g->language);
            break;
        case ROW_COUNTRY:
            buf_quoted(&b, g->country, false);
            break;
        case ROW_CATEGORY:
            buf_quoted(&b, g->category, false);
            break;
        case ROW_RIGHTS:
            buf_list(&b, &g->rights);
            break;
        case ROW_DESCRIPTION:
            buf_quoted(&b, g->description, false);
            break;
        case ROW_COMPANIES:
            buf_list(&b, &g->companies);
            break;
        case ROW_SERVICES:
            buf_list(&b, &g->services);
            break;
        case ROW_PEOPLE_AFFECTED:
            if (g->people_affected > 0) {
                int n = snprintf(num, sizeof num, "%ld", g->people_affected);
                buf_add(&b, num, (size_t)n);
            } else {
                buf_add(&b, "NULL", 4);
            }
            break;
        case ROW_ONGOING:
            buf_addc(&b, g->ongoing > 0 ? 't' : 'f');
            break;
        case ROW_STARTED_ON:
            buf_text_or_null(&b, g->started_on[0] ? g->started_on : NULL);
            break;
        case ROW_VULNERABILITY:
            buf_list(&b, &g->vulnerability);
            break;
        case ROW_COMPLAINANT_TYPE:
            buf_quoted(&b, g->complainant_type, false);
            break;
        case ROW_SHARE_WITH_MEMBERS:
            buf_addc(&b, g->share_with_members ? 't' : 'f');
            break;
        case ROW_SHARE_WITH_REGULATOR:
            buf_addc(&b, g->share_with_regulator ? 't' : 'f');
            break;
        case ROW_CONTACT_ENC:
            buf_text_or_null(&b, contact);
            break;
        case ROW_IDEMPOTENCY_KEY:
            buf_text_or_null(&b, in->idempotency_key);
            break;
        case ROW_REQUEST_HASH:
            buf_text_or_null(&b, in->idempotency_key ? hash_hex : NULL);
            break;
        case ROW_IMMEDIATE_DANGER:
            if (g->immediate_danger < 0)
                buf_add(&b, "NULL", 4);
            else
                buf_addc(&b, g->immediate_danger ? 't' : 'f');
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

struct RowBatch {
    Buf cols[ROW_NCOLS];
    const char *params[ROW_NCOLS];
    int n;
    bool terminated; /* params point at NUL-terminated, closed arrays */
};

RowBatch *row_batch_new(void)
{
    return xcalloc(1, sizeof(RowBatch));
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
        if (b->terminated)
            col->len = b->n ? col->len - 2 : 0; /* reopen: drop "}\0" (or all of "{}\0") */
        buf_addc(col, b->n ? ',' : '{');
        if (c == ROW_REFERENCE)
            buf_quoted(col, row->reference, false);
        else if (c == ROW_RECEIPT_HASH)
            buf_quoted(col, row->receipt_hash_hex, false);
        else
            buf_add(col, row->cells + row->cell_off[c], row->cell_len[c]);
    }
    b->terminated = false;
    b->n++;
}

int row_batch_count(const RowBatch *b)
{
    return b->n;
}

const char *const *row_batch_params(RowBatch *b)
{
    for (int c = 0; c < ROW_NCOLS && !b->terminated; c++) {
        Buf *col = &b->cols[c];
        if (b->n == 0)
            buf_addc(col, '{');
        buf_add(col, "}", 2); /* with the NUL */
    }
    b->terminated = true;
    for (int c = 0; c < ROW_NCOLS; c++)
        b->params[c] = b->cols[c].p;
    return b->params;
}
