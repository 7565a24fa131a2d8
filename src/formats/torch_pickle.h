/* torch_pickle.h — a SAFE reader for torch.save archives (.pt, .bin): zip + pickle, no code run.
 *
 * torch.save writes a zip (entries stored, not compressed) holding PREFIX/data.pkl — a pickle
 * of the saved object — and PREFIX/data/<key>, the raw bytes of each tensor storage. A pickle
 * is a little stack program that may call any Python function it names; this reader is not a
 * Python: it knows the opcodes that build dicts, lists, tuples, strings and numbers, and it
 * accepts exactly six globals — torch._utils._rebuild_tensor_v2, torch.FloatStorage,
 * torch.HalfStorage, torch.BFloat16Storage, torch.LongStorage (integer buffers such as CLIP's
 * position_ids: checked, then dropped) and collections.OrderedDict — each interpreted here as
 * data. A BUILD on a dict (the _metadata attribute torch.save(state_dict) writes) is dropped. Any other global (os.system, builtins.eval, torch.nn.Parameter...) or opcode is
 * refused with an error naming it, before anything else happens. Everything is bounded: the
 * archive size, entry sizes and offsets (zip64 and compressed entries are refused), the pickle's
 * length, memo and stack sizes, string lengths, tensor ranks, and every tensor's strides must
 * stay inside its storage.
 *
 * The result is flattened into an oma_tensor_file: nested dicts with string keys give names
 * joined with '.' ({"string_to_param": {"*": T}} -> "string_to_param.*"); values that are not
 * tensors (ints, strings, None) are read and dropped.
 */
#ifndef OMA_FORMATS_TORCH_PICKLE_H
#define OMA_FORMATS_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/tensor_file.h"

/* Reads the archive at path into f. 0, or -1 with err (the caller adds the path). */
int oma_torch_zip_load(const char *path, size_t max_bytes, oma_tensor_file *f, char *err,
                       size_t errlen);
/* The same over bytes in memory. */
int oma_torch_zip_parse(const uint8_t *data, size_t len, oma_tensor_file *f, char *err,
                        size_t errlen);

/* The pickle machine alone (torch_pickle.c): storage(ctx, key, &bytes, &len) gives the raw
 * bytes of the storage named key (0, or -1 when absent). The tensors may hold at most
 * archive_len + 2^20 values in all (each view no larger than its storage; shared storages
 * referenced over and over cannot blow up memory). */
typedef int (*oma_torch_storage_fn)(void *ctx, const char *key, const uint8_t **bytes, size_t *len);
int oma_torch_unpickle(const uint8_t *pkl, size_t len, size_t archive_len, oma_torch_storage_fn storage, void *ctx,
                       oma_tensor_file *f, char *err, size_t errlen);

#endif
