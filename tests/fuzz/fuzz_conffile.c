/* libFuzzer target: pulse.conf's KEY=value lines (conffile_parse). An
 * accepted file gives keys the caller knows, each once, with values that
 * hold no line end, NUL or control character but a tab, in line order; a
 * refused one says where, and gives nothing. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/conffile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any key but those starting with X, so that refusals are reached too. */
static int known(const char *key)
{
    return key[0] != 'X';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conffile f;
    buf_t err = {0};
    size_t i, j;

    if (conffile_parse((const char *)data, size, "f", known, &f, &err) == 0) {
        if (err.len != 0)
            __builtin_trap();
        for (i = 0; i < f.n; i++) {
            const char *k = f.v[i].key, *v = f.v[i].value;

            if (k[0] == '\0' || !known(k) || strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(k) ||
                f.v[i].line < 1 || (i > 0 && f.v[i].line <= f.v[i - 1].line) || strlen(v) > size ||
                conffile_get(&f, k) != &f.v[i])
                __builtin_trap();
            for (j = 0; v[j] != '\0'; j++) {
                if (((unsigned char)v[j] < 0x20 && v[j] != '\t') || v[j] == 0x7f)
                    __builtin_trap();
            }
        }
        conffile_free(&f);
    } else if (f.n != 0 || f.v != NULL || strncmp(buf_str(&err), "f:", 2) != 0) {
        __builtin_trap();
    }
    buf_free(&err);
    return 0;
}
