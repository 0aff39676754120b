/* The settings of all three programs, loaded from one INI file (inih does the lexing). Every key is
 * a row of one table in config.c: section, name, type, default, bounds. An unknown key, a value of
 * the wrong type or out of bounds stops loading with an error naming file, line, key, value and
 * rule. Relative paths are taken from the working directory. */
#ifndef REDRESS_CONFIG_H
#define REDRESS_CONFIG_H

#include <stddef.h>

typedef struct Config {
    char *path; /* the file this was loaded from, or NULL for defaults only */
    /* [server] */
    char *listen_addr; /* IPv4/IPv6 literal to bind */
    int port;
    int workers;           /* event-loop threads, each with its own socket and db connection */
    int max_connections;   /* open connections across all workers */
    int request_timeout_s; /* a whole request must arrive within this after connect/response */
    int max_body_bytes;    /* API body limit, answered with a JSON 413 */
    int max_form_bytes;    /* HTML form body limit: the form is shown again, text kept (413) */
    int max_header_bytes;
    char *log_level;
    char *log_format; /* text or json (one object per line) */
    /* [tls] */
    char *cert_file;
    char *key_file;
    /* [database] */
    char *conninfo;      /* libpq connection string shared by all programs */
    char *read_conninfo; /* for reads that may come from a standby (status, queue, export); empty:
                            conninfo. e.g. ... target_session_attrs=prefer-standby */
    char *intake_user;   /* role each program connects as; empty: whatever conninfo/env says */
    char *triage_user;
    char *admin_user;
    int batch_max_rows;  /* group commit: rows per transaction at most */
    int commit_streams;  /* group commit: submission connections shared by the workers (at most
                            workers; fewer make larger batches) */
    int batch_window_us; /* group commit: how long a row that finds the connection idle waits for
                            company (0: none; under load batches fill by themselves) */
    int db_timeout_s;    /* a database round trip longer than this counts as a dead connection */
    /* [keys] */
    char *contact_key_file; /* 32 random bytes, hex: AES-256-GCM key for contact details */
    char *receipt_key_file; /* 32 random bytes, hex: HMAC key deriving receipts from references */
    /* [taxonomy] */
    char *taxonomy_file;
    char *open311_contact; /* Open311 discovery: who developers write to (README "Open311") */
    char *open311_country; /* the country of an Open311 request that names none ("" = required) */
    /* [i18n] */
    char *po_dir; /* one gettext PO file per language */
    /* [triage] */
    char *rules_file;
    int triage_workers;
    int triage_batch_size;
    int triage_sweep_s; /* periodic sweep in case a notification was missed */
    /* [engagement] what a complainant may send about their case */
    int message_max_chars;     /* a message, comment or appeal reason, in characters */
    int messages_per_day;      /* messages per grievance in any 24 hours (429 beyond) */
    int appeal_window_days;    /* an appeal is possible this long after the decision */
    int attachments_max;       /* evidence files per grievance (409 beyond); 0: none */
    int attachment_max_bytes;  /* one file's size (413 beyond) */
    char *attachment_types;    /* "image/png, image/jpeg, ...": recognised by their content */
    int attachment_connection; /* 1: uploads on a database connection of their own per worker */
    /* [retention] */
    int retention_default_days;  /* after a case closes, erase its grievances' contact and
                                    narrative after this many days; 0: keep */
    char *retention_categories;  /* "category:days, ..." overriding the default per category */
    int retention_skeleton_days; /* after the sweep, keep the erased grievances' statistical
                                    skeleton this many days, then drop their month; 0: keep */
    /* [metrics] Prometheus text exposition over plain HTTP, meant for 127.0.0.1 only */
    int metrics_enabled;
    char *metrics_listen;
    int metrics_port;        /* redress-intake's listener */
    int metrics_triage_port; /* redress-triage's listener */
} Config;

/* Loads path over the defaults. Returns a Config (caller frees with config_free) or NULL with the
 * reason in err. path NULL: defaults only. */
Config *config_load(const char *path, char *err, size_t errlen);
/* The config path a program should use: the -c argument if given, else $REDRESS_CONFIG, else
 * var/redress.conf if it exists, else NULL (defaults). */
const char *config_default_path(const char *cli_path);
void config_free(Config *cfg);
/* The retention periods as the JSON object retention_sweep() takes ({"default": days,
 * "<category>": days}), or NULL when nothing is ever erased. Caller frees. */
char *config_retention_json(const Config *cfg);
/* A copy of cfg whose conninfo is cfg->read_conninfo, for the connections whose reads may be
 * served by a standby; NULL when read_conninfo is empty (read from conninfo). Caller frees with
 * config_free. */
Config *config_for_reads(const Config *cfg);
/* A server's start: logs as program, loads config_default_path(cli_path) and applies its
 * [server] log_level. NULL after logging why. */
Config *config_load_logged(const char *program, const char *cli_path);

#endif
