/* (field, code) -> sentence. "*" matches any code; the first matching row wins. */
#include "errtext.h"

#include <string.h>

typedef struct {
    const char *field;
    const char *code;
    const char *msgid;
} ErrText;

static const ErrText errtexts[] = {
    {"description", "required", N_("Please describe what happened.")},
    {"description", "too_long",
     N_("Please shorten the description to 20,000 characters or fewer.")},
    {"description", "*",
     N_("The description could not be read. Please check it and send the form again.")},
    {"category", "*", N_("Please choose the kind of harm.")},
    {"country", "*", N_("Please choose the country where it happened.")},
    {"rights", "*", N_("Please choose the rights affected from the list.")},
    {"vulnerability", "*", N_("Please choose from the list of descriptions of the person harmed.")},
    {"companies", "*", N_("Please name at most 20 companies, each in 200 characters or fewer.")},
    {"services", "*", N_("Please name at most 20 services, each in 100 characters or fewer.")},
    {"people_affected", "*",
     N_("Please give the number of people affected as a whole number, for example 250.")},
    {"started_on", "*", N_("Please give the date it started as a real date, not in the future.")},
    {"ongoing", "*", N_("Please say whether the harm is still going on.")},
    {"immediate_danger", "*",
     N_("Please answer whether anyone is in immediate danger with yes or no, or leave it "
        "unanswered.")},
    {"complainant_type", "*", N_("Please choose who is filing.")},
    {"language", "*", N_("Please choose one of the languages offered.")},
    {"contact.name", "*", N_("Please shorten your name to 200 characters or fewer.")},
    {"contact.email", "*",
     N_("Please check the e-mail address: it should look like name@example.org.")},
    {"contact.phone", "*",
     N_("Please check the phone number: 5 to 20 digits, with spaces or + - ( ) . if you like.")},
    {"contact", "invalid",
     N_("An anonymous grievance cannot include contact details. Please remove them, or choose "
        "another answer to “Who is filing?”.")},
    {"contact", "*", N_("Please check your contact details.")},
    {"consent", "*", N_("Please check your consent choices.")},
    {"consent.share_with_members", "*", N_("Please check your consent choices.")},
    {"consent.share_with_regulator", "*", N_("Please check your consent choices.")},
    {"*", "unavailable",
     N_("We could not confirm that your grievance was stored: it may or may not have been. Your "
        "entries are kept below. Sending the form again in a moment is safe: it will not create a "
        "second grievance.")},
    {"*", "internal",
     N_("We could not store your grievance. Your entries are kept below: please try again.")},
    {"*", "body_too_large",
     N_("The form was too large to send. Your description may be at most 20,000 characters: "
        "please shorten it and send the form again.")},
    {"*", "*", N_("Please check this entry.")},
};

static bool matches(const char *pattern, const char *value)
{
    return strcmp(pattern, "*") == 0 || strcmp(pattern, value) == 0;
}

const char *errtext_sentence(const Lang *l, const GrievanceError *err)
{
    for (size_t i = 0; i < sizeof errtexts / sizeof errtexts[0]; i++) {
        const ErrText *e = &errtexts[i];
        if (matches(e->field, err->field) && matches(e->code, err->code))
            return tr(l, e->msgid);
    }
    return tr(l, errtexts[sizeof errtexts / sizeof errtexts[0] - 1].msgid);
}

const char *errtext_api(const Lang *l, const GrievanceError *err)
{
    if (l == i18n_default())
        return err->message;
    /* A body that is not JSON at all: its fixed message is a msgid of its own. */
    return err->malformed ? tr(l, err->message) : errtext_sentence(l, err);
}
