/* inih with line numbers. Debian's inih is built without INI_HANDLER_LINENO, so the handler
 * cannot learn the line; this wrapper counts lines in its own reader and passes them on, so every
 * config and rules error can name file and line. */
#ifndef REDRESS_INIFILE_H
#define REDRESS_INIFILE_H

typedef int (*IniLineHandler)(void *user, const char *section, const char *name, const char *value,
                              int lineno);

/* Parses the file at path. Returns 0; -1 if it cannot be opened (errno set); or the number of the
 * first line that is not valid INI, is longer than inih's line buffer (199 characters; parsing
 * stops there), or whose handler returned 0. */
int inifile_parse(const char *path, IniLineHandler handler, void *user);

#endif
