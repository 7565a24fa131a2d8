/* style_profile_store.h — named style profiles on disk, for the command line.
 *
 * A profile named NAME lives at $OMA_DATA/styles/NAME.json (./data/styles without OMA_DATA),
 * the same data folder `oma serve` uses. Names are 1..64 of [A-Za-z0-9_.-], not starting with
 * a dot, so a name can never climb out of the folder. Loading accepts either a name or a path
 * to a profile JSON file (anything with a '/' or ending in ".json").
 */
#ifndef OMA_PIPELINES_STYLE_PROFILE_STORE_H
#define OMA_PIPELINES_STYLE_PROFILE_STORE_H

#include <stddef.h>

#include "pipelines/style/style_profile.h"

int oma_style_name_valid(const char *name);
/* Writes the profile JSON to path (pretty, with a newline). 0 or -1 with err. */
int oma_style_profile_write_file(const oma_style_profile *p, const char *path, char *err, size_t errlen);
/* Saves as a named profile, creating the folder; the path used goes to path_out. */
int oma_style_profile_save_named(const oma_style_profile *p, const char *name, char *path_out,
                                 size_t path_len, char *err, size_t errlen);
/* Loads by name or path; files over 1 MiB are refused. */
int oma_style_profile_load(const char *name_or_path, oma_style_profile *out, char *err, size_t errlen);

#endif
