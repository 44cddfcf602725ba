/* base/rbtree.c - intrusive red-black tree keyed by byte strings.
 *
 * The textbook algorithm (Cormen et al., ch. 13) with parent pointers, so
 * in-order successor needs no stack: prefix scans over KV are a seek plus
 * a walk, with no recursion and O(1) extra memory. NULL is the nil leaf.
 */
#include "base.h"

enum { RED = 0, BLACK = 1 };

int cn_bytes_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

bool cn_has_prefix(const void *s, size_t s_len, const void *pfx,
                   size_t pfx_len)
{
    return s_len >= pfx_len && (pfx_len == 0 || memcmp(s, pfx, pfx_len) == 0);
}

void cn_rb_init(struct cn_rbtree *t, cn_rb_key_fn *key_fn)
{
    t->root = NULL;
    t->key_fn = key_fn;
    t->count = 0;
}

static int node_cmp(const struct cn_rbtree *t, const struct cn_rb_node *n,
                    const void *key, size_t key_len)
{
    const uint8_t *k;
    size_t k_len;
    t->key_fn(n, &k, &k_len);
    return cn_bytes_cmp(k, k_len, key, key_len);
}

struct cn_rb_node *cn_rb_find(const struct cn_rbtree *t, const void *key,
                              size_t key_len)
{
    struct cn_rb_node *n = t->root;
    while (n) {
        int c = node_cmp(t, n, key, key_len);
        if (c == 0)
            return n;
        n = c > 0 ? n->left : n->right;
    }
    return NULL;
}

struct cn_rb_node *cn_rb_seek(const struct cn_rbtree *t, const void *key,
                              size_t key_len)
{
    struct cn_rb_node *n = t->root, *best = NULL;
    while (n) {
        int c = node_cmp(t, n, key, key_len);
        if (c == 0)
            return n;
        if (c > 0) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

struct cn_rb_node *cn_rb_first(const struct cn_rbtree *t)
{
    struct cn_rb_node *n = t->root;
    if (!n)
        return NULL;
    while (n->left)
        n = n->left;
    return n;
}

struct cn_rb_node *cn_rb_next(const struct cn_rb_node *n)
{
    const struct cn_rb_node *p;
    if (n->right) {
        n = n->right;
        while (n->left)
            n = n->left;
        return (struct cn_rb_node *)n;
    }
    p = n->parent;
    while (p && n == p->right) {
        n = p;
        p = p->parent;
    }
    return (struct cn_rb_node *)p;
}

static void rotate_left(struct cn_rbtree *t, struct cn_rb_node *x)
{
    struct cn_rb_node *y = x->right;
    CN_ASSERT(y != NULL);
    x->right = y->left;
    if (y->left)
        y->left->parent = x;
    y->parent = x->parent;
    if (!x->parent)
        t->root = y;
    else if (x == x->parent->left)
        x->parent->left = y;
    else
        x->parent->right = y;
    y->left = x;
    x->parent = y;
}

static void rotate_right(struct cn_rbtree *t, struct cn_rb_node *x)
{
    struct cn_rb_node *y = x->left;
    CN_ASSERT(y != NULL);
    x->left = y->right;
    if (y->right)
        y->right->parent = x;
    y->parent = x->parent;
    if (!x->parent)
        t->root = y;
    else if (x == x->parent->right)
        x->parent->right = y;
    else
        x->parent->left = y;
    y->right = x;
    x->parent = y;
}

static int color(const struct cn_rb_node *n) { return n ? n->color : BLACK; }

static void insert_fixup(struct cn_rbtree *t, struct cn_rb_node *z)
{
    while (z->parent && z->parent->color == RED) {
        struct cn_rb_node *p = z->parent, *g = p->parent, *u;
        CN_ASSERT(g != NULL); /* A red node is never the root. */
        if (p == g->left) {
            u = g->right;
            if (color(u) == RED) {
                p->color = BLACK;
                u->color = BLACK;
                g->color = RED;
                z = g;
                continue;
            }
            if (z == p->right) {
                z = p;
                rotate_left(t, z);
                p = z->parent;
            }
            p->color = BLACK;
            g->color = RED;
            rotate_right(t, g);
        } else {
            u = g->left;
            if (color(u) == RED) {
                p->color = BLACK;
                u->color = BLACK;
                g->color = RED;
                z = g;
                continue;
            }
            if (z == p->left) {
                z = p;
                rotate_right(t, z);
                p = z->parent;
            }
            p->color = BLACK;
            g->color = RED;
            rotate_left(t, g);
        }
    }
    t->root->color = BLACK;
}

struct cn_rb_node *cn_rb_insert(struct cn_rbtree *t, struct cn_rb_node *z)
{
    struct cn_rb_node *parent = NULL, *n = t->root;
    const uint8_t *key;
    size_t key_len;
    int c = 0;

    t->key_fn(z, &key, &key_len);
    while (n) {
        c = node_cmp(t, n, key, key_len);
        if (c == 0)
            return n;
        parent = n;
        n = c > 0 ? n->left : n->right;
    }
    z->parent = parent;
    z->left = z->right = NULL;
    z->color = RED;
    if (!parent)
        t->root = z;
    else if (c > 0)
        parent->left = z;
    else
        parent->right = z;
    insert_fixup(t, z);
    t->count++;
    return NULL;
}

/* Replaces subtree u with subtree v (v may be NULL). */
static void transplant(struct cn_rbtree *t, struct cn_rb_node *u,
                       struct cn_rb_node *v)
{
    if (!u->parent)
        t->root = v;
    else if (u == u->parent->left)
        u->parent->left = v;
    else
        u->parent->right = v;
    if (v)
        v->parent = u->parent;
}

static void remove_fixup(struct cn_rbtree *t, struct cn_rb_node *x,
                         struct cn_rb_node *xp)
{
    /* x may be NULL (a nil leaf); xp is its parent. */
    while (x != t->root && color(x) == BLACK) {
        struct cn_rb_node *w;
        if (x == xp->left) {
            w = xp->right;
            if (color(w) == RED) {
                w->color = BLACK;
                xp->color = RED;
                rotate_left(t, xp);
                w = xp->right;
            }
            if (color(w->left) == BLACK && color(w->right) == BLACK) {
                w->color = RED;
                x = xp;
                xp = x->parent;
            } else {
                if (color(w->right) == BLACK) {
                    w->left->color = BLACK;
                    w->color = RED;
                    rotate_right(t, w);
                    w = xp->right;
                }
                w->color = xp->color;
                xp->color = BLACK;
                if (w->right)
                    w->right->color = BLACK;
                rotate_left(t, xp);
                x = t->root;
            }
        } else {
            w = xp->left;
            if (color(w) == RED) {
                w->color = BLACK;
                xp->color = RED;
                rotate_right(t, xp);
                w = xp->left;
            }
            if (color(w->right) == BLACK && color(w->left) == BLACK) {
                w->color = RED;
                x = xp;
                xp = x->parent;
            } else {
                if (color(w->left) == BLACK) {
                    w->right->color = BLACK;
                    w->color = RED;
                    rotate_left(t, w);
                    w = xp->left;
                }
                w->color = xp->color;
                xp->color = BLACK;
                if (w->left)
                    w->left->color = BLACK;
                rotate_right(t, xp);
                x = t->root;
            }
        }
    }
    if (x)
        x->color = BLACK;
}

void cn_rb_remove(struct cn_rbtree *t, struct cn_rb_node *z)
{
    struct cn_rb_node *y = z, *x, *xp;
    int y_color = y->color;

    CN_ASSERT(t->count > 0);
    if (!z->left) {
        x = z->right;
        xp = z->parent;
        transplant(t, z, z->right);
    } else if (!z->right) {
        x = z->left;
        xp = z->parent;
        transplant(t, z, z->left);
    } else {
        y = z->right;
        while (y->left)
            y = y->left;
        y_color = y->color;
        x = y->right;
        if (y->parent == z) {
            xp = y;
        } else {
            xp = y->parent;
            transplant(t, y, y->right);
            y->right = z->right;
            y->right->parent = y;
        }
        transplant(t, z, y);
        y->left = z->left;
        y->left->parent = y;
        y->color = z->color;
    }
    if (y_color == BLACK && t->root)
        remove_fixup(t, x, xp);
    t->count--;
    z->parent = z->left = z->right = NULL;
}

void cn_rb_replace(struct cn_rbtree *t, struct cn_rb_node *node,
                   struct cn_rb_node *repl)
{
    CN_ASSERT(node != NULL && repl != NULL);
    CN_ASSERT(node != repl);
#ifdef CN_DEBUG
    {
        const uint8_t *k;
        size_t k_len;
        t->key_fn(repl, &k, &k_len);
        CN_ASSERT(node_cmp(t, node, k, k_len) == 0);
    }
#endif
    *repl = *node;
    if (!node->parent)
        t->root = repl;
    else if (node->parent->left == node)
        node->parent->left = repl;
    else
        node->parent->right = repl;
    if (repl->left)
        repl->left->parent = repl;
    if (repl->right)
        repl->right->parent = repl;
    node->parent = node->left = node->right = NULL;
}
