/* storage_driver.h — the private table behind storage.h: one struct of function pointers per
 * backend, chosen by URL scheme ("file:" or "s3:"). storage.c validates every key
 * before a backend sees it, and does content addressing once for all backends.
 */
#ifndef OMA_SERVER_STORAGE_DRIVER_H
#define OMA_SERVER_STORAGE_DRIVER_H

#include "server/store/storage.h"

typedef struct oma_storage_engine {
    const char *name;    /* "fs" */
    const char *scheme;  /* "file:" */
    int (*open)(oma_storage *s, const char *rest, char *err, size_t errlen);
    void (*close)(oma_storage *s);
    int (*put)(oma_storage *s, const char *key, const void *data, size_t len, char *err, size_t errlen);
    int (*get)(oma_storage *s, const char *key, size_t max_len, uint8_t **data, size_t *len, char *err,
               size_t errlen);
    int (*exists)(oma_storage *s, const char *key);
    int (*reader)(oma_storage *s, const char *key, oma_storage_reader **out, uint64_t *size, char *err,
                  size_t errlen);
    int (*del)(oma_storage *s, const char *key, char *err, size_t errlen);
    int (*list)(oma_storage *s, const char *prefix, int (*fn)(const char *key, size_t len, void *ud),
                void *ud, char *err, size_t errlen);
} oma_storage_engine;

/* A backend's reader starts with this header (storage.h's oma_storage_reader_*). */
typedef struct oma_storage_reader_ops {
    long (*read)(oma_storage_reader *rd, void *buf, size_t cap, char *err, size_t errlen);
    void (*cancel)(oma_storage_reader *rd);
    void (*close)(oma_storage_reader *rd);
} oma_storage_reader_ops;

struct oma_storage_reader {
    const oma_storage_reader_ops *ops;
    int remote;
};

struct oma_storage {
    const oma_storage_engine *drv;
    void *impl;
};

extern const oma_storage_engine oma_storage_engine_fs;
extern const oma_storage_engine oma_storage_engine_s3;

#endif
