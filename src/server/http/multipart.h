/* multipart.h — a streaming, bounded multipart/form-data parser (RFC 7578).
 *
 * The body is fed in chunks of any size (as the network delivers it); the parser calls back
 * when a part begins (with its name, file name and content type), for each run of the part's
 * data, and when it ends. Nothing is buffered except one part's header block (at most
 * OMA_MP_MAX_HEADER bytes), so memory stays flat however large the body; the caller bounds
 * the total. Any deviation from the grammar (missing boundary, header block too long, too
 * many parts, body ending before the closing delimiter) is an error with a message.
 */
#ifndef OMA_SERVER_MULTIPART_H
#define OMA_SERVER_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define OMA_MP_MAX_HEADER 4096
#define OMA_MP_MAX_PARTS 16
#define OMA_MP_MAX_BOUNDARY 70

typedef struct oma_multipart oma_multipart;

typedef struct oma_multipart_cb {
    /* name/filename/content_type are "" when absent. Return non-zero to abort. */
    int (*part_begin)(void *ud, const char *name, const char *filename, const char *content_type);
    int (*part_data)(void *ud, const uint8_t *data, size_t len);
    int (*part_end)(void *ud);
    void *ud;
} oma_multipart_cb;

/* Reads the boundary from a Content-Type header value ("multipart/form-data; boundary=...").
 * 0 on success, -1 if the type is not multipart/form-data or the boundary is bad. */
int oma_multipart_boundary(const char *content_type, char *out, size_t outlen);

oma_multipart *oma_multipart_new(const char *boundary, const oma_multipart_cb *cb);
void oma_multipart_free(oma_multipart *mp);
/* Feeds bytes. 0 ok, -1 on a parse error or when a callback aborted (see errmsg). */
int oma_multipart_feed(oma_multipart *mp, const uint8_t *data, size_t len);
/* Call at the end of the body: 0 if the closing delimiter was seen, else -1. */
int oma_multipart_finish(oma_multipart *mp);
const char *oma_multipart_errmsg(const oma_multipart *mp);

#endif
