/* The sentences people read when the form refuses an entry, one per validation rule: the
 * validator's stable (field, code) pair is the message's id, so the validator's own wording (for
 * developers, in English) can change without breaking a translation. */
#ifndef REDRESS_INTAKE_ERRTEXT_H
#define REDRESS_INTAKE_ERRTEXT_H

#include "grievance.h"
#include "i18n.h"

/* The sentence for err in l ("Please choose the kind of harm."); borrowed. */
const char *errtext_sentence(const Lang *l, const GrievanceError *err);
/* The message an API error carries in l: the validator's own for English, else the sentence. */
const char *errtext_api(const Lang *l, const GrievanceError *err);

#endif
