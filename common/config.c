/* Config table and loader. Adding a setting: a field in Config, a row in config_keys. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inifile.h"
#include "log.h"
#include "util.h"

typedef enum { CONFIG_STR, CONFIG_INT } ConfigType;

typedef struct {
    const char *section;
    const char *name;
    ConfigType type;
    size_t offset;
    const char *def;
    long min, max; /* CONFIG_INT bounds; CONFIG_STR: min 1 means must not be empty */
    int (*check)(const char *value, char *why, size_t whylen); /* NULL, or 0 / -1 with why */
} ConfigKey;

#define STR(sec, name, field, def, nonempty)                                                       \
    {                                                                                              \
        sec, name, CONFIG_STR, offsetof(Config, field), def, nonempty, 0                           \
    }
#define INT(sec, name, field, def, lo, hi)                                                         \
    {                                                                                              \
        sec, name, CONFIG_INT, offsetof(Config, field), def, lo, hi                                \
    }

#define STR_CHECKED(sec, name, field, def, check)                                                  \
    {                                                                                              \
        sec, name, CONFIG_STR, offsetof(Config, field), def, 0, 0, check                           \
    }

/* "category:days, category:days" (days 0..36500, categories [a-z0-9_]), or empty. */
static int config_retention_check(const char *value, char *why, size_t whylen)
{
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        char *end;
        if (n == 0 || n > 64 || p[n] != ':' || p[n + 1] < '0' || p[n + 1] > '9' ||
            strtol(p + n + 1, &end, 10) > 36500 || (*end && *end != ',' && *end != ' ')) {
            snprintf(why, whylen, "must be category:days entries (days 0..36500) separated by ','");
            return -1;
        }
        p = end;
    }
    return 0;
}

static int config_log_level_check(const char *value, char *why, size_t whylen)
{
    LogLevel level;
    if (log_level_parse(value, &level))
        return 0;
    snprintf(why, whylen, "must be error, warn, info or debug");
    return -1;
}

static int config_log_format_check(const char *value, char *why, size_t whylen)
{
    LogFormat format;
    if (log_format_parse(value, &format))
        return 0;
    snprintf(why, whylen, "must be text or json");
    return -1;
}

/* A comma-separated list of the file types the intake can recognise by their content. */
static int config_attachment_types_check(const char *value, char *why, size_t whylen)
{
    static const char *const known[] = {"image/png",  "image/jpeg",      "image/gif",
                                        "image/webp", "application/pdf", "text/plain"};
    const char *p = value;
    int count = 0;
    while (*p) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n == 0)
            break;
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || (strlen(known[i]) == n && strncmp(known[i], p, n) == 0);
        if (!ok) {
            snprintf(why, whylen,
                     "must be a list of image/png, image/jpeg, image/gif, image/webp, "
                     "application/pdf, text/plain");
            return -1;
        }
        count++;
        p += n;
    }
    if (count == 0) {
        snprintf(why, whylen, "must name at least one type");
        return -1;
    }
    return 0;
}

static const ConfigKey config_keys[] = {
    STR("server", "listen", listen_addr, "127.0.0.1", 1),
    INT("server", "port", port, "8443", 1, 65535),
    INT("server", "workers", workers, "2", 1, 64),
    INT("server", "max_connections", max_connections, "4096", 1, 1000000),
    INT("server", "request_timeout", request_timeout_s, "10", 1, 3600),
    INT("server", "max_body_bytes", max_body_bytes, "262144", 1024, 16777216),
    INT("server", "max_form_bytes", max_form_bytes, "393216", 1024, 16777216),
    INT("server", "max_header_bytes", max_header_bytes, "8192", 1024, 65536),
    STR_CHECKED("server", "log_level", log_level, "info", config_log_level_check),
    STR_CHECKED("server", "log_format", log_format, "text", config_log_format_check),
    STR("tls", "cert", cert_file, "var/tls/cert.pem", 1),
    STR("tls", "key", key_file, "var/tls/key.pem", 1),
    STR("database", "conninfo", conninfo, "host=var/pg/sock port=5433 dbname=redress", 0),
    STR("database", "read_conninfo", read_conninfo, "", 0),
    STR("database", "intake_user", intake_user, "redress_intake", 0),
    STR("database", "triage_user", triage_user, "redress_triage", 0),
    STR("database", "admin_user", admin_user, "redress_staff", 0),
    INT("database", "batch_max_rows", batch_max_rows, "256", 1, 4096),
    INT("database", "batch_window_us", batch_window_us, "0", 0, 1000000),
    INT("database", "commit_streams", commit_streams, "1", 1, 64),
    INT("database", "timeout", db_timeout_s, "10", 1, 3600),
    STR("keys", "contact_key_file", contact_key_file, "var/keys/contact.key", 1),
    STR("keys", "receipt_key_file", receipt_key_file, "var/keys/receipt.key", 1),
    STR("taxonomy", "file", taxonomy_file, "config/taxonomy.json", 1),
    STR("open311", "contact", open311_contact, "", 0),
    STR("open311", "default_country", open311_country, "", 0),
    STR("i18n", "po_dir", po_dir, "po", 1),
    STR("triage", "rules", rules_file, "config/triage-rules.ini", 1),
    INT("triage", "workers", triage_workers, "1", 1, 64),
    INT("triage", "batch_size", triage_batch_size, "1000", 1, 100000),
    INT("triage", "sweep_interval", triage_sweep_s, "5", 1, 3600),
    INT("engagement", "message_max_chars", message_max_chars, "4000", 1, 20000),
    INT("engagement", "messages_per_day", messages_per_day, "20", 1, 10000),
    INT("engagement", "appeal_window_days", appeal_window_days, "90", 1, 3650),
    INT("engagement", "attachments_max", attachments_max, "5", 0, 100),
    INT("engagement", "attachment_max_bytes", attachment_max_bytes, "10485760", 1024, 104857600),
    INT("engagement", "attachment_connection", attachment_connection, "1", 0, 1),
    STR_CHECKED("engagement", "attachment_types", attachment_types,
                "image/png, image/jpeg, application/pdf, text/plain",
                config_attachment_types_check),
    INT("retention", "default_days", retention_default_days, "0", 0, 36500),
    STR_CHECKED("retention", "categories", retention_categories, "", config_retention_check),
    INT("retention", "skeleton_days", retention_skeleton_days, "0", 0, 36500),
    INT("metrics", "enabled", metrics_enabled, "0", 0, 1),
    STR("metrics", "listen", metrics_listen, "127.0.0.1", 1),
    INT("metrics", "port", metrics_port, "9464", 1, 65535),
    INT("metrics", "triage_port", metrics_triage_port, "9465", 1, 65535),
};
#define CONFIG_NKEYS (sizeof config_keys / sizeof config_keys[0])

typedef struct {
    Config *cfg;
    char *err;
    size_t errlen;
    bool failed;
    int lineno; /* of the setting that failed */
} ConfigLoad;

static int config_set(Config *cfg, const ConfigKey *key, const char *value, char *why,
                      size_t whylen)
{
    void *dst = (char *)cfg + key->offset;
    if (key->type == CONFIG_STR) {
        if (key->min && value[0] == '\0') {
            snprintf(why, whylen, "must not be empty");
            return -1;
        }
        if (key->check && key->check(value, why, whylen) < 0)
            return -1;
        free(*(char **)dst);
        *(char **)dst = xstrdup(value);
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (value[0] == '\0' || *end != '\0' || errno) {
        snprintf(why, whylen, "must be a whole number");
        return -1;
    }
    if (v < key->min || v > key->max) {
        snprintf(why, whylen, "must be between %ld and %ld", key->min, key->max);
        return -1;
    }
    *(int *)dst = (int)v;
    return 0;
}

static int config_ini_cb(void *user, const char *section, const char *name, const char *value,
                         int lineno)
{
    ConfigLoad *load = user;
    char why[128];
    if (load->failed)
        return 0;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *key = &config_keys[i];
        if (strcmp(key->section, section) != 0 || strcmp(key->name, name) != 0)
            continue;
        if (config_set(load->cfg, key, value, why, sizeof why) < 0) {
            snprintf(load->err, load->errlen, "%s:%d: [%s] %s = '%s': %s", load->cfg->path, lineno,
                     section, name, value, why);
            load->failed = true;
            load->lineno = lineno;
            return 0;
        }
        return 1;
    }
    snprintf(load->err, load->errlen, "%s:%d: [%s] %s: unknown setting", load->cfg->path, lineno,
             section, name);
    load->failed = true;
    load->lineno = lineno;
    return 0;
}

/* libpq takes a host that starts with '/' as a socket directory and anything else as a host name,
 * so "host=var/pg/sock" would be looked up in DNS. A host with a '/' that is not absolute is made
 * absolute from the working directory, like every other relative path in the config. */
static int config_conninfo_resolve(const Config *cfg, const char *name, char **conninfo, char *err,
                                   size_t errlen)
{
    if (!strstr(*conninfo, "/"))
        return 0;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(*conninfo, &perr);
    if (!opts) {
        snprintf(err, errlen, "%s: [database] %s: %s", cfg->path ? cfg->path : "defaults", name,
                 perr ? perr : "out of memory");
        PQfreemem(perr);
        return -1;
    }
    bool relative = false;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        relative = relative || (strcmp(o->keyword, "host") == 0 && o->val && o->val[0] != '/' &&
                                strchr(o->val, '/') && !strchr(o->val, ','));
    if (relative) {
        char cwd[PATH_MAX], *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        if (!f || !getcwd(cwd, sizeof cwd))
            abort();
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (!o->val)
                continue;
            fprintf(f, "%s%s='", ftell(f) ? " " : "", o->keyword);
            /* The socket directory may be a link (make run's cluster as root, a long path): its
             * real path keeps the socket address within the 107 bytes a Unix socket allows. */
            char real[PATH_MAX];
            const char *val = o->val;
            if (strcmp(o->keyword, "host") == 0 && o->val[0] != '/') {
                if (realpath(o->val, real))
                    val = real;
                else
                    fprintf(f, "%s/", cwd);
            }
            for (const char *c = val; *c; c++)
                fprintf(f, "%s%c", (*c == '\\' || *c == '\'') ? "\\" : "", *c);
            fputc('\'', f);
        }
        fclose(f);
        free(*conninfo);
        *conninfo = out;
    }
    PQconninfoFree(opts);
    return 0;
}

static int config_conninfos_resolve(Config *cfg, char *err, size_t errlen)
{
    return config_conninfo_resolve(cfg, "conninfo", &cfg->conninfo, err, errlen) < 0 ||
                   config_conninfo_resolve(cfg, "read_conninfo", &cfg->read_conninfo, err, errlen) <
                       0
               ? -1
               : 0;
}

Config *config_load(const char *path, char *err, size_t errlen)
{
    Config *cfg = xcalloc(1, sizeof *cfg);
    char why[128];
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (config_set(cfg, &config_keys[i], config_keys[i].def, why, sizeof why) < 0)
            abort(); /* a default that breaks its own rule is a programmer error */
    }
    if (!path)
        return config_conninfos_resolve(cfg, err, errlen) < 0 ? (config_free(cfg), NULL) : cfg;
    cfg->path = xstrdup(path);
    ConfigLoad load = {cfg, err, errlen, false};
    int rc = inifile_parse(path, config_ini_cb, &load);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    /* inih goes on after a line it cannot parse: a setting's error may come from a later line. */
    if (load.failed && rc == load.lineno)
        goto fail;
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: not a valid INI line (or longer than 199 characters)", path,
                 rc);
        goto fail;
    }
    if (config_conninfos_resolve(cfg, err, errlen) < 0)
        goto fail;
    return cfg;
fail:
    config_free(cfg);
    return NULL;
}

char *config_retention_json(const Config *cfg)
{
    bool any = cfg->retention_default_days > 0;
    json_t *o = json_pack("{s:i}", "default", cfg->retention_default_days);
    char *list = xstrdup(cfg->retention_categories);
    for (char *save = NULL, *item = strtok_r(list, ", ", &save); item;
         item = strtok_r(NULL, ", ", &save)) {
        char *colon = strchr(item, ':'); /* the format was checked at load */
        *colon = '\0';
        long days = strtol(colon + 1, NULL, 10);
        any = any || days > 0;
        json_object_set_new(o, item, json_integer(days));
    }
    free(list);
    char *text = any ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return text;
}

const char *config_default_path(const char *cli_path)
{
    if (cli_path)
        return cli_path;
    const char *env = getenv("REDRESS_CONFIG");
    if (env && *env)
        return env;
    if (access("var/redress.conf", R_OK) == 0)
        return "var/redress.conf";
    return NULL;
}

Config *config_for_reads(const Config *cfg)
{
    if (!cfg->read_conninfo[0])
        return NULL;
    Config *copy = xcalloc(1, sizeof *copy);
    *copy = *cfg;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (config_keys[i].type != CONFIG_STR)
            continue;
        char **field = (char **)((char *)copy + config_keys[i].offset);
        *field = xstrdup(*field);
    }
    copy->path = cfg->path ? xstrdup(cfg->path) : NULL;
    free(copy->conninfo);
    copy->conninfo = xstrdup(cfg->read_conninfo);
    return copy;
}

void config_free(Config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (config_keys[i].type == CONFIG_STR)
            free(*(char **)((char *)cfg + config_keys[i].offset));
    }
    free(cfg->path);
    free(cfg);
}

Config *config_load_logged(const char *program, const char *cli_path)
{
    char err[1024];
    LogLevel level;
    log_init(program, LOG_LEVEL_INFO);
    Config *cfg = config_load(config_default_path(cli_path), err, sizeof err);
    if (!cfg) {
        LOG_ERROR("%s", err);
        return NULL;
    }
    /* Both were checked by the table's validators. */
    LogFormat format;
    log_level_parse(cfg->log_level, &level);
    log_format_parse(cfg->log_format, &format);
    log_set_format(format);
    log_init(program, level);
    return cfg;
}
