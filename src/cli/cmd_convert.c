/* cmd_convert.c — `oma convert PHOTO --style NAME -o out.png [...]`: line + tone ("LT")
 * conversion of a photo in an artist's style profile (pipelines/style/lineart.h), writing the
 * composite PNG and optionally its layers (lines/flats/tones RGBA PNGs) and a layered PSD. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "formats/image.h"
#include "formats/psd.h"
#include "pipelines/style/lineart.h"
#include "pipelines/style/style_profile_store.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma convert PHOTO [--style NAME|PROFILE.json] -o OUT.png [--layers DIR] [--psd OUT.psd]\n"
            "                   [--line-width W] [--line-threshold T] [--tone-levels N]\n"
            "                   [--tone dots|lines|none] [--tone-frequency F] [--tone-angle A]\n"
            "                   [--color|--no-color]\n\n"
            "Turns a photo into line + tone art in a learned style (oma style learn):\n"
            "  --style           a style name ($OMA_DATA/styles/NAME.json) or a profile path;\n"
            "                    without it a neutral grey profile is used\n"
            "  --line-width W    stroke width in pixels, 0.5..32 (default: the style's)\n"
            "  --line-threshold T  0..1, higher keeps only stronger edges (default 0.5)\n"
            "  --tone-levels N   2..8 tone levels (default: the style's)\n"
            "  --tone TYPE       screentone for the tones: dots, lines or none\n"
            "                    (default: dots if the style uses screentone, else none)\n"
            "  --tone-frequency F  screen frequency in cycles per pixel, 0.02..0.5 (1/period;\n"
            "                    default: the style's, else 0.125)\n"
            "  --tone-angle A    screen angle in degrees (default 45)\n"
            "  --color/--no-color  flat colours from the palette, or grey tones (default: colour\n"
            "                    when the style is saturated)\n"
            "  --layers DIR      also write DIR/lines.png, DIR/flats.png, DIR/tones.png (RGBA)\n"
            "  --psd OUT.psd     also write a layered Photoshop file (flats, tones, lines)\n");
}

static int num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int write_layers(const char *dir, const oma_convert_result *r, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    const char *names[3] = {"lines.png", "flats.png", "tones.png"};
    const oma_image *imgs[3] = {&r->lines, &r->flats, &r->tones};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        int k = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (k < 0 || (size_t)k >= sizeof path) { snprintf(err, errlen, "path too long"); return -1; }
        if (oma_image_save_png(path, imgs[i], err, errlen) != 0) return -1;
    }
    return 0;
}

static int write_psd(const char *path, const oma_convert_result *r, char *err, size_t errlen)
{
    oma_psd_layer layers[3] = {{"flats", &r->flats}, {"tones", &r->tones}, {"lines", &r->lines}};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (oma_psd_write(&r->composite, layers, 3, &buf, &len, err, errlen) != 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); free(buf); return -1; }
    int ok = fwrite(buf, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    free(buf);
    if (!ok) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return 0;
}

static int on_progress(void *ctx, double f, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "\rconverting: %3d%% %-10s", (int)(f * 100), msg);
    if (f >= 1.0) fputc('\n', stderr);
    return 0;
}

int oma_cmd_convert(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    oma_convert_opts o;
    oma_convert_opts_default(&o);
    const char *in = NULL, *out = NULL, *style = NULL, *layers = NULL, *psd = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--color") == 0) { o.color = 1; continue; }
        if (strcmp(a, "--no-color") == 0) { o.color = 0; continue; }
        if (a[0] != '-' || !a[1]) {
            if (in) { oma_cli_error("convert", "one photo at a time (got '%s' and '%s')", in, a); return OMA_EXIT_USAGE; }
            in = a;
            continue;
        }
        if (i + 1 >= argc) { oma_cli_error("convert", "%s needs a value", a); return OMA_EXIT_USAGE; }
        const char *v = argv[++i];
        double d;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out = v;
        else if (strcmp(a, "--style") == 0) style = v;
        else if (strcmp(a, "--layers") == 0) layers = v;
        else if (strcmp(a, "--psd") == 0) psd = v;
        else if (strcmp(a, "--tone") == 0) {
            o.tone_type = oma_tone_type_parse(v);
            if (o.tone_type < 0) { oma_cli_error("convert", "--tone: expected dots, lines or none, got '%s'", v); return OMA_EXIT_USAGE; }
        } else if (strcmp(a, "--line-width") == 0) {
            if (num(v, 0.5, 32, &d)) { oma_cli_error("convert", "--line-width: expected 0.5..32, got '%s'", v); return OMA_EXIT_USAGE; }
            o.line_width = (float)d;
        } else if (strcmp(a, "--line-threshold") == 0) {
            if (num(v, 0, 1, &d)) { oma_cli_error("convert", "--line-threshold: expected 0..1, got '%s'", v); return OMA_EXIT_USAGE; }
            o.line_threshold = (float)d;
        } else if (strcmp(a, "--tone-levels") == 0) {
            if (num(v, 2, OMA_STYLE_MAX_TONES, &d) || d != floor(d)) {
                oma_cli_error("convert", "--tone-levels: expected an integer 2..%d, got '%s'", OMA_STYLE_MAX_TONES, v);
                return OMA_EXIT_USAGE;
            }
            o.tone_levels = (int)d;
        } else if (strcmp(a, "--tone-frequency") == 0) {
            if (num(v, 0.02, 0.5, &d)) { oma_cli_error("convert", "--tone-frequency: expected 0.02..0.5 cycles per pixel, got '%s'", v); return OMA_EXIT_USAGE; }
            o.tone_frequency = (float)d;
        } else if (strcmp(a, "--tone-angle") == 0) {
            if (num(v, -360, 360, &d)) { oma_cli_error("convert", "--tone-angle: expected -360..360 degrees, got '%s'", v); return OMA_EXIT_USAGE; }
            o.tone_angle = (float)d;
        } else {
            oma_cli_error("convert", "unknown option %s (see oma convert --help)", a);
            return OMA_EXIT_USAGE;
        }
    }
    if (!in || !out) {
        oma_cli_error("convert", "give a PHOTO and -o OUT.png (see oma convert --help)");
        return OMA_EXIT_USAGE;
    }
    char err[512];
    oma_style_profile prof;
    if (style) {
        if (oma_style_profile_load(style, &prof, err, sizeof err) != 0) {
            oma_cli_error("convert", "--style: %s", err);
            return OMA_EXIT_FAIL;
        }
    } else {
        oma_style_profile_default(&prof);
    }
    oma_image photo = {0};
    if (oma_image_load(in, 0, NULL, &photo, err, sizeof err) != 0) {
        oma_cli_error(in, "%s", err);
        return OMA_EXIT_FAIL;
    }
    oma_convert_result r;
    int rc = oma_convert_lineart(&photo, &prof, &o, on_progress, NULL, &r, err, sizeof err);
    oma_image_free(&photo);
    if (rc != 0) { oma_cli_error("convert", "%s", err); return OMA_EXIT_FAIL; }
    int status = OMA_EXIT_OK;
    if (oma_image_save_png(out, &r.composite, err, sizeof err) != 0 ||
        (layers && write_layers(layers, &r, err, sizeof err) != 0) ||
        (psd && write_psd(psd, &r, err, sizeof err) != 0)) {
        oma_cli_error("convert", "%s", err);
        status = OMA_EXIT_FAIL;
    }
    oma_convert_result_free(&r);
    return status;
}
