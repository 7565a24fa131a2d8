/* graph_exec.h — runs a TFJS graph model (formats/tfjs.h) on the CPU ops in graph_ops.h.
 *
 * The idea: at load time resolve every node's inputs to node indices, refuse ops we do not
 * implement and cycles, and sort the graph once; at run time evaluate only the nodes the
 * requested outputs depend on, in that order, freeing each intermediate as soon as its last
 * consumer has run. An estimator above asks for named outputs and never sees the graph, so
 * another importer (ONNX for DWPose) can later sit beside this one behind the same calls.
 */
#ifndef OMA_MODELS_GRAPH_EXEC_H
#define OMA_MODELS_GRAPH_EXEC_H

#include <stddef.h>

#include "models/pose/graph_ops.h"

typedef struct oma_graph oma_graph;

/* Loads model.json (and its shards) and prepares it. 0 on success, -1 with err. */
int oma_graph_load(const char *model_json, oma_graph **out, char *err, size_t errlen);
void oma_graph_free(oma_graph *g);

/* Runs with x fed to the placeholder named input (its shape must match the placeholder's
 * where that is fixed) and fills results[k] with the value of node outputs[k] (caller frees
 * each with oma_gt_free). 0 on success, -1 with err. */
int oma_graph_run(oma_graph *g, const char *input, const oma_gt *x, int n_out,
                  const char *const *outputs, oma_gt *results, char *err, size_t errlen);

#endif
