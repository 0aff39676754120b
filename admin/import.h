/* `import grievances`: batch intake from partner channels (call centres, NGOs), validated row by
 * row exactly as the HTTPS API validates, stored all or nothing. */
#ifndef REDRESS_ADMIN_IMPORT_H
#define REDRESS_ADMIN_IMPORT_H

#include <jansson.h>
#include <stddef.h>

#include "ctx.h"

/* Builds the API's JSON object from one CSV record: header names are the API's field names,
 * "a.b" a field b of the object a; lists split on ';'; people_affected an integer; ongoing and
 * consent.* booleans (true/false/yes/no/1/0); empty cells are left out. Returns the object (caller
 * decrefs), or NULL with the offending column and why in err. */
json_t *import_row_json(char **header, char **fields, size_t n, char *err, size_t errlen);

int import_cmd_grievances(Ctx *ctx, int argc, char **argv);

#endif
