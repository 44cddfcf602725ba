/* agent/api/fuzz_txn.c - libFuzzer target: /v1/txn bodies. Decoding must
 * answer 0 or a 4xx/500 status with a reason, never crash; what it
 * accepts must be a command the state machine applies without error. */
#include "agent/agent_int.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cn_state *st;
    static uint64_t index;
    struct cn_arena arena;
    struct cn_buf cmd, reply;
    char err[CN_JSON_ERR_BYTES];
    bool ro = false;
    int status;

    if (!st) {
        struct cn_state_config cfg = {0};
        CN_ASSERT(cn_state_new(&st, &cfg) == 0);
    }
    cn_arena_init(&arena, 4u << 20);
    cn_buf_init(&cmd, CN_RPC_ARGS_BYTES_MAX);
    cn_buf_init(&reply, 1u << 24);
    status = cn__api_txn_decode(data, size, &arena, &cmd, &ro, err);
    CN_ASSERT(status == 0 || status == 400 || status == 413 || status == 500);
    if (status == 0) {
        int rc = ro ? cn_state_txn_read(st, cmd.data, cmd.len, &reply)
                    : cn_state_apply(st, ++index, cmd.data, cmd.len, &reply);
        CN_ASSERT(rc == 0 || rc == CN_ETOOBIG || rc == CN_ELIMIT);
    } else {
        CN_ASSERT(err[0] != '\0');
    }
    cn_buf_close(&reply);
    cn_buf_close(&cmd);
    cn_arena_close(&arena);
    return 0;
}
