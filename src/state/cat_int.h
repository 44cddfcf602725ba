/* state/cat_int.h - catalog internals shared by cat_*.c, session.c,
 * txn.c and snap.c. */
#ifndef CN_STATE_CAT_INT_H
#define CN_STATE_CAT_INT_H

#include "state_int.h"

/* A lower-cased composite key being built (parts joined by NUL). */
struct cn__kb {
    uint8_t b[3 * CN_CATALOG_STR_BYTES_MAX + 8];
    uint32_t len;
};

void cn__kb_init(struct cn__kb *kb);
void cn__kb_add(struct cn__kb *kb, const char *s, size_t n, bool sep);
void cn__kb_sep(struct cn__kb *kb);
/* First node of t whose key starts with prefix, or NULL; cn__under says
 * whether a following node still does. */
struct cn_rb_node *cn__first_under(const struct cn_rbtree *t,
                                   const struct cn__kb *prefix);
bool cn__under(const struct cn_rbtree *t, const struct cn_rb_node *n,
               const struct cn__kb *prefix);

/* What a check row copies from its node and service. */
struct cn__check_ctx {
    const struct cn__node_row *node;
    const struct cn__svc_row *svc;   /* NULL: a node-level check... */
    /* ...or, on restore, the copies the snapshot kept. */
    const struct cn__s *svc_name;
    const struct cn__list *svc_tags;
};

/* Row writers in the command wire forms (cat_cmd.c), for snapshots. */
void cn__put_node(struct cn_mp_writer *w, const struct cn_node *n);
void cn__put_svc(struct cn_mp_writer *w, const struct cn_service *s);
void cn__put_check(struct cn_mp_writer *w, const struct cn_check *c);
void cn__put_session(struct cn_mp_writer *w, const struct cn_session *s);
/* A catalog op of a txn (cmd.c writes the KV ones). */
int cn__cat_op_put(struct cn_mp_writer *w, const struct cn_txn_op *op);
int cn__list_read(struct cn_mp_reader *r, struct cn__list *out, int per);
int cn__str_read(struct cn_mp_reader *r, struct cn__s *out, uint32_t max);

struct cn__node_row *cn__node_row_new(const struct cn__node_in *in);
struct cn__svc_row *cn__svc_row_new(const struct cn__svc_in *in,
                                    const struct cn__s *node);
struct cn__check_row *cn__check_row_new(const struct cn__check_in *in,
                                        const struct cn__check_ctx *x);
struct cn__session *cn__session_row_new(const struct cn__sess_in *in);
struct cn__svcname_row *cn__svcname_row_new(const struct cn__s *name);
struct cn__lock_row *cn__lock_row_new(const struct cn__session *s,
                                      const uint8_t *kv_key, size_t kv_key_len);
struct cn__delay_row *cn__delay_row_new(const uint8_t *kv_key, size_t len,
                                        uint64_t until_ms);

struct cn__node_row *cn__node_find(const struct cn_state *st, const char *name,
                                   size_t len);
struct cn__node_row *cn__node_find_id(const struct cn_state *st, const char *id,
                                      size_t len);
struct cn__svc_row *cn__svc_find(const struct cn_state *st, const char *node,
                                 size_t node_len, const char *id, size_t id_len);
struct cn__check_row *cn__check_find(const struct cn_state *st, const char *node,
                                     size_t node_len, const char *id,
                                     size_t id_len);
struct cn__svcname_row *cn__svcname_find(const struct cn_state *st,
                                         const char *name, size_t len);

#define CN__ROW(n, type, member) CN_CONTAINER_OF(n, type, member)

/* ---- catalog ops (catalog.c) ----
 * Each returns <0 (-ENOMEM), 0, or CN__WHY_* / CN__CAT_* (a failure the
 * reply reports, with text from cn__cat_error). */

enum cn__cat_why {
    CN__CAT_NO_NODE = 32,     /* "Missing node registration" */
    CN__CAT_NO_SERVICE,       /* "Missing service registration" */
    CN__CAT_MUST_NODE,        /* "Must provide node" */
    CN__CAT_MUST_ADDRESS,     /* "Must provide address if SkipNodeUpdate..." */
    CN__CAT_BAD_NODE_ID,      /* "Bad node ID: ..." */
    CN__CAT_SVC_NAME,         /* "Must provide service name with ID" */
    CN__CAT_SVC_ADDRESS,      /* "Invalid service address" */
    CN__CAT_CHECK_NODE,       /* "Node 'x' for check 'y' doesn't match ..." */
    CN__CAT_NAME_TAKEN,       /* "Node name x is reserved by node ..." */
    CN__CAT_STALE,            /* txn cas: "failed to set node ..., index is stale" */
    CN__CAT_STALE_DELETE,     /* "failed to delete node ..., index is stale" */
    CN__CAT_MISSING,          /* txn get: "node \"x\" doesn't exist" */
    CN__CAT_SESS_CHECK,       /* "Missing check 'x' registration" */
    CN__CAT_SESS_CRITICAL,    /* "Check 'x' is in critical state" */
    CN__CAT_SESS_TTL,         /* "Invalid Session TTL ..." */
    CN__CAT_SESS_EXISTS,      /* Duplicate session ID. */
    CN__CAT_SVC_META,         /* "Invalid Service Meta for node ..." */
};

/* Failure details for the error text (filled by the op that failed). */
struct cn__cat_err {
    struct cn__s a, b, c, d;  /* Names quoted in the text. */
    const char *detail;       /* Extra words (static). */
    const char *prefix;       /* Register's "failed inserting node: ", ... */
    int64_t num;
};

struct cn__cat_ctx {
    struct cn_state *st;
    uint64_t index;
    uint64_t now_ms;
    struct cn__cat_err err;
};

int cn__cat_register(struct cn__cat_ctx *x, const struct cn__cmd *c);
int cn__cat_deregister(struct cn__cat_ctx *x, const struct cn__s *node,
                       const struct cn__s *service_id, const struct cn__s *check_id);
int cn__cat_ensure_node(struct cn__cat_ctx *x, const struct cn__node_in *in,
                        const struct cn__node_row **res);
int cn__cat_ensure_service(struct cn__cat_ctx *x, const struct cn__s *node,
                           const struct cn__svc_in *in,
                           const struct cn__svc_row **res);
int cn__cat_ensure_check(struct cn__cat_ctx *x, const struct cn__check_in *in,
                         const struct cn__check_row **res);
int cn__cat_delete_node(struct cn__cat_ctx *x, struct cn__node_row *n);
int cn__cat_delete_service(struct cn__cat_ctx *x, struct cn__svc_row *s);
int cn__cat_delete_check(struct cn__cat_ctx *x, struct cn__check_row *c);
/* Writes the text of failure `why` (CN__WHY_* are kv's) into b. */
void cn__cat_error(const struct cn__cat_err *e, int why, struct cn_buf *b);
/* Go's %q of n bytes (txn.c). */
void cn__quote(struct cn_buf *b, const uint8_t *s, size_t n);

/* ---- sessions (session.c) ---- */

int cn__session_create(struct cn__cat_ctx *x, const struct cn__sess_in *in);
int cn__session_destroy(struct cn__cat_ctx *x, struct cn__session *s);
/* Every session of node_lc that names check id_lc (node or service checks). */
int cn__sessions_for_check(struct cn__cat_ctx *x, const struct cn__check_row *c);
int cn__sessions_of_node(struct cn__cat_ctx *x, const struct cn__node_row *n);
/* Keeps the lock table in step when a KV row's holder changes. */
int cn__locks_update(struct cn_state *st, const struct cn__kv_row *old_row,
                     const struct cn__kv_row *new_row);
/* Drops lock delays that ended by now_ms. */
int cn__delays_prune(struct cn_state *st, uint64_t now_ms);

/* ---- commit (catalog.c): bumps service indexes, touches watches ---- */
void cn__cat_commit(struct cn_state *st, const struct cn__undo *u,
                    uint64_t index, unsigned *tables);

#endif
