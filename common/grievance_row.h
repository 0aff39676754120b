/* The one row builder: a validated Grievance becomes a row of the grievance table here, for the
 * API, the form and `redressctl import grievances` alike — contact sealed, reference chosen,
 * receipt derived, every column encoded once. Rows go to PostgreSQL a batch at a time as one
 * binary array per column (RowBatch), which intake_submit_rows() (sql/010_intake_rows.sql)
 * unnests: no JSON is parsed in the database. */
#ifndef REDRESS_GRIEVANCE_ROW_H
#define REDRESS_GRIEVANCE_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grievance.h"
#include "reference.h"

/* The columns, in the order of intake_submit_rows()'s parameters. */
typedef enum {
    ROW_REFERENCE,
    ROW_CHANNEL,
    ROW_LANGUAGE,
    ROW_COUNTRY,
    ROW_CATEGORY,
    ROW_RIGHTS,
    ROW_DESCRIPTION,
    ROW_COMPANIES,
    ROW_SERVICES,
    ROW_PEOPLE_AFFECTED,
    ROW_ONGOING,
    ROW_STARTED_ON,
    ROW_VULNERABILITY,
    ROW_COMPLAINANT_TYPE,
    ROW_SHARE_WITH_MEMBERS,
    ROW_SHARE_WITH_REGULATOR,
    ROW_CONTACT_ENC,
    ROW_RECEIPT_HASH,
    ROW_IDEMPOTENCY_KEY,
    ROW_REQUEST_HASH,
    ROW_IMMEDIATE_DANGER,
    ROW_NCOLS
} RowColumn;

/* The columns GRIEVANCE_ROWS_SQL returns, one row per stored or replayed input row. */
typedef enum {
    ROWS_RES_N,            /* the input row's position in its batch, from 0 */
    ROWS_RES_REFERENCE,    /* the stored row's reference (an earlier one's when replayed) */
    ROWS_RES_RECEIVED_AT,  /* RFC 3339 UTC */
    ROWS_RES_STORED,       /* "t": stored now; "f": an earlier row holds its idempotency key */
    ROWS_RES_REQUEST_HASH, /* when not stored: the earlier row's body hash, hex */
} RowsResultColumn;

/* Stores a batch: $1..$21 are RowBatch's arrays. Runs inside the caller's transaction, which
 * notifies 'grievance_new' at its commit. */
extern const char GRIEVANCE_ROWS_SQL[];
/* The same with $22, "t" or "f": whether the transaction notifies (sql/017_intake_announce.sql). */
extern const char GRIEVANCE_ROWS_ANNOUNCE_SQL[];

typedef struct {
    const char *channel;               /* "api", "form" or "import" */
    const unsigned char *receipt_key;  /* 32 bytes */
    const unsigned char *contact_key;  /* 32 bytes; read only when the grievance has a contact */
    const char *idempotency_key;       /* NULL: none */
    const unsigned char *request_hash; /* 32 bytes when idempotency_key is set */
} GrievanceRowInput;

typedef struct {
    char reference[REFERENCE_LEN + 1];
    char receipt[RECEIPT_LEN + 1]; /* the secret shown once; wiped by grievance_row_clear */
    char receipt_hash_hex[65];
    bool has_key;
    unsigned char request_hash[32]; /* when has_key */
    char *cells; /* owned: the other columns as binary array elements (length, bytes), one block */
    uint32_t cell_off[ROW_NCOLS], cell_len[ROW_NCOLS];
} GrievanceRow;

/* Builds row from g (borrowed; nothing of it is kept) with a fresh reference. 0, or -1 with err
 * when sealing the contact failed. */
int grievance_row_build(GrievanceRow *row, const Grievance *g, const GrievanceRowInput *in,
                        char *err, size_t errlen);
/* A new reference and receipt for row (after a reference collided). */
void grievance_row_rekey(GrievanceRow *row, const unsigned char receipt_key[32]);
/* Frees row's cells and wipes its receipt. */
void grievance_row_clear(GrievanceRow *row);

typedef struct RowBatch RowBatch;

/* A batch's parameters for libpq: one binary array per column (formats all 1). */
typedef struct {
    const char *values[ROW_NCOLS];
    int lengths[ROW_NCOLS];
    int formats[ROW_NCOLS];
} RowBatchParams;

RowBatch *row_batch_new(void);
/* Accepts NULL. */
void row_batch_free(RowBatch *b);
/* Appends row (copied) as the batch's next position. */
void row_batch_add(RowBatch *b, const GrievanceRow *row);
int row_batch_count(const RowBatch *b);
/* The ROW_NCOLS parameters of GRIEVANCE_ROWS_SQL; borrowed until the batch is changed or freed. */
const RowBatchParams *row_batch_params(RowBatch *b);

#endif
