/* cli/kv.c - `cairn kv get|put|delete|export|import` (Consul's flags,
 * output texts and exit codes; consul-compat.md 9). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli_int.h"

static struct {
    bool recurse, keys, detailed, base64, cas;
    char separator[64];
    uint64_t modify_index, flags;
    char acquire_session[64];
    bool acquire, release;
    char session[64];
    char prefix[1024];
} o;

static int key_path(struct cn_buf *b, const char *key)
{
    cn_buf_init(b, CN_HTTP_HEAD_BYTES_MAX);
    if (cn_buf_puts(b, "/v1/kv/") < 0 || cn_url_encode(b, key, strlen(key), true) < 0 ||
        cn_buf_putc(b, 0) < 0) {
        fprintf(stderr, "Error! Key too long\n");
        cn_buf_close(b);
        return -1;
    }
    return 0;
}

/* Decodes JSON entries of a KV response; caller json_decref()s. */
static json_t *entries(const struct cn_http_response *resp)
{
    json_error_t je;
    json_t *v;
    cli_fix_big_flags((char *)resp->body, resp->body_len); /* Semaphore flags. */
    v = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
    if (!v || !json_is_array(v)) {
        fprintf(stderr, "Error! Unexpected reply from agent\n");
        json_decref(v);
        return NULL;
    }
    return v;
}

/* The entry's value decoded from base64 (NULL value = empty). */
static uint8_t *entry_value(const json_t *e, size_t *len)
{
    const char *s = json_string_value(json_object_get(e, "Value"));
    size_t n = s ? strlen(s) : 0;
    uint8_t *out = malloc(n / 4 * 3 + 1);
    *len = 0;
    if (out && s && cn_base64_decode(s, n, out, len) < 0)
        *len = 0;
    return out;
}

static void print_value(const json_t *e)
{
    size_t n;
    uint8_t *v = entry_value(e, &n);
    if (!v)
        return;
    if (o.base64) {
        const char *s = json_string_value(json_object_get(e, "Value"));
        fputs(s ? s : "", stdout);
    } else {
        fwrite(v, 1, n, stdout);
    }
    free(v);
}

static void print_detailed(const json_t *e)
{
    const char *sess = json_string_value(json_object_get(e, "Session"));
    printf("CreateIndex      %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(e, "CreateIndex")));
    printf("Flags            %" PRIu64 "\n", (uint64_t)json_integer_value(json_object_get(e, "Flags")));
    printf("Key              %s\n", json_string_value(json_object_get(e, "Key")));
    printf("LockIndex        %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(e, "LockIndex")));
    printf("ModifyIndex      %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(e, "ModifyIndex")));
    printf("Session          %s\n", sess ? sess : "-");
    printf("Value            ");
    print_value(e);
    printf("\n");
}

static const struct cli_flag get_flags[] = {
    {"recurse", CLI_BOOL, &o.recurse, 0, "list every key under the prefix as key:value"},
    {"keys", CLI_BOOL, &o.keys, 0, "list keys only, up to -separator"},
    {"separator", CLI_STR, o.separator, sizeof o.separator, "with -keys: list up to this string (default /)"},
    {"detailed", CLI_BOOL, &o.detailed, 0, "print metadata with the value"},
    {"base64", CLI_BOOL, &o.base64, 0, "print values base64-encoded"},
};
static const struct cli_cmd get_cmd = {"kv get", "KEY_OR_PREFIX",
    "Retrieves the value at KEY; exits 1 if it does not exist.", get_flags,
    CN_ARRAY_LEN(get_flags), true};

static int kv_get(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    struct cn_buf path;
    char query[128];
    int argi, rc, ret = 1;
    const char *key;

    snprintf(o.separator, sizeof o.separator, "/");
    if ((rc = cli_parse(&get_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    key = argi < argc ? argv[argi] : "";
    if (!*key && !o.recurse && !o.keys) {
        fprintf(stderr, "Error! Missing KEY argument\n");
        return 1;
    }
    if (o.keys)
        snprintf(query, sizeof query, "keys&separator=%s", o.separator);
    else
        snprintf(query, sizeof query, "%s", o.recurse ? "recurse" : "");
    if (key_path(&path, key) < 0)
        return 1;
    rc = cli_request(&h, "GET", (const char *)path.data, query, NULL, 0, &resp);
    cn_buf_close(&path);
    if (rc < 0)
        return 1;
    if (resp->status == 404) {
        if (o.keys || o.recurse)
            ret = 0; /* An empty listing is not an error. */
        else
            fprintf(stderr, "Error! No key exists at: %s\n", key);
    } else if (resp->status != 200) {
        cli_http_error("querying the KV store", resp);
    } else {
        json_t *v = entries(resp), *e;
        size_t i;
        if (v) {
            json_array_foreach(v, i, e) {
                if (o.keys) {
                    printf("%s\n", json_string_value(e));
                } else if (o.detailed) {
                    if (i)
                        printf("\n");
                    print_detailed(e);
                } else if (o.recurse) {
                    printf("%s:", json_string_value(json_object_get(e, "Key")));
                    print_value(e);
                    printf("\n");
                } else {
                    print_value(e);
                    printf("\n");
                }
            }
            json_decref(v);
            ret = 0;
        }
    }
    cn_http_response_free(resp);
    return ret;
}

static const struct cli_flag put_flags[] = {
    {"cas", CLI_BOOL, &o.cas, 0, "check-and-set: write only if -modify-index matches"},
    {"modify-index", CLI_U64, &o.modify_index, 0, "index for -cas (0: only if absent)"},
    {"flags", CLI_U64, &o.flags, 0, "opaque unsigned integer stored with the value"},
    {"acquire", CLI_BOOL, &o.acquire, 0, "acquire the lock with -session"},
    {"release", CLI_BOOL, &o.release, 0, "release the lock held by -session"},
    {"session", CLI_STR, o.session, sizeof o.session, "session ID for -acquire/-release"},
    {"base64", CLI_BOOL, &o.base64, 0, "DATA is base64-encoded"},
};
static const struct cli_cmd put_cmd = {"kv put", "KEY [DATA|@file|-]",
    "Writes DATA (a literal, @file, or - for stdin) at KEY.", put_flags,
    CN_ARRAY_LEN(put_flags), true};

static int decode_b64_arg(uint8_t **val, size_t *len)
{
    uint8_t *dec = cn_alloc(*len / 4 * 3 + 1);
    size_t n;
    if (!dec || cn_base64_decode((char *)*val, *len, dec, &n) < 0) {
        fprintf(stderr, "Error! Cannot base64 decode data\n");
        cn_free(dec);
        return -1;
    }
    cn_free(*val);
    *val = dec;
    *len = n;
    return 0;
}

static int kv_put(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    struct cn_buf path;
    char query[160] = "";
    uint8_t *val = NULL;
    size_t len = 0;
    int argi, rc, ret = 1;

    if ((rc = cli_parse(&put_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (argi >= argc) {
        fprintf(stderr, "Error! Missing KEY argument\n");
        return 1;
    }
    if ((o.acquire || o.release) && !o.session[0]) {
        fprintf(stderr, "Error! Missing -session (required with -acquire and -release)\n");
        return 1;
    }
    if (argi + 1 < argc && cli_read_value(argv[argi + 1], &val, &len, CN_KV_VALUE_BYTES_MAX * 2) < 0)
        return 1;
    if (o.base64 && val && decode_b64_arg(&val, &len) < 0)
        return 1;
    int q = snprintf(query, sizeof query, "flags=%llu", (unsigned long long)o.flags);
    if (o.cas)
        q += snprintf(query + q, sizeof query - (size_t)q, "&cas=%llu",
                      (unsigned long long)o.modify_index);
    if (o.acquire || o.release)
        snprintf(query + q, sizeof query - (size_t)q, "&%s=%s",
                 o.acquire ? "acquire" : "release", o.session);
    if (key_path(&path, argv[argi]) < 0) {
        cn_free(val);
        return 1;
    }
    rc = cli_request(&h, "PUT", (const char *)path.data, query, val, len, &resp);
    cn_buf_close(&path);
    cn_free(val);
    if (rc < 0)
        return 1;
    if (resp->status != 200) {
        cli_http_error("writing to the KV store", resp);
    } else if (resp->body_len >= 4 && memcmp(resp->body, "true", 4) == 0) {
        if (o.acquire)
            printf("Success! Lock acquired on: %s\n", argv[argi]);
        else if (o.release)
            printf("Success! Lock released on: %s\n", argv[argi]);
        else
            printf("Success! Data written to: %s\n", argv[argi]);
        ret = 0;
    } else if (o.cas) {
        fprintf(stderr, "Error! Did not write to %s: CAS failed\n", argv[argi]);
    } else if (o.acquire) {
        fprintf(stderr, "Error! Failed writing data: lock not acquired\n");
    } else {
        fprintf(stderr, "Error! Failed writing data to %s\n", argv[argi]);
    }
    cn_http_response_free(resp);
    return ret;
}

static const struct cli_flag del_flags[] = {
    {"recurse", CLI_BOOL, &o.recurse, 0, "delete every key under the prefix"},
    {"cas", CLI_BOOL, &o.cas, 0, "delete only if -modify-index matches"},
    {"modify-index", CLI_U64, &o.modify_index, 0, "index for -cas"},
};
static const struct cli_cmd del_cmd = {"kv delete", "KEY_OR_PREFIX",
    "Removes KEY (or every key under the prefix with -recurse).", del_flags,
    CN_ARRAY_LEN(del_flags), true};

static int kv_delete(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    struct cn_buf path;
    char query[64] = "";
    int argi, rc, ret = 1;
    const char *key;

    if ((rc = cli_parse(&del_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    key = argi < argc ? argv[argi] : "";
    if (!*key && !o.recurse) {
        fprintf(stderr, "Error! Missing KEY argument\n");
        return 1;
    }
    if (o.cas && o.recurse) {
        fprintf(stderr, "Cannot specify both -cas and -recurse!\n");
        return 1;
    }
    if (o.recurse)
        snprintf(query, sizeof query, "recurse");
    else if (o.cas)
        snprintf(query, sizeof query, "cas=%llu", (unsigned long long)o.modify_index);
    if (key_path(&path, key) < 0)
        return 1;
    rc = cli_request(&h, "DELETE", (const char *)path.data, query, NULL, 0, &resp);
    cn_buf_close(&path);
    if (rc < 0)
        return 1;
    if (resp->status != 200) {
        cli_http_error("deleting from the KV store", resp);
    } else if (resp->body_len >= 4 && memcmp(resp->body, "true", 4) == 0) {
        if (o.recurse)
            printf("Success! Deleted keys with prefix: %s\n", key);
        else
            printf("Success! Deleted key: %s\n", key);
        ret = 0;
    } else {
        fprintf(stderr, "Error! Did not delete key %s: CAS failed\n", key);
    }
    cn_http_response_free(resp);
    return ret;
}

static const struct cli_cmd export_cmd = {"kv export", "[PREFIX]",
    "Prints every key under PREFIX as JSON: [{\"key\",\"flags\",\"value\"(base64)}].",
    NULL, 0, true};

static int kv_export(int argc, char **argv)
{
    struct cli_http h;
    struct cn_http_response *resp;
    struct cn_buf path;
    int argi, rc, ret = 1;

    if ((rc = cli_parse(&export_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (key_path(&path, argi < argc ? argv[argi] : "") < 0)
        return 1;
    rc = cli_request(&h, "GET", (const char *)path.data, "recurse", NULL, 0, &resp);
    cn_buf_close(&path);
    if (rc < 0)
        return 1;
    if (resp->status != 200 && resp->status != 404) {
        cli_http_error("querying the KV store", resp);
    } else {
        json_t *out = json_array(), *v = resp->status == 200 ? entries(resp) : json_array(), *e;
        size_t i;
        if (v && out) {
            json_array_foreach(v, i, e) {
                json_t *x = json_object();
                json_t *val = json_object_get(e, "Value");
                json_object_set(x, "key", json_object_get(e, "Key"));
                json_object_set(x, "flags", json_object_get(e, "Flags"));
                json_object_set_new(x, "value", json_string(json_is_string(val)
                                                           ? json_string_value(val) : ""));
                json_array_append_new(out, x);
            }
            /* Consul indents its export with tabs. */
            char *raw = json_dumps(out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
            char *text = raw ? cli_unfix_big_flags(raw) : NULL;
            free(raw);
            if (text) {
                for (char *p = text; *p; p++) {
                    if (*p == '\n') {
                        putchar('\n');
                        while (p[1] == ' ') {
                            putchar('\t');
                            p++;
                        }
                    } else {
                        putchar(*p);
                    }
                }
                putchar('\n');
                free(text);
                ret = 0;
            }
        }
        json_decref(v);
        json_decref(out);
    }
    cn_http_response_free(resp);
    return ret;
}

static const struct cli_flag import_flags[] = {
    {"prefix", CLI_STR, o.prefix, sizeof o.prefix, "key prefix to prepend to every imported key"},
};
static const struct cli_cmd import_cmd = {"kv import", "[DATA|@file|-]",
    "Writes every entry of an export (JSON from `kv export`) to the KV store.",
    import_flags, CN_ARRAY_LEN(import_flags), true};

static int import_entry(const struct cli_http *h, const json_t *e)
{
    const char *key = json_string_value(json_object_get(e, "key"));
    const char *b64 = json_string_value(json_object_get(e, "value"));
    json_int_t flags = json_integer_value(json_object_get(e, "flags"));
    struct cn_http_response *resp;
    struct cn_buf path;
    char query[48], full[2048];
    uint8_t *val;
    size_t n = 0;
    int rc;

    if (!key || !b64) { /* Negative: a flag above INT64_MAX (cli_fix_big_flags). */
        fprintf(stderr, "Error! Invalid entry in import data\n");
        return -1;
    }
    val = malloc(strlen(b64) / 4 * 3 + 1);
    if (!val || cn_base64_decode(b64, strlen(b64), val, &n) < 0) {
        fprintf(stderr, "Error! Cannot base 64 decode value for key %s\n", key);
        free(val);
        return -1;
    }
    snprintf(full, sizeof full, "%s%s", o.prefix, key);
    snprintf(query, sizeof query, "flags=%llu", (unsigned long long)flags);
    if (key_path(&path, full) < 0) {
        free(val);
        return -1;
    }
    rc = cli_request(h, "PUT", (const char *)path.data, query, val, n, &resp);
    cn_buf_close(&path);
    free(val);
    if (rc < 0)
        return -1;
    rc = resp->status == 200 ? 0 : -1;
    if (rc == 0)
        printf("Imported: %s\n", full);
    else
        cli_http_error("importing", resp);
    cn_http_response_free(resp);
    return rc;
}

static int kv_import(int argc, char **argv)
{
    struct cli_http h;
    uint8_t *data;
    size_t len;
    json_error_t je;
    json_t *v, *e;
    size_t i;
    int argi, rc;

    if ((rc = cli_parse(&import_cmd, argc, argv, &h, &argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (cli_read_value(argi < argc ? argv[argi] : "-", &data, &len, 256u << 20) < 0)
        return 1;
    cli_fix_big_flags((char *)data, len);
    v = json_loadb((const char *)data, len, 0, &je);
    cn_free(data);
    if (!json_is_array(v)) {
        fprintf(stderr, "Error! Cannot unmarshal data: %s\n", v ? "not a JSON array" : je.text);
        json_decref(v);
        return 1;
    }
    rc = 0;
    json_array_foreach(v, i, e) {
        if (import_entry(&h, e) < 0) {
            rc = 1;
            break;
        }
    }
    json_decref(v);
    return rc;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *synopsis;
} subs[] = {
    {"get", kv_get, "Retrieve or list data"},
    {"put", kv_put, "Set or update data"},
    {"delete", kv_delete, "Remove data"},
    {"export", kv_export, "Export a tree as JSON"},
    {"import", kv_import, "Import a tree from JSON"},
};

int cn__cli_kv(int argc, char **argv)
{
    memset(&o, 0, sizeof o);
    if (argc >= 1) {
        for (size_t i = 0; i < CN_ARRAY_LEN(subs); i++)
            if (strcmp(argv[0], subs[i].name) == 0)
                return subs[i].fn(argc - 1, argv + 1);
    }
    printf("Usage: cairn kv <subcommand> [options] [args]\n\n"
           "  Interact with the key-value store.\n\nSubcommands:\n");
    for (size_t i = 0; i < CN_ARRAY_LEN(subs); i++)
        printf("    %-8s %s\n", subs[i].name, subs[i].synopsis);
    return argc >= 1 && strcmp(argv[0], "-h") != 0 && strcmp(argv[0], "--help") != 0 &&
                   strcmp(argv[0], "-help") != 0 ? 1 : 0;
}
