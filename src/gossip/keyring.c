/* gossip/keyring.c - memberlist's keyring and AES-GCM packet sealing
 * (gossip-notes.md 2.8) on OpenSSL libcrypto. Impure (getrandom nonces).
 *
 * Blob: [version 1][nonce 12][ciphertext][tag 16]. Version 0 (protocol
 * 1 peers) padded the plaintext PKCS7 to 16 bytes; we open it but never
 * produce it. The primary key seals; every key is tried to open, which is
 * what makes `serf keys -install/-use/-remove` rotations work.
 */
#include <errno.h>
#include <openssl/evp.h>

#include "gossip_int.h"

#define NONCE_BYTES 12
#define TAG_BYTES 16

int cn__key_decode(const char *b64, uint8_t key[32], size_t *len)
{
    uint8_t tmp[48];
    size_t n = strlen(b64), out;
    if (n == 0 || n > 44 || cn_base64_decode(b64, n, tmp, &out) < 0)
        return -EINVAL;
    if (out != 16 && out != 24 && out != 32)
        return -EINVAL;
    memcpy(key, tmp, out);
    *len = out;
    return 0;
}

static int find(const struct cn__keyring *kr, const uint8_t *key, size_t len)
{
    for (size_t i = 0; i < kr->n; i++)
        if (kr->lens[i] == len && memcmp(kr->keys[i], key, len) == 0)
            return (int)i;
    return -1;
}

int cn__keyring_install(struct cn__keyring *kr, const char *b64)
{
    uint8_t key[32];
    size_t len;
    if (cn__key_decode(b64, key, &len) < 0)
        return -EINVAL;
    if (find(kr, key, len) >= 0)
        return 0;
    if (kr->n >= CN__KEYRING_MAX)
        return -ENOSPC;
    memcpy(kr->keys[kr->n], key, len);
    kr->lens[kr->n] = (uint8_t)len;
    kr->n++;
    return 0;
}

int cn__keyring_use(struct cn__keyring *kr, const char *b64)
{
    uint8_t key[32], tk[32], tl;
    size_t len;
    int i;
    if (cn__key_decode(b64, key, &len) < 0)
        return -EINVAL;
    if ((i = find(kr, key, len)) < 0)
        return -ENOENT;
    memcpy(tk, kr->keys[0], sizeof tk);
    tl = kr->lens[0];
    memcpy(kr->keys[0], kr->keys[i], sizeof tk);
    kr->lens[0] = kr->lens[i];
    memcpy(kr->keys[i], tk, sizeof tk);
    kr->lens[i] = tl;
    return 0;
}

int cn__keyring_remove(struct cn__keyring *kr, const char *b64)
{
    uint8_t key[32];
    size_t len;
    int i;
    if (cn__key_decode(b64, key, &len) < 0)
        return -EINVAL;
    if ((i = find(kr, key, len)) < 0)
        return -ENOENT;
    if (i == 0)
        return -EBUSY;  /* memberlist: "Removing the primary key is not allowed" */
    for (size_t j = (size_t)i; j + 1 < kr->n; j++) {
        memcpy(kr->keys[j], kr->keys[j + 1], 32);
        kr->lens[j] = kr->lens[j + 1];
    }
    kr->n--;
    return 0;
}

static const EVP_CIPHER *cipher(size_t len)
{
    return len == 16 ? EVP_aes_128_gcm() : len == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
}

int cn__keyring_seal(const struct cn__keyring *kr, const uint8_t *aad, size_t aad_len,
                     const uint8_t *pt, size_t n, struct cn_buf *out)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t *p;
    int len = 0, fin = 0, rc;
    CN_ASSERT(kr->n > 0);
    if (n > INT32_MAX - 64)
        return -EMSGSIZE;
    rc = cn_buf_reserve(out, 1 + NONCE_BYTES + n + TAG_BYTES);
    if (rc < 0)
        return rc;
    p = out->data + out->len;
    p[0] = 1;
    if ((rc = cn_rand_bytes(p + 1, NONCE_BYTES)) < 0)
        return rc;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return -ENOMEM;
    rc = -EIO;
    if (EVP_EncryptInit_ex(ctx, cipher(kr->lens[0]), NULL, kr->keys[0], p + 1) != 1)
        goto out;
    if (aad_len && EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aad_len) != 1)
        goto out;
    if (EVP_EncryptUpdate(ctx, p + 1 + NONCE_BYTES, &len, pt, (int)n) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, p + 1 + NONCE_BYTES + len, &fin) != 1)
        goto out;
    CN_ASSERT((size_t)(len + fin) == n);
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, p + 1 + NONCE_BYTES + n) != 1)
        goto out;
    out->len += 1 + NONCE_BYTES + n + TAG_BYTES;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static int try_open(const uint8_t *key, size_t klen, const uint8_t *aad, size_t aad_len,
                    const uint8_t *blob, size_t n, uint8_t *pt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t ct_len = n - 1 - NONCE_BYTES - TAG_BYTES;
    int len = 0, fin = 0, ok = 0;
    if (!ctx)
        return -ENOMEM;
    if (EVP_DecryptInit_ex(ctx, cipher(klen), NULL, key, blob + 1) == 1 &&
        (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1) &&
        EVP_DecryptUpdate(ctx, pt, &len, blob + 1 + NONCE_BYTES, (int)ct_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES,
                            (void *)(blob + n - TAG_BYTES)) == 1 &&
        EVP_DecryptFinal_ex(ctx, pt + len, &fin) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : CN_EDENIED;
}

int cn__keyring_open(const struct cn__keyring *kr, const uint8_t *aad, size_t aad_len,
                     const uint8_t *blob, size_t n, struct cn_buf *out)
{
    size_t ct_len;
    int rc;
    if (n < 1 + NONCE_BYTES + TAG_BYTES || blob[0] > 1 || n > INT32_MAX)
        return CN_EMALFORMED;
    ct_len = n - 1 - NONCE_BYTES - TAG_BYTES;
    rc = cn_buf_reserve(out, ct_len + 1);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < kr->n; i++) {
        uint8_t *pt = out->data + out->len;
        if (try_open(kr->keys[i], kr->lens[i], aad, aad_len, blob, n, pt) != 0)
            continue;
        if (blob[0] == 0) {  /* PKCS7 padding (protocol version 1) */
            uint8_t pad = ct_len ? pt[ct_len - 1] : 0;
            if (pad == 0 || pad > 16 || pad > ct_len)
                return CN_EMALFORMED;
            ct_len -= pad;
        }
        out->len += ct_len;
        return 0;
    }
    return CN_EDENIED;
}
