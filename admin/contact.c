/* Contact details under audit (see contact.h). */
#include "contact.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "case.h"
#include "crypto.h"
#include "output.h"
#include "reference.h"
#include "util.h"

#define REASON_MAX 1000

int contact_cmd_show(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"reason", NULL, true}};
    ArgPos pos;
    char err[512], ref[REFERENCE_LEN + 1];
    unsigned char key[KEY_LEN];
    unsigned char *blob = NULL;
    char *plain = NULL;
    json_t *contact = NULL;
    int rc = CTL_FAIL;
    if (ctx_args(argc, argv, opts, 1, 1, 1, &pos) < 0)
        return CTL_USAGE;
    const char *reason = args_value(opts, 1, "reason");
    if (!reason || strlen(reason) < 3 || strlen(reason) > REASON_MAX) {
        ctx_error("--reason is required (3 to %d bytes): it is written to the audit trail",
                  REASON_MAX);
        return CTL_USAGE;
    }
    if (!reference_normalize(pos.pos[0], ref)) {
        ctx_error("'%s' is not a grievance reference", pos.pos[0]);
        return CTL_USAGE;
    }
    /* The key first: without it nothing should be written to the trail as "shown". */
    if (ctx_config(ctx) < 0)
        return CTL_FAIL;
    if (key_file_load(ctx->cfg->contact_key_file, key, err, sizeof err) < 0) {
        ctx_error("the contact key is needed to open contact details: %s", err);
        return CTL_FAIL;
    }
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, false) < 0)
        goto done;
    const char *p[] = {ref, reason};
    PGresult *res = ctx_exec(ctx, "reading the contact details",
                             "SELECT encode(contact_enc, 'hex'), complainant_type, case_reference "
                             "FROM grievance_contact_reveal($1, $2)",
                             2, p);
    if (!res)
        goto done;
    char type[32], cref[64];
    bool none = PQgetisnull(res, 0, 0);
    size_t hexlen = none ? 0 : strlen(PQgetvalue(res, 0, 0));
    if (!none) {
        blob = xmalloc(hexlen / 2 + 1);
        if (hex_decode(PQgetvalue(res, 0, 0), blob, hexlen / 2) < 0)
            none = true;
    }
    snprintf(type, sizeof type, "%s", PQgetvalue(res, 0, 1));
    snprintf(cref, sizeof cref, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    if (!none) {
        plain = contact_open(key, blob, hexlen / 2);
        if (!plain) {
            ctx_error("the contact details of %s cannot be opened with this contact key", ref);
            goto done;
        }
        contact = json_loads(plain, 0, NULL);
    }
    if (ctx_commit(ctx) < 0)
        goto done;
    if (ctx->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:O}", "reference", ref, "case", cref,
                              "complainant_type", type, "contact", contact ? contact : json_null());
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("grievance %s (case %s, %s): ", ref, cref, type);
        if (!contact) {
            printf("no contact details were given\n");
        } else {
            printf("contact details (the reading is in the audit trail)\n");
            static const char *const fields[] = {"name", "email", "phone"};
            for (size_t i = 0; i < 3; i++)
                out_kv(stdout, fields[i], json_string_value(json_object_get(contact, fields[i])));
        }
    }
    rc = CTL_OK;
done:
    ctx_rollback(ctx);
    if (plain) {
        memset(plain, 0, strlen(plain));
        free(plain);
    }
    free(blob);
    json_decref(contact);
    memset(key, 0, sizeof key);
    return rc;
}
