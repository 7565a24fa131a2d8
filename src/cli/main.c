/* main.c — `oma`: dispatches to a subcommand. Each subcommand lives in cmd_<name>.c and adds
 * one line to the table below; nothing else here knows what they do. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One extern line per subcommand, and the same name in the table. */
extern int oma_cmd_serve(int argc, char **argv);
extern int oma_cmd_worker(int argc, char **argv);
extern int oma_cmd_normalize(int argc, char **argv);
extern int oma_cmd_pose(int argc, char **argv);
extern int oma_cmd_generate(int argc, char **argv);
extern int oma_cmd_style(int argc, char **argv);
extern int oma_cmd_convert(int argc, char **argv);
extern int oma_cmd_train(int argc, char **argv);

static const oma_command commands[] = {
    {"serve", "run the HTTP server, the web UI and the workers", oma_cmd_serve},
    {"worker", "run jobs from a shared database and storage (scale-out), no HTTP", oma_cmd_worker},
    {"normalize", "rotate (EXIF), resize and crop an image for the pipelines", oma_cmd_normalize},
    {"pose", "estimate a whole-body pose (OpenPose JSON) or render a skeleton", oma_cmd_pose},
    {"generate", "draw with Stable Diffusion 1.x (txt2img, img2img) on the CPU", oma_cmd_generate},
    {"style", "learn a style profile (palette, tones, lines, screentone) from samples", oma_cmd_style},
    {"convert", "turn a photo into line + tone art in a learned style", oma_cmd_convert},
    {"train", "learn an artist's style as a LoRA + embedding (SD 1.x, on the CPU)", oma_cmd_train},
};

void oma_cli_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "oma: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int oma_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

int oma_cli_int(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: oma <command> [options]   (oma <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return OMA_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return OMA_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].main(argc - 1, argv + 1);
    oma_cli_error(argv[1], "unknown command (try oma --help)");
    return OMA_EXIT_USAGE;
}
