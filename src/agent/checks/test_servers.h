/* agent/checks/test_servers.h - loopback servers for the check tests.
 *
 * One thread runs a libuv loop with the project's HTTP server (routes
 * below) and a raw "endless body" server; another runs a blocking
 * OpenSSL server with a self-signed certificate made in-process (EC
 * P-256, SAN DNS:localhost and IP:127.0.0.1, CA:TRUE so it can also be
 * its own trust anchor). Every port is ephemeral.
 *
 * HTTP routes:
 *   /ok 200 "ok"           /warn 429 "slow down"     /fail 500 "boom"
 *   /slow?ms=N  200 after N ms        /big?n=N  200, N bytes ending "THE-END"
 *   /echo  200 "m=<method> ua=<ua> accept=<accept> host=<host>
 *          x=<x-custom> auth=<authorization> body=<body>"
 *   /redirect?code=C&to=URL  C with Location: URL     /loop  302 to /loop
 *   /toggle  status tsrv.toggle_status, body "toggle"
 */
#ifndef CN_CHECKS_TEST_SERVERS_H
#define CN_CHECKS_TEST_SERVERS_H

#include <stdatomic.h>

struct tsrv {
    int http_port;
    int stream_port;     /* 200 head, then body bytes forever; /interim:
                            100 and 103 before a 200 "finally". */
    int tls_port;        /* 200 "secure ok" over TLS. */
    int closed_port;     /* Bound, not listening: connect is refused. */
    char cert_path[128]; /* PEM certificate of the TLS server. */
    atomic_int toggle_status;
    atomic_int hits;     /* /toggle requests served. */
};

/* 0 or -1 (with a message on stderr). */
int tsrv_start(struct tsrv *s);
void tsrv_stop(struct tsrv *s);

#endif
