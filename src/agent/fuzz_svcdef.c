/* agent/fuzz_svcdef.c - libFuzzer target: service definitions as PUT
 * /v1/agent/service/register and config files give them. Decoding must
 * answer 0 or an error code with a reason, never crash or leak; what it
 * accepts has a name and ID, and its canonical text decodes again to the
 * same service and the same canonical text. */
#include <stdio.h>
#include <stdlib.h>

#include "local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct cn__svcdef *d)
{
    struct cn__svcdef again;
    char err[CN_ERRMSG_MAX];
    json_t *canon;
    int rc;

    CN_ASSERT(d->svc.name && d->svc.name[0] && d->svc.id && d->svc.id[0]);
    CN_ASSERT(d->json && d->token && d->n_checks <= CN_SVCDEF_CHECKS_MAX);
    for (uint32_t i = 0; i < d->n_checks; i++)
        CN_ASSERT(json_is_object(d->checks[i]));
    canon = json_loads(d->json, 0, NULL);
    CN_ASSERT(json_is_object(canon));
    err[0] = '\0';
    rc = cn__svcdef_parse(canon, &again, err);
    if (rc == -ENOMEM) {
        cn__svcdef_free(&again);
        json_decref(canon);
        return;
    }
    CN_ASSERT(rc == 0);
    CN_ASSERT(strcmp(again.svc.name, d->svc.name) == 0);
    CN_ASSERT(strcmp(again.json, d->json) == 0);
    CN_ASSERT(again.n_checks == 0);
    cn__svcdef_free(&again);
    json_decref(canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn__svcdef d;
    char err[CN_ERRMSG_MAX];
    json_t *obj;
    int rc;

    if (size > CN_SVCDEF_BYTES_MAX)
        return 0;
    obj = json_loadb((const char *)data, size, 0, NULL);
    if (!obj)
        return 0;
    err[0] = '\0';
    rc = cn__svcdef_parse(obj, &d, err);
    if (rc == 0)
        check_accepted(&d);
    else
        CN_ASSERT(rc == -ENOMEM || err[0] != '\0');
    cn__svcdef_free(&d);
    json_decref(obj);
    return 0;
}
