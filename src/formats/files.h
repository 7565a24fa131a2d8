/* files.h — small file-system helpers shared by the layers that write files (the server's
 * data folder and storage, the style store). */
#ifndef OMA_FORMATS_FILES_H
#define OMA_FORMATS_FILES_H

#include <stddef.h>

/* Creates the folder and any missing parents (mode 0755), like `mkdir -p`. 0, or -1 with err
 * filled when errlen > 0 ("cannot create X: why", or "path too long"). */
int oma_mkdir_p(const char *path, char *err, size_t errlen);

#endif
