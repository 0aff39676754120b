/* inih driven through ini_parse_stream with a line-counting reader. */
#include "inifile.h"

#include <ini.h>
#include <stdio.h>

typedef struct {
    FILE *file;
    int lineno;
    IniLineHandler handler;
    void *user;
} IniFile;

static char *inifile_reader(char *str, int num, void *stream)
{
    IniFile *ini = stream;
    char *line = fgets(str, num, ini->file);
    if (line)
        ini->lineno++;
    return line;
}

static int inifile_handler(void *user, const char *section, const char *name, const char *value)
{
    IniFile *ini = user;
    return ini->handler(ini->user, section, name, value, ini->lineno);
}

int inifile_parse(const char *path, IniLineHandler handler, void *user)
{
    IniFile ini = {fopen(path, "r"), 0, handler, user};
    if (!ini.file)
        return -1;
    int rc = ini_parse_stream(inifile_reader, &ini, inifile_handler, &ini);
    fclose(ini.file);
    return rc;
}
