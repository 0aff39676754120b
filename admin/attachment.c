/* Evidence files under audit (see attachment.h). */
#include "attachment.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "crypto.h"
#include "output.h"
#include "reference.h"
#include "util.h"

#define REASON_MAX 1000

/* A hex column as bytes (caller frees), or NULL. */
static unsigned char *hex_column(const PGresult *res, int col, size_t *len)
{
    if (PQgetisnull(res, 0, col))
        return NULL;
    const char *hex = PQgetvalue(res, 0, col);
    size_t n = strlen(hex) / 2;
    unsigned char *out = xmalloc(n + 1);
    if (hex_decode(hex, out, n) < 0) {
        free(out);
        return NULL;
    }
    *len = n;
    return out;
}

static int write_new_file(const char *path, const unsigned char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ctx_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ctx_error("cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) < 0) {
        ctx_error("cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int attachment_cmd_get(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"reason", NULL, true}, {"o", "output", true}};
    ArgPos pos;
    char err[512], ref[REFERENCE_LEN + 1], sha_hex[65] = "", type[64] = "", cref[64] = "";
    unsigned char key[KEY_LEN], sha[32];
    unsigned char *sealed = NULL, *sealed_name = NULL, *plain = NULL, *name = NULL;
    size_t sealed_len = 0, sealed_name_len = 0, plain_len = 0, name_len = 0;
    long size = 0;
    int rc = CTL_FAIL;
    if (args_parse(argc, argv, opts, 2, 2, 2, &pos, err, sizeof err) < 0) {
        ctx_error("%s", err);
        return CTL_USAGE;
    }
    const char *reason = args_value(opts, 2, "reason");
    const char *out = args_value(opts, 2, "o");
    if (!reason || strlen(reason) < 3 || strlen(reason) > REASON_MAX) {
        ctx_error("--reason is required (3 to %d bytes): it is written to the audit trail",
                  REASON_MAX);
        return CTL_USAGE;
    }
    if (!out || !*out) {
        ctx_error("-o FILE is required: the file the attachment is written to (created, 0600)");
        return CTL_USAGE;
    }
    if (!reference_normalize(pos.pos[0], ref)) {
        ctx_error("'%s' is not a grievance reference", pos.pos[0]);
        return CTL_USAGE;
    }
    const char *n = pos.pos[1];
    if (strspn(n, "0123456789") != strlen(n) || strlen(n) == 0 || strlen(n) > 3 || atoi(n) < 1) {
        ctx_error("'%s' is not an attachment number (1, 2, 3 ...)", n);
        return CTL_USAGE;
    }
    if (access(out, F_OK) == 0) {
        ctx_error("%s exists: give a new file name", out);
        return CTL_USAGE;
    }
    /* The key first: without it nothing should be written to the trail as "read". */
    if (ctx_config(ctx) < 0)
        return CTL_FAIL;
    if (key_file_load(ctx->cfg->contact_key_file, key, err, sizeof err) < 0) {
        ctx_error("the contact key is needed to open attachments: %s", err);
        return CTL_FAIL;
    }
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, false) < 0)
        goto done;
    const char *p[] = {ref, n, reason};
    PGresult *res = ctx_exec(ctx, "reading the attachment",
                             "SELECT encode(content_enc, 'hex'), encode(name_enc, 'hex'), "
                             "media_type, size, encode(sha256, 'hex'), case_reference "
                             "FROM grievance_attachment_get($1, $2::integer, $3)",
                             3, p);
    if (!res)
        goto done;
    sealed = hex_column(res, 0, &sealed_len);
    sealed_name = hex_column(res, 1, &sealed_name_len);
    snprintf(type, sizeof type, "%s", PQgetvalue(res, 0, 2));
    size = atol(PQgetvalue(res, 0, 3));
    snprintf(sha_hex, sizeof sha_hex, "%s", PQgetvalue(res, 0, 4));
    snprintf(cref, sizeof cref, "%s", PQgetvalue(res, 0, 5));
    PQclear(res);
    if (sealed)
        plain = open_bytes(key, SEAL_AAD_ATTACHMENT, strlen(SEAL_AAD_ATTACHMENT), sealed,
                           sealed_len, &plain_len);
    if (!plain) {
        ctx_error("attachment %s of %s cannot be opened with this contact key", n, ref);
        goto done;
    }
    char got[65];
    sha256_bytes(plain, plain_len, sha);
    hex_encode(sha, 32, got);
    if ((long)plain_len != size || strcmp(got, sha_hex) != 0) {
        ctx_error("attachment %s of %s does not match its stored SHA-256: not written", n, ref);
        goto done;
    }
    if (sealed_name)
        name = open_bytes(key, SEAL_AAD_ATTACHMENT_NAME, strlen(SEAL_AAD_ATTACHMENT_NAME),
                          sealed_name, sealed_name_len, &name_len);
    if (ctx_commit(ctx) < 0)
        goto done;
    if (write_new_file(out, plain, plain_len) < 0)
        goto done;
    if (ctx->json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:s}", "reference", ref, "case", cref,
                              "n", atoi(n), "type", type, "size", (json_int_t)size, "sha256",
                              sha_hex, "file", out);
        if (name)
            json_object_set_new(o, "name", json_string((const char *)name));
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("attachment %s of grievance %s (case %s) written to %s (the reading is in the "
               "audit trail)\n",
               n, ref, cref, out);
        out_kv(stdout, "type", type);
        char bytes[24];
        snprintf(bytes, sizeof bytes, "%ld", size);
        out_kv(stdout, "size", bytes);
        out_kv(stdout, "sha256", sha_hex);
        out_kv(stdout, "name", name ? (const char *)name : "(none given)");
    }
    rc = CTL_OK;
done:
    ctx_rollback(ctx);
    if (plain) {
        memset(plain, 0, plain_len);
        free(plain);
    }
    free(name);
    free(sealed);
    free(sealed_name);
    memset(key, 0, sizeof key);
    return rc;
}
