/* files.h — small file-system helpers shared by the layers that write files (the server's
 * data folder and storage, the style store). */
#ifndef OMA_FORMATS_FILES_H
#define OMA_FORMATS_FILES_H

#include <stddef.h>

/* Creates the folder and any missing parents (mode 0755), like `mkdir -p`. 0, or -1 with err
 * filled when errlen > 0 ("cannot create X: why", or "path too long"). */
int oma_mkdir_p(const char *path, char *err, size_t errlen);

/* Reads a whole regular file of at most max_len bytes into *data (malloc'ed; the caller frees).
 * 0, or -1 with err ("PATH: why", "PATH: larger than N bytes"). */
int oma_read_file(const char *path, size_t max_len, unsigned char **data, size_t *len, char *err,
                  size_t errlen);
/* Writes data to path through a temporary name beside it and a rename (never half a file).
 * 0, or -1 with err. */
int oma_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
