/* routes_meta.c — GET /api/health and GET /api/capabilities (no session needed).
 * Capabilities come from the job-kind registry: a kind is available when its own check says
 * so for this server's models folder and something runs it: this process's own workers, or
 * (with --workers 0) a live worker pool registered in the database that offers it. "samplers"
 * lists the generate samplers (scheduler.c's table, A1111's order) so the UI offers exactly
 * what the engine accepts; "pose_models" the pose.estimate kind's params.model choices, each
 * available or not here (dwpose only when OMA_MODELS/dwpose holds both ONNX files);
 * "precision" the generate kinds' params.precision: the default this process's workers use
 * (bf16 where the CPU runs it natively) and the choices it can run. */
#include "pipelines/generate/generate.h"
#include "pipelines/generate/scheduler.h"
#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_models.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"
#include "tensor/backend.h"

void oma_route_health(oma_req *r)
{
    oma_db *db = oma_req_db(r);
    if (!db) return;
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i}", "status", "ok", "version", "0.1.0", "db",
                          oma_db_driver(db), "storage", oma_storage_driver(r->srv->storage),
                          "workers", r->srv->n_workers);
    oma_reply_json(r, 200, o);
}

void oma_route_capabilities(oma_req *r)
{
    json_t *kinds = json_array();
    if (!kinds) return;
    oma_db *db = r->srv->n_workers > 0 ? NULL : oma_req_db(r);
    if (r->srv->n_workers <= 0 && !db) {
        json_decref(kinds);
        return;
    }
    int64_t now = oma_db_unix_now();
    const char *models = r->srv->models_dir[0] ? r->srv->models_dir : NULL;
    for (size_t i = 0; i < oma_job_kinds_count(); i++) {
        const oma_job_kind *k = oma_job_kind_at(i);
        int avail = k->available ? k->available(models) != 0 : 1;
        if (avail && db) avail = oma_workers_registry_offers(db, k->name, now) == 1;
        json_array_append_new(kinds, json_pack("{s:s,s:s,s:b}", "name", k->name, "title",
                                               k->title ? k->title : k->name, "available", avail));
    }
    json_t *samplers = json_array();
    for (int i = 0; samplers && i < oma_sampler_count(); i++)
        json_array_append_new(samplers, json_string(oma_sampler_name(oma_sampler_at(i))));
    json_t *pose_models = json_array();
    for (int i = 0; pose_models && i < oma_pose_model_count(); i++)
        json_array_append_new(pose_models, json_pack("{s:s,s:b}", "name", oma_pose_model_name(i), "available",
                                                     oma_pose_model_available(models, i)));
    json_t *precisions = json_array();
    if (precisions) json_array_append_new(precisions, json_string("fp32"));
    if (precisions && oma_precision_bf16_available()) json_array_append_new(precisions, json_string("bf16"));
    json_t *precision = precisions ? json_pack("{s:s,s:o}", "default", oma_generate_precision_default(), "choices",
                                               precisions) : NULL;
    if (!samplers || !pose_models || !precision) {
        json_decref(kinds);
        json_decref(samplers);
        json_decref(pose_models);
        json_decref(precision);
        return;
    }
    oma_reply_json(r, 200, json_pack("{s:o,s:o,s:o,s:o}", "kinds", kinds, "samplers", samplers, "pose_models",
                                     pose_models, "precision", precision));
}
