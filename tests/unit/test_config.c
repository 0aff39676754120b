/* Configuration loading (common/config.c over inih). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static const char *write_conf(const char *name, const char *content)
{
    const char *path = scratch_write(name, content, strlen(content));
    assert_non_null(path);
    return path;
}

static int setup_tmp(void **state)
{
    (void)state;
    return scratch_setup("config");
}

static int teardown_tmp(void **state)
{
    (void)state;
    return scratch_teardown();
}

static void test_defaults(void **state)
{
    (void)state;
    char err[512] = "";
    Config *cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_null(cfg->path);
    assert_string_equal(cfg->listen_addr, "127.0.0.1");
    assert_int_equal(cfg->port, 8443);
    assert_int_equal(cfg->request_timeout_s, 10);
    assert_int_equal(cfg->max_body_bytes, 262144);
    assert_int_equal(cfg->max_form_bytes, 393216);
    assert_string_equal(cfg->po_dir, "po");
    assert_int_equal(cfg->max_header_bytes, 8192);
    assert_true(cfg->max_connections > 0);
    assert_true(cfg->workers >= 1);
    assert_string_equal(cfg->log_level, "info");
    assert_string_equal(cfg->intake_user, "redress_intake");
    assert_string_equal(cfg->taxonomy_file, "config/taxonomy.json");
    assert_int_equal(cfg->batch_window_us, 0);
    config_free(cfg);
}

static void test_file_over_defaults(void **state)
{
    (void)state;
    char err[512] = "";
    const char *path = write_conf("ok.conf", "; a comment\n"
                                             "# another\n"
                                             "[server]\n"
                                             "port = 9443\n"
                                             "request_timeout=3\n"
                                             "\n"
                                             "[database]\n"
                                             "conninfo = host=/tmp port=5999 dbname=redress\n"
                                             "admin_user =\n");
    Config *cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->path, path);
    assert_int_equal(cfg->port, 9443);
    assert_int_equal(cfg->request_timeout_s, 3);
    assert_int_equal(cfg->max_body_bytes, 262144); /* default kept */
    assert_string_equal(cfg->conninfo, "host=/tmp port=5999 dbname=redress");
    assert_string_equal(cfg->admin_user, "");
    config_free(cfg);
}

/* read_conninfo: resolved like conninfo, and config_for_reads hands it out as the conninfo of an
 * independent copy (freeing either leaves the other whole). */
static void test_read_conninfo(void **state)
{
    (void)state;
    char err[512] = "", cwd[4096], want[4200];
    const char *path = write_conf("read.conf", "[database]\n"
                                               "conninfo = host=/tmp port=5999 dbname=redress\n"
                                               "read_conninfo = host=var/sock port=6000\n");
    Config *cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "host='%s/var/sock' port='6000'", cwd);
    assert_string_equal(cfg->read_conninfo, want);
    Config *reads = config_for_reads(cfg);
    assert_non_null(reads);
    assert_string_equal(reads->conninfo, want);
    assert_int_equal(reads->port, cfg->port);
    assert_ptr_not_equal(reads->intake_user, cfg->intake_user);
    config_free(cfg);
    assert_string_equal(reads->intake_user, "redress_intake");
    config_free(reads);

    path = write_conf("noread.conf", "[database]\nconninfo = host=/tmp\n");
    cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->read_conninfo, "");
    assert_null(config_for_reads(cfg)); /* reads use conninfo */
    config_free(cfg);
}

/* Loads content; expects failure with every needle in the message. */
static void expect_fail(const char *content, const char *const *needles)
{
    char err[512] = "";
    const char *path = write_conf("bad.conf", content);
    Config *cfg = config_load(path, err, sizeof err);
    if (cfg) {
        config_free(cfg);
        fail_msg("accepted: %s", content);
    }
    for (; *needles; needles++) {
        if (!strstr(err, *needles))
            fail_msg("'%s' not in: %s", *needles, err);
    }
}

static void test_bad_value_named(void **state)
{
    (void)state;
    expect_fail("[server]\nlisten = 127.0.0.1\n\nport = 99999\n",
                (const char *const[]){"bad.conf", ":4:", "port", "between 1 and 65535", NULL});
    expect_fail("[server]\nport = 84x3\n",
                (const char *const[]){"bad.conf", ":2:", "port", "whole number", NULL});
    expect_fail("[server]\nport =\n",
                (const char *const[]){"bad.conf", ":2:", "port", "whole number", NULL});
    expect_fail("[server]\nworkers = 99999999999999999999999\n",
                (const char *const[]){"bad.conf", ":2:", "workers", "whole number", NULL});
    expect_fail("[server]\nmax_body_bytes = 100\n",
                (const char *const[]){":2:", "max_body_bytes", "between 1024", NULL});
    expect_fail("[server]\nrequest_timeout = 0\n",
                (const char *const[]){":2:", "request_timeout", "between 1 and 3600", NULL});
    expect_fail("[tls]\ncert =\n", (const char *const[]){":2:", "cert", "must not be empty", NULL});
    expect_fail("\n\n[keys]\ncontact_key_file = \n",
                (const char *const[]){":4:", "contact_key_file", "must not be empty", NULL});
}

static void test_unknown_key_refused(void **state)
{
    (void)state;
    expect_fail("[server]\nport = 8443\nprot = 8443\n",
                (const char *const[]){"bad.conf", ":3:", "prot", "unknown", NULL});
    expect_fail("[sever]\nport = 8443\n", (const char *const[]){":2:", "sever", "unknown", NULL});
    expect_fail("port = 8443\n", (const char *const[]){":1:", "port", "unknown", NULL});
    /* The same name in another section is another key. */
    expect_fail("[database]\nport = 5432\n",
                (const char *const[]){":2:", "database", "unknown", NULL});
}

static void test_not_ini_and_missing(void **state)
{
    (void)state;
    expect_fail("[server]\nthis line is not a setting\n",
                (const char *const[]){"bad.conf", ":2", NULL});
    expect_fail("[server\nport = 8443\n", (const char *const[]){"bad.conf", ":1", NULL});
    char err[512] = "", path[160];
    snprintf(path, sizeof path, "%s/none.conf", scratch_dir);
    assert_null(config_load(path, err, sizeof err));
    assert_non_null(strstr(err, "none.conf"));
}

static void test_long_line(void **state)
{
    (void)state;
    /* A multi-host conninfo easily passes inih's 199-character line buffer. Debian's inih would
     * parse the rest of the line as a line of its own ("unknown setting" on the wrong line, or
     * worse, a truncated value taken silently): such a line is refused, naming its own line. */
    char content[2048], want[1024];
    snprintf(
        want, sizeof want,
        "host=db1.example.internal,db2.example.internal,db3.example.internal "
        "port=5432,5432,5432 dbname=redress target_session_attrs=read-write "
        "sslmode=verify-full sslrootcert=/etc/redress/db-ca.pem connect_timeout=5 "
        "application_name=redress keepalives_idle=30 keepalives_interval=10 keepalives_count=3");
    assert_true(strlen(want) > 250);
    snprintf(content, sizeof content,
             "[server]\nport = 9000\n[database]\nconninfo = %s\n[server]\nport = 0\n", want);
    char err[512] = "";
    const char *path = write_conf("long.conf", content);
    Config *cfg = config_load(path, err, sizeof err);
    assert_null(cfg);
    if (!strstr(err, "long.conf:4:") || !strstr(err, "199"))
        fail_msg("a long line is not named: %s", err);
    /* 190 characters still fit. */
    want[190 - strlen("conninfo = ")] = '\0';
    snprintf(content, sizeof content, "[database]\nconninfo = %s\n", want);
    path = write_conf("long.conf", content);
    cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("conninfo refused: %s", err);
    assert_string_equal(cfg->conninfo, want);
    config_free(cfg);
    /* A last line without a newline is complete, not too long. */
    path = write_conf("nonl.conf", "[server]\nport = 9001");
    cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->port, 9001);
    config_free(cfg);
}

static void test_default_path(void **state)
{
    (void)state;
    assert_string_equal(config_default_path("x.conf"), "x.conf");
    setenv("REDRESS_CONFIG", "/etc/redress.conf", 1);
    assert_string_equal(config_default_path(NULL), "/etc/redress.conf");
    assert_string_equal(config_default_path("y.conf"), "y.conf");
    unsetenv("REDRESS_CONFIG");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_over_defaults),
        cmocka_unit_test(test_bad_value_named),
        cmocka_unit_test(test_unknown_key_refused),
        cmocka_unit_test(test_not_ini_and_missing),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_read_conninfo),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
