/* image_jpeg.c — JPEG decoding with libjpeg-turbo, from memory, with EXIF orientation.
 *
 * libjpeg's default error handler calls exit(); ours formats the message and longjmps back.
 * "Corrupt data" warnings (premature end, bad Huffman code) make libjpeg fill the rest with
 * grey and carry on; we treat them as errors, since a half-grey upload is not what the artist
 * sent. As with PNG, the setjmp function keeps its state in a caller-owned struct, and the
 * header size is checked against the limits before decompression starts; a progress monitor
 * refuses progressive files with an absurd number of scans (a CPU bomb).
 */
#include "formats/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr;

typedef struct jpeg_dec {
    struct jpeg_decompress_struct ci;
    jerr je;
    struct jpeg_progress_mgr prog;
    int created;
    const uint8_t *data;
    size_t len;
    const oma_image_limits *lim;
    int header_only, apply_exif, orientation;
    int w, h;
    oma_image img;
    uint8_t *row;   /* scratch row for CMYK */
    char msg[JMSG_LENGTH_MAX + 16];
} jpeg_dec;

static void j_error_exit(j_common_ptr ci)
{
    jerr *e = (jerr *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

static void j_emit(j_common_ptr ci, int level)
{
    if (level >= 0) return;   /* trace messages */
    switch (ci->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
        j_error_exit(ci);
        break;
    default:
        break;   /* benign warnings (extraneous bytes, ...) */
    }
}

static void j_output(j_common_ptr ci) { (void)ci; }

/* A progressive JPEG may hold thousands of tiny scans, each a pass over the whole image: a
 * small file that takes minutes. Real encoders write about 10; refuse more than 100. */
#define JPEG_MAX_SCANS 100

static void j_progress(j_common_ptr ci)
{
    if (!ci->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)ci;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jerr *e = (jerr *)ci->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans (refused)", JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

static int dec_run(jpeg_dec *s)
{
    struct jpeg_decompress_struct *ci = &s->ci;
    if (setjmp(s->je.jb)) {
        snprintf(s->msg, sizeof s->msg, "jpeg: %s", s->je.msg);
        return -1;
    }
    jpeg_create_decompress(ci);
    s->created = 1;
    s->prog.progress_monitor = j_progress;
    ci->progress = &s->prog;
    jpeg_mem_src(ci, s->data, (unsigned long)s->len);
    if (s->apply_exif) jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK) {
        snprintf(s->msg, sizeof s->msg, "jpeg: no image in the data");
        return -1;
    }
    if (ci->image_width > 0x7fffffffu || ci->image_height > 0x7fffffffu) {
        snprintf(s->msg, sizeof s->msg, "jpeg: invalid size");
        return -1;
    }
    s->w = (int)ci->image_width;
    s->h = (int)ci->image_height;
    if (s->header_only) return 0;
    if (oma_image_check_limits("jpeg", s->w, s->h, s->lim, s->msg, sizeof s->msg) != 0) return -1;
    if (s->apply_exif) {
        for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
            if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
                s->orientation = oma_image_exif_orientation(m->data, m->data_length);
                break;
            }
        }
    }
    int c, cmyk = 0;
    if (ci->jpeg_color_space == JCS_GRAYSCALE) {
        ci->out_color_space = JCS_GRAYSCALE;
        c = 1;
    } else if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK) {
        ci->out_color_space = JCS_CMYK;
        c = 3;
        cmyk = 1;
    } else {
        ci->out_color_space = JCS_RGB;
        c = 3;
    }
    jpeg_start_decompress(ci);
    if ((int)ci->output_width != s->w || (int)ci->output_height != s->h ||
        ci->output_components != (cmyk ? 4 : c)) {
        snprintf(s->msg, sizeof s->msg, "jpeg: unexpected output layout");
        return -1;
    }
    if (oma_image_alloc(&s->img, s->w, s->h, c) != 0 ||
        (cmyk && !(s->row = malloc((size_t)s->w * 4)))) {
        snprintf(s->msg, sizeof s->msg, "jpeg: out of memory");
        return -1;
    }
    int inverted = ci->saw_Adobe_marker;   /* Adobe writes CMYK inverted */
    while (ci->output_scanline < ci->output_height) {
        size_t y = ci->output_scanline;
        uint8_t *dst = s->img.px + y * (size_t)s->w * (size_t)c;
        JSAMPROW rp = cmyk ? s->row : dst;
        if (jpeg_read_scanlines(ci, &rp, 1) != 1) {
            snprintf(s->msg, sizeof s->msg, "jpeg: truncated");
            return -1;
        }
        if (cmyk) {
            for (int x = 0; x < s->w; x++) {
                unsigned k = s->row[4 * x + 3];
                for (int ch = 0; ch < 3; ch++) {
                    unsigned v = s->row[4 * x + ch];
                    dst[3 * x + ch] = inverted ? (uint8_t)((v * k + 127) / 255)
                                               : (uint8_t)(((255 - v) * (255 - k) + 127) / 255);
                }
            }
        }
    }
    jpeg_finish_decompress(ci);
    return 0;
}

static int jpeg_run(const uint8_t *data, size_t len, int header_only, int apply_exif,
                    const oma_image_limits *lim, oma_image *out, int *w, int *h, char *err, size_t errlen)
{
    if (!data || len == 0) return oma_fail(err, errlen, "jpeg: empty input");
    jpeg_dec *s = calloc(1, sizeof *s);
    if (!s) return oma_fail(err, errlen, "jpeg: out of memory");
    s->ci.err = jpeg_std_error(&s->je.pub);
    s->je.pub.error_exit = j_error_exit;
    s->je.pub.emit_message = j_emit;
    s->je.pub.output_message = j_output;
    s->data = data;
    s->len = len;
    s->lim = lim;
    s->header_only = header_only;
    s->apply_exif = apply_exif;
    s->orientation = 1;
    int rc = dec_run(s);
    if (rc != 0) oma_fail(err, errlen, "%s", s->msg[0] ? s->msg : "jpeg: corrupt data");
    if (s->created) jpeg_destroy_decompress(&s->ci);
    if (rc == 0) {
        if (w) *w = s->w;
        if (h) *h = s->h;
        if (out && !header_only) {
            if (s->orientation != 1) {
                if (oma_image_orient(&s->img, s->orientation, out) != 0)
                    rc = oma_fail(err, errlen, "jpeg: out of memory");
            } else {
                *out = s->img;
                s->img.px = NULL;
            }
        }
    }
    oma_image_free(&s->img);
    free(s->row);
    free(s);
    return rc;
}

int oma_image_jpeg_probe(const uint8_t *data, size_t len, int *w, int *h, char *err, size_t errlen)
{
    return jpeg_run(data, len, 1, 0, NULL, NULL, w, h, err, errlen);
}

int oma_image_jpeg_decode(const uint8_t *data, size_t len, int apply_exif,
                          const oma_image_limits *lim, oma_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return jpeg_run(data, len, 0, apply_exif, lim, out, NULL, NULL, err, errlen);
}
