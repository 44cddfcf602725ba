/* filter/filter.h - Consul's ?filter= expression language (go-bexpr).
 *
 * Consul filters list results with HashiCorp go-bexpr (v0.1.2 is the
 * version Consul pins): `Service.Tags contains "primary" and
 * Node.Meta.env == prod`. cairn compiles the expression once per request
 * and evaluates it against each result element, given as the jansson value
 * the handler is about to encode (one ServiceNode, CheckServiceNode,
 * HealthCheck, AgentService...). Pure: no I/O, allocation through cn_alloc
 * (regcomp allocates with malloc internally).
 *
 * Grammar (PEG, ordered choice, as bexpr's grammar.peg; _ is [ \t\r\n]+):
 *
 *   Input     <- _? Or _? EOF
 *   Or        <- And (_ "or" _ And)*
 *   And       <- Not (_ "and" _ Not)*
 *   Not       <- "not" _ Not / Group            (falls back: `not == x`)
 *   Group     <- "(" _? Or _? ")" / Match
 *   Match     <- Sel (_?"=="_? / _?"!="_? / _"contains"_ / _"not"_"contains"_
 *                     / _"matches"_ / _"not"_"matches"_) Value
 *              / Sel (_"is"_"empty" / _"is"_"not"_"empty")
 *              / Value (_"in"_ / _"not"_"in"_) Sel
 *   Sel       <- Ident ("." Ident / "[" _? String _? "]")*
 *   Ident     <- [a-zA-Z][a-zA-Z0-9_]*
 *   Value     <- Sel / Number / String          (a bare Sel is its dotted text)
 *   Number    <- "-"? ("0" / [1-9][0-9]*) ("." [0-9]+)?  then _, ")" or EOF
 *   String    <- '"' chars '"' (Go escapes; no \" since the first " ends it)
 *              / '`' raw '`'  (carriage returns dropped, as Go's Unquote)
 *
 * Keywords are not reserved (`not in Tags` is the value "not"), and `and`,
 * `or`, `in`, `contains`, `matches`, `is` need whitespace on both sides.
 * Precedence: not > and > or. Literals stay text until evaluation, then
 * are converted to the type of the field they meet (bexpr's coercion).
 *
 * Evaluation (bexpr v0.1.2 semantics on JSON):
 *   - A path crossing an array applies the rest of the path to every
 *     element and is true if ANY element is (`Checks.Status == critical`:
 *     some check is critical; `Checks.Status != passing`: some check is
 *     not passing; an empty array gives false for every operator).
 *   - A missing object key or a null gives: == false, != true, in false,
 *     not in true, is empty true, is not empty false, matches false,
 *     not matches true (bexpr's missing-map-key rule).
 *   - Leaf by JSON type: string: == != (exact bytes), in/contains
 *     (substring), matches; integer: == != with the literal parsed as a Go
 *     integer (base prefixes 0x 0o 0b 0, underscores); real: == != as Go
 *     ParseFloat; bool: == != as Go ParseBool (1 t T TRUE true True ...);
 *     array: in/contains (element equality, literal converted per element
 *     type), is empty; object: in/contains (key present), is empty.
 *     Anything else is an error: `Invalid match operator "Is Empty" for
 *     selector "Service.Address"`, as bexpr reports at compile time.
 *   - A literal that does not convert is an error: `Failed to coerce value
 *     "x" for selector "Service.Port": strconv.ParseInt: parsing "x":
 *     invalid syntax`.
 *
 * Differences from Consul (see filter_test.c for each, pinned):
 *   - Consul checks selectors, operators and literal types against the Go
 *     result struct when the filter is created, so a bad selector fails
 *     even on an empty result. cairn has only JSON, so those checks happen
 *     per element: a typo'd selector behaves as a missing map key (no
 *     error), and type errors surface only if an element reaches them
 *     (never on an empty list, not past a short-circuit).
 *   - The element must mirror the Go struct bexpr reflects on, which is
 *     not always the response JSON: carry every field even where the
 *     response omits it (omitempty; a missing "Kind" would make
 *     `Service.Kind == ""` false), and give time.Duration fields (a
 *     check's Definition.Interval, .Timeout, .TTL, ...) as integer
 *     nanoseconds, since Consul compares them as int64, not as "10s".
 *   - An object is treated as a Go map, never a struct: `Service.Weights
 *     is empty` is allowed here and an error in Consul.
 *   - Integers compare as int64 whatever the Go width or signedness.
 *   - Parse errors carry bexpr's "line:col (offset): " prefix but list
 *     what was expected in our own words, on one line.
 *   - `matches` uses POSIX extended regexes (glibc <regex.h>) after
 *     translating RE2 syntax; see filter_regex.c for what is supported.
 *     Matching is byte-wise, not per rune: `.` and `[^x]` match one byte
 *     of a multi-byte character; classes ([[:alpha:]], \w, (?i)) are
 *     ASCII-only.
 *
 * Elements per endpoint (Consul's docs list the selectors of each):
 *   /v1/catalog/service/:s, /v1/catalog/connect/:s  ServiceNode
 *   /v1/catalog/services   ServiceNode, filtered before aggregating tags
 *   /v1/catalog/nodes      Node
 *   /v1/catalog/node/:n    each NodeService of "Services" (an embedded
 *                          object is filtered, not the result itself)
 *   /v1/health/service/:s, /v1/health/connect/:s  CheckServiceNode
 *   /v1/health/node/:n, /v1/health/checks/:s, /v1/health/state/:st,
 *   /v1/agent/checks       HealthCheck
 *   /v1/agent/services     AgentService (each value of the map)
 *
 * Bounds (src/base/limits.h): CN_FILTER_EXPR_BYTES_MAX,
 * CN_FILTER_DEPTH_MAX nesting, CN_FILTER_NODES_MAX nodes,
 * CN_FILTER_SELECTOR_SEGS_MAX path segments, CN_FILTER_REGEXES_MAX
 * regexes of at most CN_FILTER_REGEX_BYTES_MAX bytes and
 * CN_FILTER_REGEX_SIZE_MAX estimated states each. Parsing and evaluation
 * recurse only with an explicit depth counter.
 */
#ifndef CN_FILTER_H
#define CN_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

/* Every error text starts with this, as Consul's does (bexpr's
 * CreateFilter wraps parse and validation errors in it). Consul answers a
 * bad filter with HTTP 500 and the text as a plain body, from catalog,
 * health and agent endpoints alike. */
#define CN_FILTER_ERR_PREFIX "Failed to create boolean expression evaluator: "

struct cn_filter; /* Opaque, immutable after compile; see filter_int.h. */

/* Compiles expr[0..len). An empty expression is no filter: *out = NULL and
 * 0 (bexpr's nil filter, which matches everything).
 * Returns 0, CN_EBADREQ (syntax or regex error), CN_ETOOBIG (a bound
 * above was exceeded) or -ENOMEM. On every error err (CN_ERRMSG_MAX bytes)
 * holds one line starting with CN_FILTER_ERR_PREFIX, and *out is not
 * written. */
int cn_filter_compile(const char *expr, size_t len, struct cn_filter **out,
                      char *err);

/* Evaluates f against one result element. f == NULL matches everything.
 * Returns 0 and *match, or CN_EBADREQ with err set (a selector through a
 * scalar, an operator the value's type does not support, a literal that
 * does not convert, arrays nested past CN_JSON_DEPTH_MAX). elem is
 * borrowed. Thread-safe for a shared f (regexec is reentrant). */
int cn_filter_match(const struct cn_filter *f, const json_t *elem,
                    bool *match, char *err);

void cn_filter_free(struct cn_filter *f); /* NULL is a no-op. */

/* Number of match expressions (tests, metrics). */
size_t cn_filter_matches_count(const struct cn_filter *f);

#endif
