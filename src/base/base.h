/* base/base.h - the foundation every cairn module stands on.
 *
 * Assertions, error codes, allocation, bounded buffers, arenas, logging,
 * time, randomness, UUIDs, CRC32C, base64, Go durations, a hash map and a
 * sorted map. libc only.
 *
 * Purity: everything here is deterministic and I/O-free except the items
 * marked IMPURE (clock, getrandom, the process log writer). Pure modules
 * (raft and gossip cores, state) may use the rest freely.
 */
#ifndef CN_BASE_H
#define CN_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "limits.h"

/* ------------------------------------------------------------------ */
/* Assertions (STYLE.md 2.6): bugs crash, bad input returns an error.   */

_Noreturn void cn__assert_fail(const char *expr, const char *file, int line);

/* On in every build, release included. */
#define CN_ASSERT(e) ((e) ? (void)0 : cn__assert_fail(#e, __FILE__, __LINE__))
#ifdef CN_DEBUG
#define CN_DEBUG_ASSERT(e) CN_ASSERT(e)
/* "Impossible" cases we can survive: abort in debug, pass in release. */
#define CN_ALWAYS(e) ((e) ? 1 : (cn__assert_fail(#e, __FILE__, __LINE__), 0))
#define CN_NEVER(e) ((e) ? (cn__assert_fail(#e, __FILE__, __LINE__), 1) : 0)
#else
#define CN_DEBUG_ASSERT(e) ((void)0)
#define CN_ALWAYS(e) (!!(e))
#define CN_NEVER(e) (!!(e))
#endif
#define CN_UNREACHABLE() cn__assert_fail("unreachable", __FILE__, __LINE__)

#define CN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CN_CONTAINER_OF(p, type, field) \
    ((type *)(void *)((char *)(p) - offsetof(type, field)))

#if defined(__GNUC__)
#define CN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CN_UNUSED __attribute__((unused))
#define CN_LIKELY(x) __builtin_expect(!!(x), 1)
#define CN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CN_PRINTF(f, a)
#define CN_UNUSED
#define CN_LIKELY(x) (x)
#define CN_UNLIKELY(x) (x)
#endif

/* ------------------------------------------------------------------ */
/* Errors (STYLE.md 2.3): 0 ok, negative failure. System errors are     */
/* -errno (libuv's codes pass through); ours start at -5000.            */

#define CN_ERR_MAP(X)                                                   \
    X(EMALFORMED, -5000, "malformed input")                            \
    X(ETOOBIG, -5001, "input too large")                               \
    X(ENOTFOUND, -5002, "not found")                                   \
    X(ECONFLICT, -5003, "conflict")                                    \
    X(ENOLEADER, -5004, "No cluster leader")                           \
    X(EBADREQ, -5005, "bad request")                                   \
    X(ECORRUPT, -5006, "corrupt data")                                 \
    X(ECLOSED, -5007, "closed")                                        \
    X(ETIMEOUT, -5008, "timed out")                                    \
    X(EDENIED, -5009, "Permission denied")                             \
    X(ELIMIT, -5010, "limit reached")                                  \
    X(EUNSUPPORTED, -5011, "unsupported")                              \
    X(ESTATE, -5012, "invalid state")                                  \
    X(ENODC, -5013, "No path to datacenter")                           \
    X(ECANCELED, -5014, "canceled")                                    \
    X(ENOTMODIFIED, -5015, "not modified")

enum {
#define CN__ERR_ENUM(name, val, text) CN_##name = (val),
    CN_ERR_MAP(CN__ERR_ENUM)
#undef CN__ERR_ENUM
};

/* Text for any code: ours, or strerror(-rc) for -errno. Never NULL. */
const char *cn_strerror(int rc);
/* Formats into errmsg (CN_ERRMSG_MAX bytes), truncating. */
void cn_errf(char *errmsg, const char *fmt, ...) CN_PRINTF(2, 3);
/* Same, then returns rc: `return cn_errf_rc(o->errmsg, rc, "open %s", p);` */
int cn_errf_rc(char *errmsg, int rc, const char *fmt, ...) CN_PRINTF(3, 4);

/* ------------------------------------------------------------------ */
/* Allocation. Policy: NULL is returned on failure and callers turn it  */
/* into -ENOMEM (STYLE.md 2.4). Tests inject failures with              */
/* cn_alloc_fail_after(n): the n+1-th allocation from now fails.        */

void *cn_alloc(size_t size);
void *cn_calloc(size_t n, size_t size);     /* Checks n*size overflow. */
void *cn_realloc(void *p, size_t size);
void cn_free(void *p);
char *cn_strndup(const char *s, size_t n);  /* Always NUL-terminates. */
void *cn_memdup(const void *p, size_t n);
/* Test hook: -1 disables injection (the default). */
void cn_alloc_fail_after(long n);

/* A pool for allocations freed roughly in the order they were made (Raft
 * log entries: compaction frees the oldest). Small ones are carved from
 * 256 KiB chunks that go back to the system whole once everything in them
 * is freed; mixed in with long-lived small allocations (the state store's
 * rows), the same payloads from malloc leave the heap fragmented and the
 * memory resident after compaction. One thread; cn_fifo_free needs no
 * pool. Zero-initialise the struct; cn_fifo_close drops the pool's hold
 * on its current chunk (allocations stay valid until freed). */
struct cn_fifo {
    uint8_t *chunk;
    size_t used;
};
void *cn_fifo_alloc(struct cn_fifo *f, size_t n);
void cn_fifo_free(void *p);
void cn_fifo_close(struct cn_fifo *f);

/* ------------------------------------------------------------------ */
/* Bounded byte buffer (STYLE.md 2.5). Appending past max -> -EMSGSIZE. */

struct cn_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
};

void cn_buf_init(struct cn_buf *b, size_t max);
void cn_buf_close(struct cn_buf *b);  /* Frees data; b may be reused after init. */
void cn_buf_reset(struct cn_buf *b);  /* len = 0, keeps memory. */
/* Ensures room for n more bytes. 0, -EMSGSIZE or -ENOMEM. */
int cn_buf_reserve(struct cn_buf *b, size_t n);
int cn_buf_append(struct cn_buf *b, const void *p, size_t n);
int cn_buf_putc(struct cn_buf *b, uint8_t c);
int cn_buf_puts(struct cn_buf *b, const char *s);
int cn_buf_printf(struct cn_buf *b, const char *fmt, ...) CN_PRINTF(2, 3);
int cn_buf_put_u64(struct cn_buf *b, uint64_t v);  /* Decimal. */
int cn_buf_put_i64(struct cn_buf *b, int64_t v);
/* Detaches the data (NUL-terminated, not counted in len) to the caller,
 * who frees it with cn_free; b is left empty. NULL on -ENOMEM. */
uint8_t *cn_buf_steal(struct cn_buf *b, size_t *len_out);

/* Decimal formatting helper: writes v into out (>= 21 bytes), returns length. */
size_t cn_u64_to_str(uint64_t v, char *out);

/* ------------------------------------------------------------------ */
/* Arena: bump allocator for request-scoped memory, freed at once.      */

struct cn_arena_chunk;
struct cn_arena {
    struct cn_arena_chunk *head;
    size_t used_bytes;   /* Bytes handed out since the last reset. */
    size_t max_bytes;    /* Hard cap; allocations past it fail. */
};

void cn_arena_init(struct cn_arena *a, size_t max_bytes);
void cn_arena_close(struct cn_arena *a);
void cn_arena_reset(struct cn_arena *a);  /* Keeps the first chunk. */
void *cn_arena_alloc(struct cn_arena *a, size_t size);  /* 16-aligned; NULL. */
char *cn_arena_strndup(struct cn_arena *a, const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* Logging (STYLE.md 2.8).                                              */

enum cn_log_level {
    CN_LOG_TRACE = 0,
    CN_LOG_DEBUG = 1,
    CN_LOG_INFO = 2,
    CN_LOG_WARN = 3,
    CN_LOG_ERROR = 4,
    CN_LOG_OFF = 5,
};

/* A sink receives one finished line (no newline), module already in it. */
typedef void cn_log_fn(void *ctx, enum cn_log_level level, const char *line);

/* Injected into pure modules; the simulator's sink stamps tick and node. */
struct cn_logger {
    cn_log_fn *fn;      /* NULL: drop everything. */
    void *ctx;
    enum cn_log_level level;
};

void cn_logf(const struct cn_logger *lg, enum cn_log_level level,
             const char *fmt, ...) CN_PRINTF(3, 4);
void cn_vlogf(const struct cn_logger *lg, enum cn_log_level level,
              const char *fmt, va_list ap) CN_PRINTF(3, 0);
const char *cn_log_level_name(enum cn_log_level level);
/* "trace".."error" (case-insensitive) -> 0, else -EINVAL. */
int cn_log_level_parse(const char *s, enum cn_log_level *out);

/* IMPURE: the process logger, writing to stderr, human or JSON lines. */
void cn_log_setup(enum cn_log_level level, bool json);
/* A cn_logger that writes to the process log (for shells). */
const struct cn_logger *cn_log_process(void);
#define CN_LOG(level, ...) cn_logf(cn_log_process(), (level), __VA_ARGS__)
#define CN_ERROR(...) CN_LOG(CN_LOG_ERROR, __VA_ARGS__)
#define CN_WARN(...) CN_LOG(CN_LOG_WARN, __VA_ARGS__)
#define CN_INFO(...) CN_LOG(CN_LOG_INFO, __VA_ARGS__)
#define CN_DEBUG_LOG(...) CN_LOG(CN_LOG_DEBUG, __VA_ARGS__)

/* Coverage marks: tests assert a code path ran (TigerBeetle marks). */
void cn__mark(const char *name);
#ifdef CN_MARKS
#define CN_MARK(name) cn__mark(name)
#else
#define CN_MARK(name) ((void)0)
#endif
/* Returns how many times `name` was hit since the last reset (tests only). */
unsigned cn_mark_count(const char *name);
void cn_mark_reset(void);

/* ------------------------------------------------------------------ */
/* Time. IMPURE (pure code gets ticks or now_ms from its shell).        */

uint64_t cn_time_mono_ns(void);
uint64_t cn_time_mono_ms(void);
uint64_t cn_time_wall_ms(void);  /* Unix epoch ms. */

/* ------------------------------------------------------------------ */
/* Randomness. cn_prng is pure and seeded (xoshiro256**).               */

struct cn_prng {
    uint64_t s[4];
};

void cn_prng_seed(struct cn_prng *p, uint64_t seed);
uint64_t cn_prng_next(struct cn_prng *p);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t cn_prng_below(struct cn_prng *p, uint64_t n);
/* True with probability num/den. */
bool cn_prng_chance(struct cn_prng *p, uint64_t num, uint64_t den);

/* ---- logarithms (math.c) ----
 * Without libm: the shared libm's load-time IFUNC relocations alone made
 * ~0.5 MiB of every agent resident for the three calls the gossip timing
 * formulas make. cn_ln: natural log of x > 0 (relative error < 1e-15;
 * x <= 0 or not finite: 0). The integer forms are exact. */
double cn_ln(double x);
double cn_log10(double x);
double cn_log2(double x);
unsigned cn_ceil_log10(uint64_t v);  /* Smallest k with 10^k >= v; 0 for v <= 1. */
unsigned cn_ceil_log2(uint64_t v);   /* Smallest k with 2^k >= v; 0 for v <= 1. */

/* IMPURE: getrandom(2). 0 or -errno. */
int cn_rand_bytes(void *out, size_t n);
uint64_t cn_rand_u64(void);  /* Aborts only if the kernel refuses getrandom. */

/* UUIDv4 text, 36 chars + NUL. Pure variant takes a prng. */
#define CN_UUID_STR_BYTES 37
void cn_uuid_v4(char out[CN_UUID_STR_BYTES]);  /* IMPURE */
void cn_uuid_v4_prng(struct cn_prng *p, char out[CN_UUID_STR_BYTES]);
bool cn_uuid_valid(const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* Checksums, encodings, number and duration parsing.                   */

uint32_t cn_crc32c(uint32_t crc, const void *data, size_t n);
/* CRC-32 IEEE (zlib, Go crc32.ChecksumIEEE); same chaining as above. */
uint32_t cn_crc32_ieee(uint32_t crc, const void *data, size_t n);

/* Padded standard base64 (RFC 4648 section 4). */
size_t cn_base64_encoded_len(size_t n);
/* out must hold cn_base64_encoded_len(n) bytes (no NUL written). */
void cn_base64_encode(const uint8_t *in, size_t n, char *out);
/* Strict decode (padding required, no whitespace). out needs n/4*3 bytes.
 * Returns 0 and *out_len, or CN_EMALFORMED. */
int cn_base64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len);

/* Whole-string unsigned decimal, no sign, no spaces. 0 or CN_EMALFORMED. */
int cn_parse_u64(const char *s, size_t n, uint64_t *out);
int cn_parse_i64(const char *s, size_t n, int64_t *out);

/* Go time.ParseDuration: "300ms", "-1.5h", "2h45m", units ns us µs ms s m
 * h; a bare "0" is allowed. Returns nanoseconds or CN_EMALFORMED (also on
 * overflow). */
int cn_duration_parse(const char *s, size_t n, int64_t *ns_out);
/* Go time.Duration.String(): "1m30s", "1.5s", "0s", "100ms". out >= 32. */
size_t cn_duration_format(int64_t ns, char *out, size_t out_size);

/* ------------------------------------------------------------------ */
/* Hash map: byte-string keys -> void *, open addressing, linear probing */
/* with backward-shift deletion. Keys are borrowed: the caller keeps    */
/* them alive while present (usually inside the value).                 */

struct cn_map_slot;
struct cn_map {
    struct cn_map_slot *slots;
    uint32_t cap;    /* Power of two, or 0. */
    uint32_t count;
};

uint64_t cn_hash(const void *p, size_t n);  /* Fast, seedless, stable. */
void cn_map_init(struct cn_map *m);
void cn_map_close(struct cn_map *m);
void *cn_map_get(const struct cn_map *m, const void *key, size_t key_len);
/* Inserts or replaces. *old_out (may be NULL) gets the replaced value or
 * NULL. 0 or -ENOMEM. */
int cn_map_put(struct cn_map *m, const void *key, size_t key_len, void *val,
               void **old_out);
/* Returns the removed value or NULL. */
void *cn_map_del(struct cn_map *m, const void *key, size_t key_len);
/* Iteration in slot order: not stable across inserts, so output that must
 * be deterministic sorts what it collects. Start with *pos = 0; returns
 * false at the end. The map must not change during iteration. */
bool cn_map_next(const struct cn_map *m, uint32_t *pos, const void **key,
                 size_t *key_len, void **val);

/* ------------------------------------------------------------------ */
/* Recency list for caches: intrusive, doubly linked, head = most       */
/* recently used, tail = the next to evict. Embed a cn_lru_node in the  */
/* entry; CN_CONTAINER_OF gets the entry back.                          */

struct cn_lru_node {
    struct cn_lru_node *prev, *next;
};
struct cn_lru {
    struct cn_lru_node *head, *tail;
};

void cn_lru_push(struct cn_lru *l, struct cn_lru_node *n);   /* n becomes the head */
void cn_lru_unlink(struct cn_lru *l, struct cn_lru_node *n);
void cn_lru_touch(struct cn_lru *l, struct cn_lru_node *n);  /* unlink + push */

/* ------------------------------------------------------------------ */
/* Sorted map: an intrusive red-black tree ordered by byte-string keys   */
/* (memcmp, shorter first on a tie). Used for KV: lower-bound seek and   */
/* in-order walk give prefix iteration.                                  */

struct cn_rb_node {
    struct cn_rb_node *parent, *left, *right;
    int color;
};

/* Returns the key of the element that embeds `node`. */
typedef void cn_rb_key_fn(const struct cn_rb_node *node, const uint8_t **key,
                          size_t *key_len);

struct cn_rbtree {
    struct cn_rb_node *root;
    cn_rb_key_fn *key_fn;
    size_t count;
};

void cn_rb_init(struct cn_rbtree *t, cn_rb_key_fn *key_fn);
struct cn_rb_node *cn_rb_find(const struct cn_rbtree *t, const void *key,
                              size_t key_len);
/* Inserts node; if a node with the same key exists, returns it and does
 * not insert; else returns NULL. */
struct cn_rb_node *cn_rb_insert(struct cn_rbtree *t, struct cn_rb_node *node);
void cn_rb_remove(struct cn_rbtree *t, struct cn_rb_node *node);
/* Puts `repl` where `node` is (same key, asserted in debug builds) in O(1):
 * lets a store swap a row for a reallocated copy without a re-insert. */
void cn_rb_replace(struct cn_rbtree *t, struct cn_rb_node *node,
                   struct cn_rb_node *repl);
struct cn_rb_node *cn_rb_first(const struct cn_rbtree *t);
struct cn_rb_node *cn_rb_next(const struct cn_rb_node *node);
/* First node with key >= key (lower bound), or NULL. */
struct cn_rb_node *cn_rb_seek(const struct cn_rbtree *t, const void *key,
                              size_t key_len);
int cn_bytes_cmp(const void *a, size_t a_len, const void *b, size_t b_len);
bool cn_has_prefix(const void *s, size_t s_len, const void *pfx,
                   size_t pfx_len);

/* ------------------------------------------------------------------ */
/* MessagePack, bounded. The reader is a zero-allocation cursor: it     */
/* never allocates from a declared length, and rejects a declared       */
/* array/map/str count that the remaining bytes cannot hold (msgpack-c's */
/* unpacker preallocates from the declared count, which a 5-byte packet  */
/* can make gigabytes). The writer appends to a cn_buf and latches the  */
/* first error, so encoders check once at the end.                      */

enum cn_mp_type {
    CN_MP_NIL, CN_MP_BOOL, CN_MP_UINT, CN_MP_INT, CN_MP_FLOAT, CN_MP_STR,
    CN_MP_BIN, CN_MP_ARRAY, CN_MP_MAP, CN_MP_EXT,
};

struct cn_mp_obj {
    enum cn_mp_type type;
    union {
        bool b;
        uint64_t u;      /* CN_MP_UINT (any non-negative integer). */
        int64_t i;       /* CN_MP_INT (negative integers only). */
        double f;        /* CN_MP_FLOAT (float32 widened). */
        uint32_t n;      /* CN_MP_ARRAY elements, CN_MP_MAP pairs. */
        struct {
            const uint8_t *p;  /* Borrowed from the input. */
            uint32_t len;
            int8_t ext_type;   /* CN_MP_EXT only. */
        } s;             /* CN_MP_STR, CN_MP_BIN, CN_MP_EXT. */
    } v;
};

struct cn_mp_reader {
    const uint8_t *p, *end;
};

#define CN_MP_DEPTH_MAX 32

void cn_mp_reader_init(struct cn_mp_reader *r, const void *data, size_t len);
static inline size_t cn_mp_left(const struct cn_mp_reader *r)
{
    return (size_t)(r->end - r->p);
}
/* Reads one item (for ARRAY/MAP only the header). 0 or CN_EMALFORMED;
 * on error the reader does not advance. */
int cn_mp_read(struct cn_mp_reader *r, struct cn_mp_obj *o);
/* Typed reads: CN_EMALFORMED if the next item has another type. */
int cn_mp_read_nil(struct cn_mp_reader *r);
int cn_mp_read_bool(struct cn_mp_reader *r, bool *out);
int cn_mp_read_uint(struct cn_mp_reader *r, uint64_t *out);
int cn_mp_read_int(struct cn_mp_reader *r, int64_t *out);  /* Either sign. */
/* str or bin; bytes are borrowed from the input. */
int cn_mp_read_str(struct cn_mp_reader *r, const uint8_t **p, uint32_t *len);
int cn_mp_read_array(struct cn_mp_reader *r, uint32_t *n);
int cn_mp_read_map(struct cn_mp_reader *r, uint32_t *n);
/* Skips one whole value, nested up to CN_MP_DEPTH_MAX. */
int cn_mp_skip(struct cn_mp_reader *r);

struct cn_mp_writer {
    struct cn_buf *b;
    int err;            /* First error (-EMSGSIZE/-ENOMEM), else 0. */
    bool old_str;       /* No str8 (0xd9): memberlist's old string format. */
};

void cn_mp_writer_init(struct cn_mp_writer *w, struct cn_buf *b);
void cn_mp_put_nil(struct cn_mp_writer *w);
void cn_mp_put_bool(struct cn_mp_writer *w, bool v);
void cn_mp_put_uint(struct cn_mp_writer *w, uint64_t v);
void cn_mp_put_int(struct cn_mp_writer *w, int64_t v);
void cn_mp_put_double(struct cn_mp_writer *w, double v);
void cn_mp_put_str(struct cn_mp_writer *w, const void *p, size_t len);
void cn_mp_put_cstr(struct cn_mp_writer *w, const char *s);
void cn_mp_put_bin(struct cn_mp_writer *w, const void *p, size_t len);
void cn_mp_put_array(struct cn_mp_writer *w, uint32_t n);
void cn_mp_put_map(struct cn_mp_writer *w, uint32_t n);
void cn_mp_put_raw(struct cn_mp_writer *w, const void *p, size_t len);

#endif
