/* Translations for people, chosen per request: every po/<tag>.po file (gettext PO, read with
 * Debian's libgettextpo) is one language, loaded once at start and read-only afterwards, so any
 * thread may look up any language at any time. English is the source language: its texts are the
 * msgids themselves and need no file. Adding a language is adding a PO file.
 *
 * libc's gettext() was not used because its language is the process locale: one per process, not
 * one per request, and setting it per thread needs every locale installed on the machine.
 *
 * Placeholders are named, {reference}, and the PO entries carry the python-brace-format flag so
 * msgfmt --check-format checks them; the loader refuses a translation whose placeholders differ
 * from its msgid's. */
#ifndef REDRESS_I18N_H
#define REDRESS_I18N_H

#include <stdbool.h>
#include <stddef.h>

typedef struct Lang Lang;

/* Marks a text for extraction (xgettext) where it is only stored, e.g. in a table; translate it
 * later with tr()/trc(). */
#define N_(msgid) (msgid)
#define NC_(ctx, msgid) (msgid)

/* Loads every *.po file of dir. 0, or -1 with file and reason in err (a PO syntax error, a fuzzy
 * or untranslated header, differing placeholders). Call once before any thread uses the module. */
int i18n_load(const char *dir, char *err, size_t errlen);
void i18n_free(void);

/* The languages, English included, ordered by tag. */
size_t i18n_count(void);
const Lang *i18n_at(size_t i);
/* The language with this tag (case-insensitive, "zh-hans" or "zh_Hans"), or NULL. */
const Lang *i18n_find(const char *tag);
const Lang *i18n_default(void); /* English */
/* The best language for an Accept-Language header (q-values; a range matches a language with the
 * same primary subtag, so fr-CA is French and zh-CN Chinese); English when none matches or the
 * header is NULL. Never NULL. */
const Lang *i18n_negotiate(const char *accept_language);

const char *lang_tag(const Lang *l);  /* BCP 47: "ar", "zh-Hans" */
const char *lang_name(const Lang *l); /* in the language itself: "العربية" */
bool lang_rtl(const Lang *l);

/* The translation of msgid (within context ctx), or msgid itself when the language has none.
 * Borrowed: lives as long as the module. */
const char *tr(const Lang *l, const char *msgid);
const char *trc(const Lang *l, const char *ctx, const char *msgid);

/* Replaces each {name} of text by its value from the NULL-terminated list of name, value pairs;
 * an unknown {name} stays as it is. Returns a new string (caller frees). */
char *i18n_expand(const char *text, const char *const *pairs);

/* "2026-11-22T08:26:56Z" as a person of language l writes it, with the time zone (UTC) named:
 * "22 November 2026, 08:26 UTC". 0, or -1 (out holds the input as it was) when it is not such a
 * time. */
int i18n_datetime(const Lang *l, const char *rfc3339, char *out, size_t outlen);

#endif
