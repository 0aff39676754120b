/* inih driven through ini_parse_stream with a line-counting reader. */
#include "inifile.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    FILE *file;
    int lineno;
    int too_long; /* the first line longer than inih's buffer, or 0 */
    IniLineHandler handler;
    void *user;
} IniFile;

static char *inifile_reader(char *str, int num, void *stream)
{
    IniFile *ini = stream;
    char *line = fgets(str, num, ini->file);
    if (line)
        ini->lineno++;
    /* inih (INI_MAX_LINE, 200 in Debian's build) would parse the rest of a longer line as a line
     * of its own: stop at such a line instead and report it. */
    if (line && !strchr(line, '\n') && !feof(ini->file)) {
        int c = fgetc(ini->file); /* a line that just fills the buffer is fine */
        if (c != '\n' && c != EOF) {
            ini->too_long = ini->lineno;
            return NULL;
        }
    }
    return line;
}

static int inifile_handler(void *user, const char *section, const char *name, const char *value)
{
    IniFile *ini = user;
    return ini->handler(ini->user, section, name, value, ini->lineno);
}

int inifile_parse(const char *path, IniLineHandler handler, void *user)
{
    IniFile ini = {fopen(path, "r"), 0, 0, handler, user};
    if (!ini.file)
        return -1;
    int rc = ini_parse_stream(inifile_reader, &ini, inifile_handler, &ini);
    fclose(ini.file);
    if (ini.too_long && (rc == 0 || rc > ini.too_long))
        rc = ini.too_long;
    return rc;
}
