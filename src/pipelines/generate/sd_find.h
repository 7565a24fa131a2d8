/* sd_find.h — which Stable Diffusion 1.x model in the models folder (OMA_MODELS) a job uses.
 *
 * The folder itself may be a diffusers model (model_index.json), or it contains one: a
 * sub-folder with model_index.json or a .safetensors single file with SD's UNet in it (LoRAs
 * and other networks beside it are skipped). Without a wanted name the first by name is
 * taken. Shared by the generate.* and style.train kinds.
 */
#ifndef OMA_PIPELINES_SD_FIND_H
#define OMA_PIPELINES_SD_FIND_H

#include <stddef.h>

/* 1 when name can name an entry of the models folder (no '/', not hidden, < 256 bytes). */
int oma_sd_model_name_ok(const char *name);

/* Finds the model to use (want may be NULL = the first); 0 with path filled, or -1. */
int oma_sd_find_model(const char *models_dir, const char *want, char *path, size_t len);

/* Calls fn(name, path, arg) for every model the folder offers, by name: the folder itself when
 * it is a diffusers model (name: its last path component, and want must then be NULL to pick
 * it: is_root 1), else each sub-folder with model_index.json and each SD single file. A non-zero
 * return from fn stops the walk with that value. Returns 0, or -1 when the folder is unreadable. */
int oma_sd_model_each(const char *models_dir,
                      int (*fn)(const char *name, const char *path, int is_root, void *arg), void *arg);

#endif
