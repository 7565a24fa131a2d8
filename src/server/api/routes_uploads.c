/* routes_uploads.c — POST /api/uploads (multipart "file"), GET /api/uploads/{id}[/file].
 *
 * An upload is kept only if it really is an image we can use: the format is sniffed from
 * the bytes (not trusted from the client's Content-Type), the header is probed and checked
 * against the size limits before any pixel memory is spent (a decompression bomb stops
 * here), then the whole image is decoded. The bytes go into content-addressed storage, so
 * the same file uploaded twice is stored once.
 */
#include <stdio.h>
#include <string.h>

#include "formats/image.h"
#include "server/auth.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"

int oma_route_store_upload(oma_req *r, const uint8_t *data, size_t len, char *id_out)
{
    oma_image_format fmt = oma_image_sniff(data, len);
    if (fmt == OMA_IMG_UNKNOWN) {
        oma_reply_error(r, 415, "unsupported_media_type", "only PNG, JPEG and WebP images are accepted");
        return -1;
    }
    char err[256];
    int w = 0, h = 0;
    oma_image_format pf;
    if (oma_image_probe(data, len, &pf, &w, &h, err, sizeof err) != 0) {
        oma_reply_error(r, 400, "image_invalid", "the image header is unreadable: %s", err);
        return -1;
    }
    oma_image_limits lim = oma_image_default_limits();
    if (w <= 0 || h <= 0 || w > lim.max_side || h > lim.max_side ||
        (int64_t)w * (int64_t)h > lim.max_pixels) {
        oma_reply_error(r, 413, "image_too_large",
                        "the image is %dx%d; the limit is %d px per side and %lld pixels", w, h,
                        lim.max_side, (long long)lim.max_pixels);
        return -1;
    }
    oma_image img = {0};
    if (oma_image_decode(data, len, 0, 0, &lim, &img, err, sizeof err) != 0) {
        oma_reply_error(r, 400, "image_invalid", "the image does not decode: %s", err);
        return -1;
    }
    oma_image_free(&img);

    char key[96], sha[65], now[32];
    if (oma_storage_put_blob(r->srv->storage, data, len, key, sha, err, sizeof err) != 0) {
        fprintf(stderr, "oma: storage: %s\n", err);
        oma_reply_error(r, 500, "internal", "could not store the upload");
        return -1;
    }
    oma_auth_new_id(id_out);
    oma_db_now(now, sizeof now);
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "INSERT INTO uploads (id, artist_id, sha256, storage_key, mime, width, "
                              "height, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st) != 0)
        return oma_route_dberr(r, "saving the upload");
    oma_stmt_bind_text(st, 1, id_out);
    oma_stmt_bind_text(st, 2, r->artist_id);
    oma_stmt_bind_text(st, 3, sha);
    oma_stmt_bind_text(st, 4, key);
    oma_stmt_bind_text(st, 5, oma_image_format_mime(fmt));
    oma_stmt_bind_int(st, 6, w);
    oma_stmt_bind_int(st, 7, h);
    oma_stmt_bind_int(st, 8, (int64_t)len);
    oma_stmt_bind_text(st, 9, now);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) return oma_route_dberr(r, "saving the upload");
    return 0;
}

void oma_route_upload_create(oma_req *r)
{
    if (r->file_parts == 0 || r->file_len == 0) {
        oma_reply_error(r, 400, "bad_request", "send the image in a multipart field named \"file\"");
        return;
    }
    char id[40];
    if (oma_route_store_upload(r, r->file, r->file_len, id) != 0) return;
    json_t *o = oma_route_upload_json(r->db, id, r->artist_id);
    if (!o) {
        oma_route_dberr(r, "reading the upload");
        return;
    }
    oma_reply_json(r, 201, o);
}

void oma_route_upload_get(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "upload");
    if (!id) return;
    json_t *o = oma_route_upload_json(r->db, id, r->artist_id);
    if (!o) {
        oma_reply_error(r, 404, "not_found", "no such upload");
        return;
    }
    oma_reply_json(r, 200, o);
}

void oma_route_upload_file(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "upload");
    if (!id) return;
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT storage_key, mime FROM uploads WHERE id = ? AND artist_id = ?",
                       &st) != 0) {
        oma_route_dberr(r, "reading the upload");
        return;
    }
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, r->artist_id);
    oma_route_send_stored(r, st, "upload");
}
